//! The organisation's devices: the dashboard (`/orgs/{org_id}`, devices by site with their last values), a
//! device's page (chart, statistics, values, exports, integrity) and registering a device (its key shown once).

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use logvault_core::authz::Permission;
use logvault_export::ExcursionKind;
use logvault_protocol::Serial;
use logvault_store::{BucketQuery, Device, MeasurementQuery, OrgScope};
use serde::Deserialize;

use super::{Nav, html, when_s};
use crate::app::devices::{self, RegisterError};
use crate::app::reports::{self, Period};
use crate::app::verify;
use crate::auth::{OrgAccess, Principal, now_us};
use crate::devices::{DeviceSettings, channel_quantities, unit_of};
use crate::error::ApiError;
use crate::http::path::ApiPath;
use crate::http::routes::{Access, Doc, Routes};
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .add(
            Method::GET,
            "/orgs/{org_id}",
            Access::Org(Permission::ReadOrganisation),
            Doc::new("The dashboard"),
            dashboard,
        )
        .add(
            Method::GET,
            "/orgs/{org_id}/devices/new",
            Access::Org(Permission::ManageDevices),
            Doc::new("The page to register a device"),
            register_page,
        )
        .add(
            Method::POST,
            "/orgs/{org_id}/devices/new",
            Access::Org(Permission::ManageDevices),
            Doc::new("Register a device"),
            register_post,
        )
        .add(
            Method::GET,
            "/devices/{serial}",
            Access::Session,
            Doc::new("A device's page, by serial alone (where the QR sync page sends a member)"),
            device_by_serial,
        )
        .add(
            Method::GET,
            "/orgs/{org_id}/devices/{serial}",
            Access::Org(Permission::ReadMeasurements),
            Doc::new("A device's page"),
            device_page,
        )
}

/// A value as a person reads it: one decimal and the unit.
fn shown(value: f64, unit: &str) -> String {
    format!("{value:.1} {unit}").trim_end().to_owned()
}

/// One channel's last value on the dashboard.
#[derive(Debug)]
struct LastValue {
    text: String,
}

#[derive(Debug)]
struct DeviceRow {
    serial: String,
    name: String,
    values: Vec<LastValue>,
    last_seen: Option<(String, String)>,
    out_of_limits: bool,
}

#[derive(Debug)]
struct SiteGroup {
    site: String,
    devices: Vec<DeviceRow>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    nav: Option<Nav>,
    org_id: i64,
    can_register: bool,
    groups: Vec<SiteGroup>,
}

/// The last sample of each channel: found through the rollups (the last non-empty daily bucket of the past 400
/// days), then read raw from that bucket only, so the dashboard never scans a device's history.
async fn last_values(
    state: &AppState,
    scope: &OrgScope,
    device: &Device,
    now_s: i64,
) -> Result<Vec<(usize, i64, f64)>, ApiError> {
    let mut last = Vec::new();
    for (index, _) in channel_quantities(device).iter().enumerate() {
        let channel = i32::try_from(index).unwrap_or(i32::MAX);
        let query = BucketQuery { channel, from_s: now_s - 400 * 86_400, to_s: now_s + 86_400, n_buckets: 400 };
        let Some(bucket) = state.store.measurement_buckets(scope, device.id, query).await?.pop() else { continue };
        let mut after = None;
        let mut newest = None;
        loop {
            let query = MeasurementQuery { channel, from_s: bucket.start_s, to_s: bucket.end_s, after, limit: 10_000 };
            let page = state.store.measurements(scope, device.id, query).await?;
            let Some(row) = page.last() else { break };
            newest = Some((row.t_s, f64::from(row.value) / 1_000.0));
            after = Some((row.t_s, row.ordinal));
            if page.len() < 10_000 {
                break;
            }
        }
        if let Some((t_s, value)) = newest {
            last.push((index, t_s, value));
        }
    }
    Ok(last)
}

