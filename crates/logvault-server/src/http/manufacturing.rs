//! The manufacturing flow: a manufacturer's token uploads the loggers it built — serial, key and claim code — and an
//! organisation claims one by serial and claim code (printed on the logger or its box). Until claimed, a logger's
//! key is sealed under a master-derived manufacturing key and its claim code kept as a keyed hash; claiming re-seals
//! the key under the organisation's data key and forgets the upload, in one transaction.

use axum::Json;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use logvault_core::audit::{AuditAction, INSTANCE_CHAIN, NewEntry, Outcome};
use logvault_core::authz::Permission;
use logvault_core::custody;
use logvault_protocol::{DeviceKey, Serial};
use logvault_store::{Device, NewDevice, StoreError, UnclaimedDevice};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::app::audit::org_event;
use crate::auth::{self, Manufacturer, OrgAccess, Principal, now_us};
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::http::routes::{Access, Doc, Routes};
use crate::state::AppState;

/// Most loggers in one upload.
pub const MAX_UPLOAD: usize = 1_000;
/// Claim codes are long enough that guessing one is hopeless.
pub const MIN_CLAIM_CODE_LEN: usize = 12;

pub fn routes() -> Routes {
    Routes::new()
        .add(
            Method::POST,
            "/api/v1/manufacturing/devices",
            Access::Manufacturer,
            Doc::new("Upload manufactured loggers")
                .request_json::<Upload>()
                .response_json::<Uploaded>(201, "how many loggers were stored")
                .error(409, "a serial is uploaded or registered already")
                .error(422, "1 to 1000 loggers, each with a valid serial, key and claim code, no serial twice"),
            upload,
        )
        .add(
            Method::POST,
            "/api/v1/orgs/{org_id}/devices/claim",
            Access::Org(Permission::ManageDevices),
            Doc::new("Claim a manufactured logger by serial and claim code")
                .request_json::<ClaimRequest>()
                .response_json::<Device>(201, "the device, now the organisation's")
                .error(422, "no unclaimed logger has this serial and claim code, or a bad name or site"),
            claim,
        )
}

/// One uploaded logger. No `Debug`: it holds a key and a claim code.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct UploadedDevice {
    serial: String,
    key_hex: String,
    claim_code: String,
}

/// No `Debug`: it holds keys.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Upload {
    devices: Vec<UploadedDevice>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Uploaded {
    uploaded: usize,
}

fn valid_claim_code(code: &str) -> bool {
    (MIN_CLAIM_CODE_LEN..=64).contains(&code.chars().count()) && code.chars().all(|c| c.is_ascii_graphic())
}

async fn upload(
    State(state): State<AppState>,
    manufacturer: Manufacturer,
    ApiJson(body): ApiJson<Upload>,
) -> Result<(StatusCode, Json<Uploaded>), ApiError> {
    if body.devices.is_empty() || body.devices.len() > MAX_UPLOAD {
        return Err(ApiError::Unprocessable(format!("an upload holds 1 to {MAX_UPLOAD} loggers")));
    }
    let mut unclaimed = Vec::with_capacity(body.devices.len());
    for (index, device) in body.devices.iter().enumerate() {
        let invalid = |what: &str| ApiError::Unprocessable(format!("logger {index}: {what}"));
        let serial = Serial::parse(&device.serial).map_err(|_| invalid("a serial is 1 to 32 of A-Z a-z 0-9 -"))?;
        let key = DeviceKey::from_hex(&device.key_hex).map_err(|_| invalid("a key is 32 hexadecimal digits"))?;
        if !valid_claim_code(&device.claim_code) {
            return Err(invalid("a claim code is 12 to 64 printable ASCII characters"));
        }
        let key_sealed = custody::seal_unclaimed_key(&state.manufacturing_key, serial.as_str(), key.expose_secret())
            .map_err(|err| ApiError::Internal(err.into()))?;
        let claim_code_hash = custody::claim_code_hash(&state.manufacturing_key, serial.as_str(), &device.claim_code);
        unclaimed.push(UnclaimedDevice { serial: serial.as_str().to_owned(), key_sealed, claim_code_hash });
    }
    let mut serials: Vec<&str> = unclaimed.iter().map(|d| d.serial.as_str()).collect();
    serials.sort_unstable();
    if serials.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(ApiError::Unprocessable("a serial appears twice in the upload".to_owned()));
    }
    state.store.upload_devices(manufacturer.token_id, &unclaimed, now_us()).await?;
    auth::record(
        &state,
        NewEntry {
            chain_id: INSTANCE_CHAIN,
            occurred_at_us: now_us(),
            actor: format!("manufacturer-token:{}", manufacturer.token_id),
            action: AuditAction::ManufacturingUpload.into(),
            target: None,
            outcome: Outcome::Success,
            request_id: manufacturer.request_id,
            detail: Some(format!("devices:{}", unclaimed.len())),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(Uploaded { uploaded: unclaimed.len() })))
}

/// No `Debug`: it holds the claim code.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ClaimRequest {
    serial: String,
    claim_code: String,
    name: Option<String>,
    site_id: Option<i64>,
}

async fn claim(
    State(state): State<AppState>,
    principal: Principal,
    access: OrgAccess,
    ApiJson(body): ApiJson<ClaimRequest>,
) -> Result<(StatusCode, Json<Device>), ApiError> {
    let refused = || ApiError::Unprocessable("no unclaimed logger has this serial and claim code".to_owned());
    let serial = Serial::parse(&body.serial).map_err(|_| refused())?;
    let presented = custody::claim_code_hash(&state.manufacturing_key, serial.as_str(), &body.claim_code);
    let unclaimed = state.store.unclaimed_device(serial.as_str()).await?;
    let Some(unclaimed) = unclaimed.filter(|u| bool::from(u.claim_code_hash.ct_eq(&presented))) else {
        org_event(&state, &principal, &access, AuditAction::DeviceClaimRefused, Some(format!("device:{serial}")), None)
            .await?;
        return Err(refused());
    };
    let key = custody::open_unclaimed_key(&state.manufacturing_key, serial.as_str(), &unclaimed.key_sealed)
        .map_err(|err| ApiError::Internal(err.into()))?;
    let data_key = crate::app::devices::data_key(state.store.as_ref(), &state.data_key_wrap, &access.scope)
        .await
        .map_err(|err| ApiError::Internal(err.into()))?;
    let key_sealed = custody::seal_device_key(&data_key, access.scope.org_id(), serial.as_str(), 0, &key)
        .map_err(|err| ApiError::Internal(err.into()))?;
    let name = body.name.as_deref().map(str::trim).filter(|n| !n.is_empty()).unwrap_or(serial.as_str()).to_owned();
    if name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::Unprocessable("a device name is at most 100 printable characters".to_owned()));
    }
    let new = NewDevice {
        serial: serial.as_str().to_owned(),
        name,
        site_id: body.site_id,
        model: None,
        key_sealed,
        now_us: now_us(),
    };
    let device = match state.store.claim_device(&access.scope, &presented, new).await {
        Ok(device) => device,
        Err(StoreError::NotFound { entity: "site" }) => {
            return Err(ApiError::Unprocessable("no such site in this organisation".to_owned()));
        }
        Err(StoreError::NotFound { .. }) => return Err(refused()),
        Err(err) => return Err(err.into()),
    };
    org_event(&state, &principal, &access, AuditAction::DeviceClaim, Some(format!("device:{serial}")), None).await?;
    Ok((StatusCode::CREATED, Json(device)))
}
