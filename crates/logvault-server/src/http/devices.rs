//! Devices: registration (the key is returned once), listing, and one device by serial.

use axum::Json;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use logvault_core::audit::AuditAction;
use logvault_core::authz::Permission;
use logvault_core::custody;
use logvault_protocol::Serial;
use logvault_store::Device;
use serde::{Deserialize, Serialize};

use crate::app::audit::org_event;
use crate::app::devices::RegisterError;
use crate::auth::{OrgAccess, Principal, device_for};
use crate::devices::DeviceModel;
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::http::path::ApiPath;
use crate::http::routes::{Access, Doc, Routes};
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .add(
            Method::GET,
            "/api/v1/orgs/{org_id}/devices",
            Access::Org(Permission::ReadOrganisation),
            Doc::new("List the devices").response_list::<DeviceView>(200, "the devices the caller may see"),
            list,
        )
        .add(
            Method::POST,
            "/api/v1/orgs/{org_id}/devices",
            Access::Org(Permission::ManageDevices),
            Doc::new("Register a device")
                .description("Its key is generated here and returned this once; only a sealed copy is kept.")
                .request_json::<NewDeviceRequest>()
                .response_json::<Registered>(201, "the device and its key")
                .error(409, "the serial is registered already")
                .error(422, "a bad serial, name, site or logger model"),
            register,
        )
        .add(
            Method::GET,
            "/api/v1/devices/{serial}",
            Access::Authenticated,
            Doc::new("Show a device by serial")
                .description("For members of its organisation (and site) with `read_organisation`; others get 404.")
                .response_json::<DeviceView>(200, "the device"),
            by_serial,
        )
        .add(
            Method::POST,
            "/api/v1/orgs/{org_id}/devices/{serial}/keys",
            Access::Org(Permission::ManageDevices),
            Doc::new("Rotate a device's key")
                .description("From a session, after the password again; the new key is returned this once.")
                .request_json::<RotateRequest>()
                .response_json::<KeyView>(201, "the new key generation")
                .error(401, "the password is wrong")
                .error(403, "an API token (`session-required`)")
                .error(422, "no reason of 10 to 500 characters, or all 256 generations used"),
            rotate_key,
        )
        .add(
            Method::POST,
            "/api/v1/orgs/{org_id}/devices/{serial}/key-export",
            Access::Org(Permission::EmergencyKeyExport),
            Doc::new("Export a device's keys in clear (emergency)")
                .description("From a session, after the password again, with a reason that goes into the audit log.")
                .request_json::<ExportRequest>()
                .response_json::<Exported>(200, "every key generation of the device")
                .error(401, "the password is wrong")
                .error(403, "an API token (`session-required`)")
                .error(422, "no reason of 10 to 500 characters"),
            export_keys,
        )
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewDeviceRequest {
    serial: String,
    name: Option<String>,
    site_id: Option<i64>,
    model: Option<DeviceModel>,
}

/// A device as the API shows it, with its logger model parsed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct DeviceView {
    #[serde(flatten)]
    device: Device,
    model: Option<DeviceModel>,
}