async fn dashboard(
    State(state): State<AppState>,
    principal: Principal,
    access: OrgAccess,
) -> Result<Response, ApiError> {
    let org_id = access.scope.org_id();
    let devices = state.store.devices(&access.scope).await?;
    let sites: BTreeMap<i64, String> =
        state.store.sites(&access.scope).await?.into_iter().map(|site| (site.id, site.name)).collect();
    let now_s = now_us() / 1_000_000;
    let mut by_site: BTreeMap<(bool, String), Vec<DeviceRow>> = BTreeMap::new();
    for device in devices {
        let quantities = channel_quantities(&device);
        let settings = DeviceSettings::of(&device);
        let last = last_values(&state, &access.scope, &device, now_s).await?;
        let mut out_of_limits = false;
        let values = last
            .iter()
            .map(|&(index, _, value)| {
                let (lower, upper) = settings.limits_of(i32::try_from(index).unwrap_or(i32::MAX));
                out_of_limits |= lower.is_some_and(|l| value < l) || upper.is_some_and(|u| value > u);
                LastValue { text: shown(value, unit_of(quantities.get(index).map_or("", String::as_str))) }
            })
            .collect();
        let last_seen = last.iter().map(|&(_, t_s, _)| t_s).max().map(when_s);
        let site = device.site_id.and_then(|id| sites.get(&id).cloned());
        let key = (site.is_none(), site.unwrap_or_else(|| "Without a site".to_owned()));
        by_site.entry(key).or_default().push(DeviceRow {
            serial: device.serial,
            name: device.name,
            values,
            last_seen,
            out_of_limits,
        });
    }
    let groups = by_site.into_iter().map(|((_, site), devices)| SiteGroup { site, devices }).collect();
    html(&DashboardPage {
        nav: Some(Nav::load(&state, &principal, Some(org_id), "devices").await?),
        org_id,
        can_register: access.role.allows(Permission::ManageDevices),
        groups,
    })
}

/// `/devices/{serial}`: the device's page in its organisation, for a member who may read its measurements; anyone
/// else gets the 404 of an unknown serial.
async fn device_by_serial(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(serial): ApiPath<Serial>,
) -> Result<Response, ApiError> {
    let (access, device) = crate::auth::device_for(&state, &principal, &serial, Permission::ReadMeasurements).await?;
    Ok(super::see_other(&format!("/orgs/{}/devices/{}", access.scope.org_id(), device.serial)))
}

/// The period presets of the device page.
const PRESETS: [(&str, &str); 4] = [("24h", "24 hours"), ("7d", "7 days"), ("30d", "30 days"), ("1y", "1 year")];

