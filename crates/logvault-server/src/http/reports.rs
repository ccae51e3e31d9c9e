//! What quality staff do with the data: statistics of a period (min, max, mean, MKT, time outside the limits,
//! excursions) and the device settings they depend on (alarm limits, ΔH).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use logvault_core::audit::AuditAction;
use logvault_core::authz::Permission;
use logvault_core::stats::Statistics;
use logvault_export::{Excursion, ExportChannel};
use logvault_protocol::Serial;
use serde::{Deserialize, Serialize};

use crate::app::audit::org_event;
use crate::app::reports::{self, Period};
use crate::auth::Principal;
use crate::auth::device_for;
use crate::devices::DeviceSettings;
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::http::path::ApiPath;
use crate::http::routes::{Access, Doc, Routes};
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .add(
            Method::GET,
            "/api/v1/devices/{serial}/statistics",
            Access::Authenticated,
            Doc::new("Statistics of a period for a device")
                .description(
                    "Per channel: count, min, max, time-weighted mean, MKT, time outside the limits; and the \
                     excursions. For members of the device's organisation (and site) who may read measurements.",
                )
                .query::<PeriodParams>()
                .response_json::<StatisticsView>(200, "the statistics of the period")
                .error(422, "no or a bad period (both ends, `from` before `to`, at most ten years) or channel"),
            statistics,
        )
        .add(
            Method::GET,
            "/api/v1/devices/{serial}/settings",
            Access::Authenticated,
            Doc::new("Show a device's settings (alarm limits per channel, ΔH for MKT)")
                .response_json::<DeviceSettings>(200, "the device settings"),
            settings,
        )
        .add(
            Method::PUT,
            "/api/v1/devices/{serial}/settings",
            Access::Authenticated,
            Doc::new("Change a device's settings (audited)")
                .request_json::<DeviceSettings>()
                .response_empty(204, "the settings are replaced")
                .error(422, "a lower limit not below the upper, an unknown channel, or a ΔH outside 10–500 kJ/mol"),
            set_settings,
        )
}

/// `from` and `to` (RFC 3339 or Unix seconds), and optionally one channel.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PeriodParams {
    from: Option<String>,
    to: Option<String>,
    channel: Option<i32>,
}

impl PeriodParams {
    /// The period asked for: both ends required, `from` before `to`, at most [`reports::MAX_PERIOD_S`].
    fn period(&self) -> Result<Period, ApiError> {
        Period::parse_required(self.from.as_deref(), self.to.as_deref())
            .map_err(|reason| ApiError::Unprocessable(reason.to_owned()))
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ChannelStatistics {
    #[serde(flatten)]
    channel: ExportChannel,
    /// `null` when the channel has no samples in the period.
    statistics: Option<Statistics>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct StatisticsView {
    device: String,
    from: i64,
    to: i64,
    mkt_delta_h_kj_per_mol: f64,
    channels: Vec<ChannelStatistics>,
    excursions: Vec<Excursion>,
}

/// Statistics of each channel over the period: count, min, max, time-weighted mean, MKT (temperature), seconds
/// above and below the device's limits, and the excursions.
async fn statistics(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(serial): ApiPath<Serial>,
    Query(params): Query<PeriodParams>,
) -> Result<Json<StatisticsView>, ApiError> {
    let (access, device) = device_for(&state, &principal, &serial, Permission::ReadMeasurements).await?;
    let period = params.period()?;
    let reports::PeriodStatistics { channels, summary } =
        reports::period_statistics(state.store.as_ref(), &access.scope, &device, period, params.channel)
            .await?
            .ok_or_else(|| ApiError::Unprocessable("no such channel".to_owned()))?;
    Ok(Json(StatisticsView {
        device: device.serial,
        from: period.from_s,
        to: period.to_s,
        mkt_delta_h_kj_per_mol: summary.mkt_delta_h,
        channels: channels
            .into_iter()
            .zip(summary.statistics)
            .map(|(channel, statistics)| ChannelStatistics { channel, statistics })
            .collect(),
        excursions: summary.excursions,
    }))
}

async fn settings(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(serial): ApiPath<Serial>,
) -> Result<Json<DeviceSettings>, ApiError> {
    let (_, device) = device_for(&state, &principal, &serial, Permission::ReadOrganisation).await?;
    Ok(Json(DeviceSettings::of(&device)))
}

/// Replaces the device's settings (limits, ΔH). Audited with the new settings: they change what reports say.
async fn set_settings(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(serial): ApiPath<Serial>,
    ApiJson(body): ApiJson<DeviceSettings>,
) -> Result<StatusCode, ApiError> {
    let (access, device) = device_for(&state, &principal, &serial, Permission::ManageDevices).await?;
    let n_channels = crate::devices::channel_quantities(&device).len();
    body.validate(n_channels).map_err(ApiError::Unprocessable)?;
    let json = serde_json::to_string(&body).map_err(|err| ApiError::Internal(err.into()))?;
    state.store.set_device_settings(&access.scope, device.id, &json).await?;
    org_event(
        &state,
        &principal,
        &access,
        AuditAction::DeviceSettingsChanged,
        Some(format!("device:{}", device.serial)),
        Some(json),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
