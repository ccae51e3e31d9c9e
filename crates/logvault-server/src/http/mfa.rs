//! Second factors: TOTP enrolment (`/api/v1/me/mfa/totp`, `/api/v1/me/mfa/totp/confirm`) and the second step of
//! sign-in (`/api/v1/auth/mfa`) with a TOTP code or a single-use recovery code.
//!
//! Codes are refused on reuse (the used time step is recorded atomically), at most five wrong codes per account
//! are accepted per 30-second step, and a successful second factor rotates the session: the pending session is
//! revoked and a new one issued.

use axum::Json;
use axum::extract::State;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::app::{mfa, sign_in};
use crate::auth::{PendingSecondFactor, Principal};
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::http::routes::{Access, Doc, Routes};
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .add(
            Method::POST,
            "/api/v1/auth/mfa",
            Access::PendingSecondFactor,
            Doc::new("Give the second factor of a sign-in")
                .description("A TOTP code or a recovery code; on success the session is rotated (a new cookie).")
                .request_json::<CodeRequest>()
                .response_json::<SecondFactorResponse>(200, "signed in")
                .error(401, "the code is wrong, expired or already used")
                .error(429, "too many wrong codes in this 30-second step"),
            second_factor,
        )
        .add(
            Method::POST,
            "/api/v1/me/mfa/totp",
            Access::Session,
            Doc::new("Start TOTP enrolment")
                .request_json::<ReauthRequest>()
                .response_json::<EnrolmentResponse>(200, "the secret, as an otpauth URI and a QR code")
                .error(401, "the password is wrong"),
            start_enrolment,
        )
        .add(
            Method::DELETE,
            "/api/v1/me/mfa/totp",
            Access::Session,
            Doc::new("Remove TOTP and the recovery codes")
                .request_json::<ReauthRequest>()
                .response_empty(204, "removed")
                .error(401, "the password is wrong")
                .error(404, "no TOTP is enrolled")
                .error(422, "an organisation of the user requires a second factor"),
            remove_totp,
        )
        .add(
            Method::POST,
            "/api/v1/me/mfa/totp/confirm",
            Access::Session,
            Doc::new("Confirm TOTP enrolment with a first code")
                .description("Every other session ends and this one is rotated; the recovery codes are shown once.")
                .request_json::<CodeRequest>()
                .response_json::<ConfirmResponse>(200, "enrolled")
                .error(401, "the code is wrong")
                .error(422, "no enrolment was started"),
            confirm_enrolment,
        )
}

/// The current password, to start enrolment (a stolen session alone must not be able to add a second factor).
/// No `Debug`: it is a secret.
#[derive(Deserialize, utoipa::ToSchema)]
struct ReauthRequest {
    password: String,
}

/// A code from an authenticator app or a recovery code. No `Debug`: it is a secret.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = SecondFactorCode)]
struct CodeRequest {
    code: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct EnrolmentResponse {
    otpauth_uri: String,
    secret_base32: String,
    qr_svg: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ConfirmResponse {
    recovery_codes: Vec<String>,
    /// The CSRF token of the rotated session.
    csrf_token: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SecondFactorResponse {
    csrf_token: String,
}

async fn start_enrolment(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<ReauthRequest>,
) -> Result<Json<EnrolmentResponse>, ApiError> {
    let mfa::Enrolment { otpauth_uri, secret_base32, qr_svg } =
        mfa::start_enrolment(&state, &principal, body.password).await?;
    Ok(Json(EnrolmentResponse { otpauth_uri, secret_base32, qr_svg }))
}

async fn confirm_enrolment(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    let mfa::Confirmed { recovery_codes, session: (cookie, csrf_token) } =
        mfa::confirm_enrolment(&state, &principal, &body.code).await?;
    let mut response = Json(ConfirmResponse { recovery_codes, csrf_token }).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// Removes the user's TOTP and recovery codes, after the password again.
async fn remove_totp(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<ReauthRequest>,
) -> Result<axum::http::StatusCode, ApiError> {
    mfa::remove_totp(&state, &principal, body.password).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

async fn second_factor(
    State(state): State<AppState>,
    pending: PendingSecondFactor,
    ApiJson(body): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    let (cookie, csrf_token) = sign_in::second_factor(&state, &pending, &body.code).await?;
    let mut response = Json(SecondFactorResponse { csrf_token }).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}
