//! Exports of a device's measurements — `GET /api/v1/devices/{serial}/export?format=csv|xlsx|pdf&from&to&channel` —
//! each signed with the server's Ed25519 key, and that key's public half at `GET /api/v1/signing-key`.
//!
//! The export itself is made by [`crate::app::export`] (shared with `logvault export`): a CSV streamed, an XLSX or PDF
//! built in memory. Every export is an `export.created` audit entry: who, which device, the period, the format.

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use logvault_core::audit::AuditAction;
use logvault_core::authz::Permission;
use logvault_export::Format;
use logvault_protocol::Serial;
use serde::{Deserialize, Serialize};

use crate::app::audit::org_event;
use crate::app::export::{CsvStream, ExportError, ExportRequest, Exporter};
use crate::app::reports::Period;
use crate::auth::Principal;
use crate::auth::device_for;
use crate::error::ApiError;
use crate::http::openapi::{Doc, binary_schema};
use crate::http::path::ApiPath;
use crate::http::routes::{Access, Routes};
use crate::state::AppState;

impl From<ExportError> for ApiError {
    fn from(err: ExportError) -> ApiError {
        match err {
            ExportError::NoSuchChannel(_) | ExportError::TooManyRows(_) | ExportError::TimeOutOfRange => {
                ApiError::Unprocessable(err.to_string())
            }
            ExportError::Store(err) => err.into(),
            ExportError::Internal(err) => ApiError::Internal(err),
        }
    }
}

pub fn routes() -> Routes {
    Routes::new()
        .add(
            Method::GET,
            "/api/v1/devices/{serial}/export",
            Access::Authenticated,
            Doc::new("Export a period of a device's measurements as a signed CSV, XLSX or PDF (audited)")
                .description(
                    "`format=csv|xlsx|pdf`, `from`, `to` (RFC 3339 or Unix seconds), optionally `channel`. The file \
                     carries an Ed25519-signed manifest (content and rows SHA-256, chain heads); check it with \
                     `logvault verify-export FILE --public-key KEY`. CSV is streamed. For members who may export.",
                )
                .query::<ExportParams>()
                .response_as(200, "text/csv", "the export (CSV, XLSX or PDF by `format`)", binary_schema)
                .error(400, "an unknown format")
                .error(422, "no or a bad period or channel, or too many rows for one XLSX or PDF"),
            export,
        )
        .add(
            Method::GET,
            "/api/v1/signing-key",
            Access::Public,
            Doc::new("The server's public Ed25519 export-signing key").response_json::<SigningKeyView>(
                200,
                "the key (base64url), its fingerprint and every key the server has published",
            ),
            signing_key,
        )
}

/// `format`, the period (`from`, `to`: RFC 3339 or Unix seconds, both required) and optionally one channel.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ExportParams {
    /// `csv`, `xlsx` or `pdf`.
    #[param(inline)]
    format: Format,
    from: Option<String>,
    to: Option<String>,
    channel: Option<i32>,
}

async fn export(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(serial): ApiPath<Serial>,
    Query(params): Query<ExportParams>,
) -> Result<Response, ApiError> {
    let (access, device) = device_for(&state, &principal, &serial, Permission::ExportMeasurements).await?;
    let period = Period::parse_required(params.from.as_deref(), params.to.as_deref())
        .map_err(|reason| ApiError::Unprocessable(reason.to_owned()))?;
    let exporter = Exporter {
        store: Arc::clone(&state.store),
        signing_keys: Arc::clone(&state.signing_keys),
        data_key_wrap: Arc::clone(&state.data_key_wrap),
    };
    let request = ExportRequest {
        scope: access.scope,
        device,
        period,
        channel: params.channel,
        format: params.format,
        generated_by: format!("{} ({})", principal.user.name, principal.actor()),
    };
    let prepared = exporter.prepare(request).await?;
    let target = Some(format!("device:{}", prepared.request.device.serial));
    org_event(&state, &principal, &access, AuditAction::ExportCreated, target, Some(prepared.audit_detail())).await?;
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", prepared.filename()))
        .map_err(|err| ApiError::Internal(err.into()))?;
    let body = match params.format {
        Format::Csv => stream_csv(exporter.csv(prepared)),
        Format::Xlsx | Format::Pdf => Body::from(exporter.report(prepared).await?),
    };
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(params.format.content_type())),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// The CSV as a body. A failure mid-way ends the body without a manifest, so the truncated file cannot verify.
fn stream_csv(stream: CsvStream) -> Body {
    Body::from_stream(futures_util::stream::unfold(stream, |mut stream| async move {
        match stream.next_chunk().await {
            Ok(Some(bytes)) => Some((Ok::<Bytes, std::io::Error>(Bytes::from(bytes)), stream)),
            Ok(None) => None,
            Err(err) => {
                tracing::error!(error = %err, "the CSV export stopped before its end");
                stream.abandon();
                Some((Err(std::io::Error::other("export failed")), stream))
            }
        }
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SigningKeyView {
    algorithm: &'static str,
    /// The key that signs exports now: base64url, 32 bytes.
    public_key: String,
    fingerprint: String,
    /// Every key this server has signed with, oldest first (today the first signs).
    published: Vec<String>,
}

/// The server's public signing key, for `logvault verify-export --public-key`.
async fn signing_key(State(state): State<AppState>) -> Json<SigningKeyView> {
    let current = state.signing_keys.signing.public_key();
    Json(SigningKeyView {
        algorithm: "Ed25519",
        public_key: current.to_base64(),
        fingerprint: current.fingerprint(),
        published: state.signing_keys.published.iter().map(|key| key.to_base64()).collect(),
    })
}
