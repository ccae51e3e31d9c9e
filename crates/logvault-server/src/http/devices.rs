//! Devices: registration (the key is returned once), listing, and one device by serial.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use logvault_core::authz::Permission;
use logvault_store::Device;
use serde::{Deserialize, Serialize};

use crate::auth::{OrgAccess, Principal};
use crate::devices::RegisterError;
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::http::orgs::org_event;
use crate::http::routes::{Access, Routes};
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .add(Method::GET, "/api/v1/orgs/{org_id}/devices", Access::Org(Permission::ReadOrganisation), list)
        .add(Method::POST, "/api/v1/orgs/{org_id}/devices", Access::Org(Permission::ManageDevices), register)
        .add(Method::GET, "/api/v1/devices/{serial}", Access::Authenticated, by_serial)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDeviceRequest {
    serial: String,
    name: Option<String>,
    site_id: Option<i64>,
}

#[derive(Debug, Serialize)]
struct Registered {
    #[serde(flatten)]
    device: Device,
    /// The device key (32 hex digits) for the firmware or simulator. Shown this once; only a sealed copy is kept.
    key_hex: String,
}

async fn register(
    State(state): State<AppState>,
    principal: Principal,
    access: OrgAccess,
    ApiJson(body): ApiJson<NewDeviceRequest>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    let registered = crate::devices::register(
        state.store.as_ref(),
        &state.data_key_wrap,
        &access.scope,
        &body.serial,
        body.name.as_deref(),
        body.site_id,
    )
    .await;
    let (device, key) = match registered {
        Ok(done) => done,
        Err(err @ (RegisterError::Serial | RegisterError::Name | RegisterError::Site)) => {
            return Err(ApiError::Unprocessable(err.to_string()));
        }
        Err(RegisterError::Taken) => return Err(ApiError::Conflict { entity: "device" }),
        Err(err) => return Err(ApiError::Internal(err.into())),
    };
    let target = Some(format!("device:{}", device.serial));
    org_event(&state, &principal, &access, "device.create", target, Some("key:generation-0".to_owned())).await?;
    let key_hex = hex::encode(key.as_slice());
    Ok((StatusCode::CREATED, Json(Registered { device, key_hex })))
}

async fn list(State(state): State<AppState>, access: OrgAccess) -> Result<Json<Vec<Device>>, ApiError> {
    Ok(Json(state.store.devices(&access.scope).await?))
}

/// A device by serial, for members of its organisation (and, if their membership is scoped, of its site). Everyone
/// else gets the 404 of a serial that is not registered.
async fn by_serial(
    State(state): State<AppState>,
    principal: Principal,
    Path(serial): Path<String>,
) -> Result<Json<Device>, ApiError> {
    let org_id = state.store.device_org(&serial).await?.ok_or(ApiError::NotFound)?;
    let access = principal.org_access(&state, org_id, Permission::ReadOrganisation).await?;
    Ok(Json(state.store.device(&access.scope, &serial).await?))
}