impl From<Device> for DeviceView {
    fn from(device: Device) -> DeviceView {
        let model = device.model.as_deref().and_then(|json| serde_json::from_str(json).ok());
        DeviceView { device, model }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Registered {
    #[serde(flatten)]
    device: DeviceView,
    /// The device key (32 hex digits) for the firmware or simulator. Shown this once; only a sealed copy is kept.
    key_hex: String,
}

async fn register(
    State(state): State<AppState>,
    principal: Principal,
    access: OrgAccess,
    ApiJson(body): ApiJson<NewDeviceRequest>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    let registered = crate::app::devices::register(
        state.store.as_ref(),
        &state.data_key_wrap,
        &access.scope,
        &body.serial,
        body.name.as_deref(),
        body.site_id,
        body.model.as_ref(),
    )
    .await;
    let (device, key) = match registered {
        Ok(done) => done,
        Err(err @ (RegisterError::Serial | RegisterError::Name | RegisterError::Site | RegisterError::Model(_))) => {
            return Err(ApiError::Unprocessable(err.to_string()));
        }
        Err(RegisterError::Taken) => return Err(ApiError::Conflict { entity: "device" }),
        Err(err) => return Err(ApiError::Internal(err.into())),
    };
    let target = Some(format!("device:{}", device.serial));
    org_event(&state, &principal, &access, AuditAction::DeviceCreate, target, Some("key:generation-0".to_owned()))
        .await?;
    let key_hex = hex::encode(key.as_slice());
    Ok((StatusCode::CREATED, Json(Registered { device: device.into(), key_hex })))
}

async fn list(State(state): State<AppState>, access: OrgAccess) -> Result<Json<Vec<DeviceView>>, ApiError> {
    Ok(Json(state.store.devices(&access.scope).await?.into_iter().map(DeviceView::from).collect()))
}

/// A device by serial, for members of its organisation (and, if their membership is scoped, of its site). Everyone
/// else gets the 404 of a serial that is not registered.
async fn by_serial(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(serial): ApiPath<Serial>,
) -> Result<Json<DeviceView>, ApiError> {
    let (_, device) = device_for(&state, &principal, &serial, Permission::ReadOrganisation).await?;
    Ok(Json(device.into()))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct KeyView {
    generation: u8,
    key_hex: String,
}

/// A key rotation: the password again (a new key can seal blocks, as an exported one can) and a reason. No `Debug`:
/// it holds a password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RotateRequest {
    password: String,
    reason: String,
}

/// A new key generation for the device (a suspected leak, or a routine change). The new key is shown this once; from
/// now on only it authenticates new blocks, and the old ones stay, sealed, to verify the blocks they sealed. The
/// device is given its new key out of band.
async fn rotate_key(
    State(state): State<AppState>,
    principal: Principal,
    access: OrgAccess,
    ApiPath((_, serial)): ApiPath<(i64, Serial)>,
    ApiJson(body): ApiJson<RotateRequest>,
) -> Result<(StatusCode, Json<KeyView>), ApiError> {
    if principal.session_id().is_none() {
        return Err(ApiError::SessionRequired);
    }
    let reason = checked_reason(&body.reason)?;
    crate::auth::reauthenticate(&state, &principal, body.password).await?;
    let device = state.store.device(&access.scope, serial.as_str()).await?;
    let keys = state.store.device_keys(&access.scope, device.id).await?;
    let next = keys.iter().map(|key| key.generation).max().map_or(Some(0), |g| g.checked_add(1));
    let Some(generation) = next else {
        return Err(ApiError::Unprocessable("the device has used all 256 key generations".to_owned()));
    };
    let data_key = crate::app::devices::existing_data_key(state.store.as_ref(), &state.data_key_wrap, &access.scope)
        .await
        .map_err(|err| ApiError::Internal(err.into()))?;
    let key = custody::new_device_key().map_err(|err| ApiError::Internal(err.into()))?;
    let sealed = custody::seal_device_key(&data_key, device.org_id, &device.serial, generation, &key)
        .map_err(|err| ApiError::Internal(err.into()))?;
    state.store.add_device_key(&access.scope, device.id, generation, &sealed, crate::auth::now_us()).await?;
    let detail = Some(format!("key:generation-{generation};reason:{reason}"));
    org_event(&state, &principal, &access, AuditAction::DeviceKeyRotate, Some(format!("device:{serial}")), detail)
        .await?;
    Ok((StatusCode::CREATED, Json(KeyView { generation, key_hex: hex::encode(key.as_slice()) })))
}

/// Emergency key export: the owner gives their password again and a reason. No `Debug`: it holds a password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ExportRequest {
    password: String,
    reason: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Exported {
    serial: String,
    keys: Vec<KeyView>,
}

/// Every key generation of the device in clear, for disaster recovery (re-flashing a logger, verifying its blocks
/// elsewhere). Owner only, from a session, after the password again, with a reason that goes into the audit log.
async fn export_keys(
    State(state): State<AppState>,
    principal: Principal,
    access: OrgAccess,
    ApiPath((_, serial)): ApiPath<(i64, Serial)>,
    ApiJson(body): ApiJson<ExportRequest>,
) -> Result<Json<Exported>, ApiError> {
    if principal.session_id().is_none() {
        return Err(ApiError::SessionRequired);
    }
    let reason = checked_reason(&body.reason)?;
    crate::auth::reauthenticate(&state, &principal, body.password).await?;
    let device = state.store.device(&access.scope, serial.as_str()).await?;
    let data_key = crate::app::devices::existing_data_key(state.store.as_ref(), &state.data_key_wrap, &access.scope)
        .await
        .map_err(|err| ApiError::Internal(err.into()))?;
    let mut keys = Vec::new();
    for logvault_store::SealedKey { generation, key_sealed } in
        state.store.device_keys(&access.scope, device.id).await?
    {
        let key = custody::open_device_key(&data_key, device.org_id, &device.serial, generation, &key_sealed)
            .map_err(|err| ApiError::Internal(err.into()))?;
        keys.push(KeyView { generation, key_hex: hex::encode(key.as_slice()) });
    }
    let detail = Some(format!("generations:{};reason:{reason}", keys.len()));
    org_event(&state, &principal, &access, AuditAction::DeviceKeyExport, Some(format!("device:{serial}")), detail)
        .await?;
    Ok(Json(Exported { serial: device.serial, keys }))
}

/// A reason for the audit log: 10 to 500 printable characters.
fn checked_reason(raw: &str) -> Result<String, ApiError> {
    let reason = raw.trim();
    if reason.chars().count() < 10 || reason.chars().count() > 500 || reason.chars().any(char::is_control) {
        return Err(ApiError::Unprocessable("give a reason of 10 to 500 printable characters".to_owned()));
    }
    Ok(reason.to_owned())
}
