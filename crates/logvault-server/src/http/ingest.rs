//! Device ingest: `POST /api/v1/ingest` takes one sealed block (raw bytes as `application/octet-stream`, or the
//! base64url text or whole QR link as `text/plain`) or a gateway's JSON batch `{"blocks": [...]}`.
//!
//! No user credentials: the device MAC is the authentication. This module frames the bytes, throttles the client
//! address and renders the answer; each block is verified, validated, kept and (if refused) audited by
//! `app::ingest::Ingest`. Unknown serial, bad MAC and undecodable input give one and the same 422. Each rejection
//! costs the client address one unit of its failure allowance, so a flood of forged blocks ends in 429. A post that
//! a browser makes from a page of another site is refused first (403 `cross-site-ingest`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use logvault_core::authz::Permission;
use logvault_core::blockchain::Source;
use logvault_protocol::Serial;
use logvault_store::MeasurementQuery;
use serde::{Deserialize, Serialize};

use crate::app::ingest::{Client, Ingest};
use crate::auth::{self, Principal, now_us};
use crate::error::ApiError;
use crate::http::middleware::RequestId;
use crate::http::openapi::{binary_schema, one_of, schema_of, text_schema};
use crate::http::path::ApiPath;
use crate::http::routes::{Access, Doc, Routes};
use crate::state::AppState;

/// Most blocks in one gateway batch.
pub const MAX_BATCH: usize = 100;

pub fn routes() -> Routes {
    Routes::new()
        .add(
            Method::POST,
            "/api/v1/ingest",
            Access::Public,
            Doc::new("Upload sealed blocks from a logger or a gateway")
                .description(
                    "One block as raw bytes or as base64url text (or the whole QR link), or a gateway's JSON batch. \
                     The device MAC is the authentication; refused blocks cost the address its failure allowance, \
                     blocks that verify never do.",
                )
                .request_as("application/octet-stream", binary_schema)
                .request_as("text/plain", text_schema)
                .request_as("application/json", schema_of::<Batch>)
                .response_as(
                    200,
                    "application/json",
                    "a single block's result, or a batch's results in order",
                    one_of::<Accepted, BatchResults>,
                )
                .error(403, "a browser posted from a page of another site (`cross-site-ingest`)")
                .error(422, "the block was not accepted (one answer for an unknown device, a bad MAC or bad content)")
                .error(429, "a refused block from an address whose failure allowance is spent (`ingest-rate-limited`)"),
            ingest,
        )
        .add(
            Method::GET,
            "/api/v1/devices/{serial}/measurements",
            Access::Authenticated,
            Doc::new("Read a page of a device channel's measurements, or time buckets of them (`buckets=N`)")
                .description("For members of its organisation (and site) with `read_measurements`; others get 404.")
                .query::<MeasurementParams>()
                .response_json::<MeasurementPage>(200, "the page, with the cursor of the next one")
                .error(422, "a bad limit, cursor, time, or a channel the device does not have"),
            measurements,
        )
}

/// What one accepted block did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = BlockAccepted)]
struct Accepted {
    device: String,
    accepted: u64,
    duplicates: u64,
}

/// A gateway's batch: each block as base64url text (or a whole link).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Batch {
    blocks: Vec<String>,
}

/// The answer to a batch: one result per block, in order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct BatchResults {
    results: Vec<BatchResult>,
}