fn preset_seconds(key: &str) -> Option<i64> {
    match key {
        "24h" => Some(86_400),
        "7d" => Some(7 * 86_400),
        "30d" => Some(30 * 86_400),
        "1y" => Some(365 * 86_400),
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
struct DeviceQuery {
    range: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// The values table's cursor: `t_s.ordinal` of the last row shown.
    after: Option<String>,
}

/// A time from the page's form (`datetime-local`, taken as UTC), an RFC 3339 time or Unix seconds.
fn input_time(raw: &str) -> String {
    let raw = raw.trim();
    match raw.len() {
        16 if raw.as_bytes().get(10) == Some(&b'T') => format!("{raw}:00Z"),
        19 if raw.as_bytes().get(10) == Some(&b'T') => format!("{raw}Z"),
        _ => raw.to_owned(),
    }
}

/// The `datetime-local` value of a Unix time.
fn input_value(seconds: i64) -> String {
    when_s(seconds).1.get(..16).unwrap_or_default().to_owned()
}

#[derive(Debug)]
struct StatisticsRow {
    channel: String,
    count: String,
    min: String,
    max: String,
    mean: String,
    mkt: String,
    limits: String,
    outside: String,
}

#[derive(Debug)]
struct ValueRow {
    time: (String, String),
    cells: Vec<String>,
}

#[derive(Template)]
#[template(path = "device.html")]
struct DevicePage {
    nav: Option<Nav>,
    org_id: i64,
    serial: String,
    name: String,
    presets: [(&'static str, &'static str); 4],
    range: String,
    from_s: i64,
    to_s: i64,
    from: (String, String),
    to: (String, String),
    from_input: String,
    to_input: String,
    channels_json: String,
    statistics: Vec<StatisticsRow>,
    excursions: Vec<String>,
    can_export: bool,
    chain_ok: bool,
    chain_status: String,
    value_headings: Vec<String>,
    values: Vec<ValueRow>,
    next_page: Option<String>,
    page_size: usize,
}

/// A row's place in time order: `(t_s, ordinal)`.
type Cursor = (i64, i32);

/// Rows of the values table per page.
const PAGE_SIZE: usize = 50;

fn duration(seconds: f64) -> String {
    let seconds = seconds.max(0.0);
    if seconds < 3_600.0 { format!("{:.0} min", seconds / 60.0) } else { format!("{:.1} h", seconds / 3_600.0) }
}

async fn device_page(
    State(state): State<AppState>,
    principal: Principal,
    access: OrgAccess,
    ApiPath((_, serial)): ApiPath<(i64, Serial)>,
    Query(query): Query<DeviceQuery>,
) -> Result<Response, ApiError> {
    let org_id = access.scope.org_id();
    let device = state.store.device(&access.scope, serial.as_str()).await?;
    let now_s = now_us() / 1_000_000;
    let (range, period) = match (query.from.as_deref(), query.to.as_deref()) {
        (Some(from), Some(to)) if !from.is_empty() && !to.is_empty() => {
            let period = Period::parse(&input_time(from), &input_time(to))
                .map_err(|reason| ApiError::Unprocessable(reason.to_owned()))?;
            ("custom".to_owned(), period)
        }
        _ => match query.range.filter(|r| preset_seconds(r).is_some()) {
            Some(range) => {
                let span = preset_seconds(&range).unwrap_or(7 * 86_400);
                (range, Period { from_s: now_s - span, to_s: now_s + 1 })
            }
            // Without a choice: the seven days up to the newest sample (the data just synced, however old).
            None => {
                let newest = last_values(&state, &access.scope, &device, now_s).await?.iter().map(|v| v.1).max();
                let end = newest.map_or(now_s, |t| t.min(now_s)) + 1;
                ("latest".to_owned(), Period { from_s: end - 7 * 86_400, to_s: end })
            }
        },
    };
    let quantities = channel_quantities(&device);
    let settings = DeviceSettings::of(&device);
    let channels = reports::export_channels(&device, &settings, None).unwrap_or_default();
    let channels_json = serde_json::to_string(
        &channels
            .iter()
            .map(|c| {
                serde_json::json!({ "index": c.index, "name": c.name, "unit": c.unit, "lower": c.lower, "upper": c.upper })
            })
            .collect::<Vec<_>>(),
    )
    .map_err(|err| ApiError::Internal(err.into()))?;

    let stats = reports::period_statistics(state.store.as_ref(), &access.scope, &device, period, None).await?;
    let (statistics, excursions) = match stats {
        Some(stats) => {
            let rows = stats
                .channels
                .iter()
                .zip(&stats.summary.statistics)
                .map(|(channel, statistics)| {
                    let unit = channel.unit.as_str();
                    let limits = match (channel.lower, channel.upper) {
                        (None, None) => "none".to_owned(),
                        (lower, upper) => format!(
                            "{} to {}",
                            lower.map_or("—".to_owned(), |l| shown(l, unit)),
                            upper.map_or("—".to_owned(), |u| shown(u, unit))
                        ),
                    };
                    match statistics {
                        Some(s) => StatisticsRow {
                            channel: channel.name.replace('_', " "),
                            count: s.count.to_string(),
                            min: shown(s.min, unit),
                            max: shown(s.max, unit),
                            mean: shown(s.mean, unit),
                            mkt: s.mkt.map_or("—".to_owned(), |m| shown(m, unit)),
                            limits,
                            outside: match (s.seconds_above, s.seconds_below) {
                                (None, None) => "—".to_owned(),
                                (above, below) => duration(above.unwrap_or(0.0) + below.unwrap_or(0.0)),
                            },
                        },
                        None => StatisticsRow {
                            channel: channel.name.replace('_', " "),
                            count: "0".to_owned(),
                            min: "—".to_owned(),
                            max: "—".to_owned(),
                            mean: "—".to_owned(),
                            mkt: "—".to_owned(),
                            limits,
                            outside: "—".to_owned(),
                        },
                    }
                })
                .collect();
            let excursions = stats
                .summary
                .excursions
                .iter()
                .map(|e| {
                    let channel = stats.channels.iter().find(|c| c.index == e.channel);
                    let unit = channel.map_or("", |c| c.unit.as_str());
                    let side = match e.kind {
                        ExcursionKind::Above => "above the upper limit",
                        ExcursionKind::Below => "below the lower limit",
                    };
                    format!(
                        "{} {side} from {} to {} ({}), peak {}",
                        channel.map_or(String::new(), |c| c.name.replace('_', " ")),
                        when_s(e.start_s).0,
                        when_s(e.end_s).0,
                        duration(e.duration_s as f64),
                        shown(e.peak, unit)
                    )
                })
                .collect();
            (rows, excursions)
        }
        None => (Vec::new(), Vec::new()),
    };

    let report =
        verify::verify_device(state.store.as_ref(), &state.data_key_wrap, &device).await.map_err(ApiError::Internal)?;
    let (chain_ok, chain_status) = match &report.finding {
        None => (
            true,
            format!(
                "Verified: {} blocks, every hash link and device MAC checks out and every stored value is in its block.",
                report.blocks
            ),
        ),
        Some(finding) => (false, format!("Verification FAILED: {finding}")),
    };

    // The values table: every channel side by side, a page at a time.
    let after = query.after.as_deref().and_then(|raw| {
        let (t_s, ordinal) = raw.split_once('.')?;
        Some((t_s.parse::<i64>().ok()?, ordinal.parse::<i32>().ok()?))
    });
    let mut rows: BTreeMap<Cursor, Vec<Option<f64>>> = BTreeMap::new();
    for (index, _) in quantities.iter().enumerate() {
        let channel = i32::try_from(index).unwrap_or(i32::MAX);
        let limit = i64::try_from(PAGE_SIZE + 1).unwrap_or(51);
        let query = MeasurementQuery { channel, from_s: period.from_s, to_s: period.to_s, after, limit };
        for m in state.store.measurements(&access.scope, device.id, query).await? {
            rows.entry((m.t_s, m.ordinal)).or_insert_with(|| vec![None; quantities.len()])[index] =
                Some(f64::from(m.value) / 1_000.0);
        }
    }
    let more = rows.len() > PAGE_SIZE;
    let shown_rows: Vec<(Cursor, Vec<Option<f64>>)> = rows.into_iter().take(PAGE_SIZE).collect();
    let next_page =
        more.then(|| shown_rows.last().map(|((t_s, ordinal), _)| (*t_s, *ordinal))).flatten().map(|(t_s, ordinal)| {
            format!(
                "/orgs/{org_id}/devices/{}?from={}&to={}&after={t_s}.{ordinal}",
                device.serial, period.from_s, period.to_s
            )
        });
    let values = shown_rows
        .into_iter()
        .map(|((t_s, _), cells)| ValueRow {
            time: when_s(t_s),
            cells: cells
                .iter()
                .enumerate()
                .map(|(index, value)| {
                    value.map_or("—".to_owned(), |v| {
                        shown(v, unit_of(quantities.get(index).map_or("", String::as_str)))
                    })
                })
                .collect(),
        })
        .collect();

    let nav = Nav::load(&state, &principal, Some(org_id), "devices").await?;
    html(&DevicePage {
        nav: Some(nav),
        org_id,
        serial: device.serial.clone(),
        name: device.name.clone(),
        presets: PRESETS,
        range,
        from_s: period.from_s,
        to_s: period.to_s,
        from: when_s(period.from_s),
        to: when_s(period.to_s),
        from_input: input_value(period.from_s),
        to_input: input_value(period.to_s),
        channels_json,
        statistics,
        excursions,
        can_export: access.role.allows(Permission::ExportMeasurements),
        chain_ok,
        chain_status,
        value_headings: quantities.iter().map(|q| q.replace('_', " ")).collect(),
        values,
        next_page,
        page_size: PAGE_SIZE,
    })
}

#[derive(Template)]
#[template(path = "device_new.html")]
struct RegisterPage {
    nav: Option<Nav>,
    org_id: i64,
    csrf: String,
    sites: Vec<(i64, String)>,
    serial: String,
    name: String,
    site: Option<i64>,
    error: Option<String>,
    /// The new device's key, shown once.
    key: Option<String>,
}

impl RegisterPage {
    fn is_site(&self, id: &i64) -> bool {
        self.site == Some(*id)
    }

    async fn of(state: &AppState, principal: &Principal, access: &OrgAccess) -> Result<RegisterPage, ApiError> {
        let org_id = access.scope.org_id();
        Ok(RegisterPage {
            nav: Some(Nav::load(state, principal, Some(org_id), "devices").await?),
            org_id,
            csrf: principal.csrf_token(state).unwrap_or_default(),
            sites: state.store.sites(&access.scope).await?.into_iter().map(|s| (s.id, s.name)).collect(),
            serial: String::new(),
            name: String::new(),
            site: None,
            error: None,
            key: None,
        })
    }
}

async fn register_page(
    State(state): State<AppState>,
    principal: Principal,
    access: OrgAccess,
) -> Result<Response, ApiError> {
    html(&RegisterPage::of(&state, &principal, &access).await?)
}

#[derive(Debug, Deserialize)]
struct RegisterForm {
    #[serde(default)]
    serial: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    site: String,
}

async fn register_post(
    State(state): State<AppState>,
    principal: Principal,
    access: OrgAccess,
    Form(form): Form<RegisterForm>,
) -> Result<Response, ApiError> {
    let mut page = RegisterPage::of(&state, &principal, &access).await?;
    page.serial = form.serial.trim().to_owned();
    page.name = form.name.clone();
    page.site = form.site.parse().ok();
    let name = Some(form.name.as_str()).filter(|n| !n.trim().is_empty());
    let registered = devices::register(
        state.store.as_ref(),
        &state.data_key_wrap,
        &access.scope,
        &page.serial,
        name,
        page.site,
        None,
    )
    .await;
    match registered {
        Ok((device, key)) => {
            crate::app::audit::org_event(
                &state,
                &principal,
                &access,
                logvault_core::audit::AuditAction::DeviceCreate,
                Some(format!("device:{}", device.serial)),
                Some("key:generation-0".to_owned()),
            )
            .await?;
            page.serial = device.serial;
            page.key = Some(hex::encode(key.as_slice()));
            html(&page)
        }
        Err(err) => {
            page.error = Some(match err {
                RegisterError::Serial => {
                    "That is not a valid serial number: use letters, digits and dashes (at most 64).".to_owned()
                }
                RegisterError::Taken => "A device with that serial number is already registered.".to_owned(),
                RegisterError::Name => "The name is too long (at most 100 characters).".to_owned(),
                RegisterError::Site => "That site does not exist.".to_owned(),
                other => return Err(ApiError::Internal(other.into())),
            });
            html(&page)
        }
    }
}
