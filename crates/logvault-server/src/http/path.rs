//! `ApiPath<T>`: the path extractor of the API. Path parameters are parsed into their types (a serial into a
//! `Serial`, an id into an integer) before any handler or query sees them, and a segment that does not parse is the
//! 404 of a path that names nothing.

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Typed path parameters. A segment that is not a valid value of its type (a serial with a NUL byte, an id that is
/// not a number) names no resource: 404, the same answer as a well-formed serial that is not registered, on every
/// engine, without a query.
#[derive(Debug, Clone, Copy)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<ApiPath<T>, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(ApiError::NotFound),
            Err(other) => {
                Err(ApiError::Internal(anyhow::anyhow!("path parameters unavailable: {}", other.body_text())))
            }
        }
    }
}
