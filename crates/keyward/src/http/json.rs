//! A JSON body extractor whose every rejection is a clear problem+json:
//! wrong content type 415, malformed JSON or unknown and missing fields 400
//! naming them, oversized bodies 413.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::problem::Problem;

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::MissingJsonContentType(_) => Problem::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "the body must be JSON with `Content-Type: application/json`",
                ),
                JsonRejection::JsonSyntaxError(e) => {
                    Problem::bad_request(format!("malformed JSON: {}", source_text(&e)))
                }
                JsonRejection::JsonDataError(e) => Problem::bad_request(format!("invalid body: {}", source_text(&e))),
                JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large")
                }
                other => Problem::new(other.status(), other.body_text()),
            }),
        }
    }
}

/// serde's message (which names the field), without axum's prefix.
fn source_text(e: &dyn std::error::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

/// An optional JSON body: no body at all is `None` (e.g. `POST .../revoke`
/// without a reason); a body must be valid JSON.
impl<S, T> axum::extract::OptionalFromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let bytes = match axum::body::Bytes::from_request(req, state).await {
            Ok(bytes) => bytes,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large"))
            }
            Err(e) => return Err(Problem::new(e.status(), e.body_text())),
        };
        if bytes.is_empty() {
            return Ok(None);
        }
        if !is_json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body must be JSON with `Content-Type: application/json`",
            ));
        }
        serde_json::from_slice(&bytes)
            .map(|v| Some(ApiJson(v)))
            .map_err(|e| Problem::bad_request(format!("invalid body: {e}")))
    }
}

/// A JSON body kept as bytes, to deserialize types that borrow from it
/// (the verify hot path), with the same errors as [`ApiJson`].
pub struct ApiBytes(axum::body::Bytes);

impl ApiBytes {
    pub fn parse<'a, T: serde::Deserialize<'a>>(&'a self) -> Result<T, Problem> {
        serde_json::from_slice(&self.0).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => Problem::bad_request(format!("invalid body: {e}")),
            _ => Problem::bad_request(format!("malformed JSON: {e}")),
        })
    }
}

impl<S: Send + Sync> FromRequest<S> for ApiBytes {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body must be JSON with `Content-Type: application/json`",
            ));
        }
        match axum::body::Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(ApiBytes(bytes)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large"))
            }
            Err(e) => Err(Problem::new(e.status(), e.body_text())),
        }
    }
}