/// One result of a batch.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
enum BatchResult {
    Accepted(Accepted),
    Rejected { rejected: &'static str },
}

/// The answer for blocks of a batch not looked at because the address's allowance is spent.
const THROTTLED: &str = "refused, and no longer audited: too many refused blocks from this address; retry later";

/// The one answer to every refused block.
const REJECTED: &str = "the block was not accepted (unknown device, failed authentication, or invalid content)";

async fn ingest(
    State(state): State<AppState>,
    request_id: Option<axum::Extension<RequestId>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // A page of another site may post a text/plain block without any CORS preflight: refused before it can cost
    // the address its allowance or fill the audit trail. The `/l` page posts from our own origin; gateways and
    // scripts send neither `Origin` nor `Sec-Fetch-Site`.
    if crate::http::pages::forms::is_cross_site(&headers, &state.public_url) {
        return Err(ApiError::CrossSiteIngest);
    }
    let request_id = request_id.map(|id| id.0.0);
    let now = now_us();
    let client = auth::client_addr(peer.ip(), &headers, &state.trusted_proxies);
    // Ingest failures have an allowance of their own, apart from sign-in failures.
    let client_key = auth::client_key_for(client, &state.ip_log_salt, "ingest");
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let (blocks, source, batch) = match media_type.as_str() {
        "application/octet-stream" => (vec![Ok(body.to_vec())], Source::Api, false),
        "text/plain" => {
            let text = std::str::from_utf8(&body).unwrap_or("");
            (vec![logvault_protocol::from_link(text).map_err(|_| ())], Source::Qr, false)
        }
        "application/json" => {
            let batch: Batch = serde_json::from_slice(&body)
                .map_err(|err| ApiError::MalformedBody(format!("expected {{\"blocks\": [...]}}: {err}")))?;
            if batch.blocks.is_empty() || batch.blocks.len() > MAX_BATCH {
                return Err(ApiError::Unprocessable(format!("a batch holds 1 to {MAX_BATCH} blocks")));
            }
            let blocks = batch.blocks.iter().map(|b| logvault_protocol::from_link(b).map_err(|_| ())).collect();
            (blocks, Source::Gateway, true)
        }
        _ => {
            return Err(ApiError::UnsupportedMediaType {
                expected: "application/octet-stream, text/plain or application/json",
            });
        }
    };

    // Read once, then followed through each debit below, without a database read per accepted block. Only refusals
    // spend the allowance (an unknown serial's dummy MAC check among them): a block that verifies is kept whatever
    // others sent from the same address. Once the allowance is spent, refusals are answered 429 and not audited.
    let mut exhausted = state.store.client_bucket(&client_key, now).await?.retry_after_secs(now);
    let ingest = Ingest::new(Arc::clone(&state.store), Arc::clone(&state.data_key_wrap));
    let client_info = Client { source, request_id };
    let mut results = Vec::with_capacity(blocks.len());
    for raw in blocks {
        if let Some(retry_after_secs) = exhausted {
            let kept = match raw {
                Ok(raw) => ingest.keep_unaudited(raw, &client_info, now).await?.ok(),
                Err(()) => None,
            };
            match kept {
                Some(accepted) => results.push(BatchResult::Accepted(count_accepted(&state, accepted))),
                None if !batch => return Err(ApiError::IngestThrottled { retry_after_secs }),
                None => {
                    state.metrics.count_ingest("throttled", 0);
                    results.push(BatchResult::Rejected { rejected: THROTTLED });
                }
            }
            continue;
        }
        let outcome = match raw {
            Ok(raw) => ingest.keep(raw, &client_info, now).await?,
            Err(()) => Err(ingest.refuse_undecodable(&client_info).await?),
        };
        match outcome {
            Ok(accepted) => results.push(BatchResult::Accepted(count_accepted(&state, accepted))),
            Err(refused) => {
                state.metrics.count_ingest(refused.reason.as_str(), 0);
                // A refused block costs the address one unit of its failure allowance.
                exhausted = match state.store.begin_client_attempt(&client_key, now).await? {
                    Ok(bucket) => bucket.retry_after_secs(now),
                    Err(retry_after_secs) => Some(retry_after_secs),
                };
                results.push(BatchResult::Rejected { rejected: REJECTED });
            }
        }
    }
    if batch {
        return Ok(Json(BatchResults { results }).into_response());
    }
    match results.into_iter().next() {
        Some(BatchResult::Accepted(accepted)) => Ok(Json(accepted).into_response()),
        _ => Err(ApiError::BlockRejected),
    }
}

/// Counts a kept block in the metrics and makes its answer.
fn count_accepted(state: &AppState, accepted: crate::app::ingest::Accepted) -> Accepted {
    match accepted.repeated {
        false => state.metrics.count_ingest("stored", accepted.new),
        true => state.metrics.count_ingest("duplicate", 0),
    }
    Accepted { device: accepted.serial, accepted: accepted.new, duplicates: accepted.duplicates }
}

/// A page of one channel's measurements: `from`/`to` as RFC 3339 times or Unix seconds (`[from, to)`, default
/// everything), `channel` (default 0), `limit` 1–10,000 (default 1,000), `cursor` from the previous page.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct MeasurementParams {
    from: Option<String>,
    to: Option<String>,
    channel: Option<i32>,
    limit: Option<i64>,
    cursor: Option<String>,
    /// Instead of raw points: at most this many time buckets (1–10,000) with min, max, mean and count, from rollups.
    buckets: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MeasurementPage {
    device: String,
    channel: i32,
    /// What the channel measures and its unit, when the device has sent data.
    quantity: Option<String>,
    unit: Option<&'static str>,
    /// `[t_s, value]` pairs: device time in Unix seconds, and the value in the unit (three decimals at most).
    #[serde(skip_serializing_if = "Option::is_none")]
    measurements: Option<Vec<(i64, f64)>>,
    /// With `buckets=N`: the time buckets, each `[start_s, end_s)`, with the values' count, min, max and
    /// (arithmetic) mean in the unit; empty buckets are left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    buckets: Option<Vec<BucketView>>,
    next_cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct BucketView {
    start_s: i64,
    end_s: i64,
    count: i64,
    min: f64,
    max: f64,
    mean: f64,
}

async fn measurements(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(serial): ApiPath<Serial>,
    Query(params): Query<MeasurementParams>,
) -> Result<Json<MeasurementPage>, ApiError> {
    let (access, device) = crate::auth::device_for(&state, &principal, &serial, Permission::ReadMeasurements).await?;
    let limit = params.limit.unwrap_or(1_000);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::Unprocessable("limit must be 1 to 10000".to_owned()));
    }
    let channel = params.channel.unwrap_or(0);
    // One rule with statistics and export: a channel the device does not have is a 422. A device that has sent
    // nothing yet and has no model has no known channels; channel 0 then reads as empty.
    let channels = crate::devices::channel_quantities(&device);
    let known = usize::try_from(channel).ok().filter(|&idx| idx < channels.len() || (channels.is_empty() && idx == 0));
    let Some(channel_idx) = known else {
        return Err(ApiError::Unprocessable("no such channel".to_owned()));
    };
    let after = match params.cursor.as_deref() {
        Some(cursor) => Some(parse_cursor(cursor).ok_or_else(|| ApiError::Unprocessable("bad cursor".to_owned()))?),
        None => None,
    };
    let query = MeasurementQuery {
        channel,
        from_s: params.from.as_deref().map(parse_time).transpose()?.unwrap_or(i64::MIN),
        to_s: params.to.as_deref().map(parse_time).transpose()?.unwrap_or(i64::MAX),
        after,
        limit,
    };
    let quantity = channels.get(channel_idx).cloned();
    let unit = quantity.as_deref().map(crate::devices::unit_of);
    if let Some(n_buckets) = params.buckets {
        if !(1..=10_000).contains(&n_buckets) || params.cursor.is_some() {
            return Err(ApiError::Unprocessable("buckets must be 1 to 10000, without a cursor".to_owned()));
        }
        let (Some(_), Some(_)) = (&params.from, &params.to) else {
            return Err(ApiError::Unprocessable("buckets need from and to".to_owned()));
        };
        if query.from_s >= query.to_s {
            return Err(ApiError::Unprocessable("from must be before to".to_owned()));
        }
        let bucket_query = logvault_store::BucketQuery { channel, from_s: query.from_s, to_s: query.to_s, n_buckets };
        let buckets = state.store.measurement_buckets(&access.scope, device.id, bucket_query).await?;
        return Ok(Json(MeasurementPage {
            device: device.serial,
            channel,
            quantity,
            unit,
            measurements: None,
            buckets: Some(
                buckets
                    .iter()
                    .map(|b| BucketView {
                        start_s: b.start_s,
                        end_s: b.end_s,
                        count: b.count,
                        min: f64::from(b.min) / 1_000.0,
                        max: f64::from(b.max) / 1_000.0,
                        mean: b.mean() / 1_000.0,
                    })
                    .collect(),
            ),
            next_cursor: None,
        }));
    }
    let rows = state.store.measurements(&access.scope, device.id, query).await?;
    let next_cursor = (i64::try_from(rows.len()).unwrap_or(i64::MAX) == limit)
        .then(|| rows.last().map(|m| format!("{}.{}", m.t_s, m.ordinal)))
        .flatten();
    Ok(Json(MeasurementPage {
        device: device.serial,
        channel,
        quantity,
        unit,
        measurements: Some(rows.iter().map(|m| (m.t_s, f64::from(m.value) / 1_000.0)).collect()),
        buckets: None,
        next_cursor,
    }))
}

/// A time as RFC 3339 (`2026-01-01T00:00:00Z`) or Unix seconds.
pub(crate) fn parse_time(raw: &str) -> Result<i64, ApiError> {
    if let Ok(seconds) = raw.parse::<i64>() {
        return Ok(seconds);
    }
    time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        .map(time::OffsetDateTime::unix_timestamp)
        .map_err(|_| ApiError::Unprocessable("from and to are RFC 3339 times or Unix seconds".to_owned()))
}

fn parse_cursor(cursor: &str) -> Option<(i64, i32)> {
    let (t_s, ordinal) = cursor.split_once('.')?;
    Some((t_s.parse().ok()?, ordinal.parse().ok()?))
}
