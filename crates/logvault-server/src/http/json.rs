//! `ApiJson<T>`: the JSON body extractor of the API, whose rejections are problem+json like every other error.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;

use crate::error::ApiError;

/// A JSON request body. Requires `Content-Type: application/json`; syntax errors are 400, shape errors 422, an
/// oversize body 413.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<ApiJson<T>, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(ApiError::UnsupportedMediaType { expected: "application/json" })
            }
            Err(JsonRejection::JsonSyntaxError(err)) => {
                Err(ApiError::MalformedBody(format!("the body is not valid JSON: {}", err.body_text())))
            }
            Err(JsonRejection::JsonDataError(err)) => Err(ApiError::Unprocessable(err.body_text())),
            Err(other) if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::PayloadTooLarge),
            Err(other) => Err(ApiError::MalformedBody(other.body_text())),
        }
    }
}
