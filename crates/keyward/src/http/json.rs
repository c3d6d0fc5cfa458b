//! A JSON body extractor whose every rejection is a clear problem+json:
//! wrong content type 415, malformed JSON or unknown and missing fields 400
//! naming them, oversized bodies 413.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::RequestExt;
use bytes::BytesMut;
use http_body_util::{BodyExt, LengthLimitError};
use serde::de::DeserializeOwned;

use super::problem::Problem;

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(&req) {
            return Err(not_json());
        }
        let bytes = read_body(req).await?;
        match parse_object(&bytes)? {
            Some(value) => Ok(ApiJson(value)),
            None => Err(Problem::bad_request("the body must be a JSON object, not `null`")),
        }
    }
}

/// `application/json` or any `+json` type, parameters aside, in any case.
/// The usual exact `application/json` is answered at once (the verify hot
/// path takes it).
fn is_json(req: &Request) -> bool {
    let Some(value) = req.headers().get(axum::http::header::CONTENT_TYPE) else {
        return false;
    };
    if value.as_bytes() == b"application/json" {
        return true;
    }
    value.to_str().is_ok_and(|v| {
        let essence = v.split(';').next().unwrap_or_default().trim();
        let (kind, subtype) = essence.split_once('/').unwrap_or_default();
        kind.eq_ignore_ascii_case("application")
            && (subtype.eq_ignore_ascii_case("json")
                || subtype.len() > 5 && subtype[subtype.len() - 5..].eq_ignore_ascii_case("+json"))
    })
}

fn not_json() -> Problem {
    Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "the body must be JSON with `Content-Type: application/json`",
    )
}

/// The body as `T`, which it must be as a JSON object (serde would also
/// read a struct from an array); `None` for `null`. Parsed straight into
/// `T`, so a repeated member is refused rather than read last-wins. Errors
/// name what is wrong: malformed JSON, the wrong type, unknown or missing
/// fields.
fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<Option<T>, Problem> {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    match start.map(|i| bytes[i]) {
        Some(b'{') => serde_json::from_slice(bytes).map(Some).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => Problem::bad_request(format!("invalid body: {e}")),
            _ => Problem::bad_request(format!("malformed JSON: {e}")),
        }),
        Some(b'n') if serde_json::from_slice::<()>(bytes).is_ok() => Ok(None),
        Some(b'[') => Err(Problem::bad_request("the body must be a JSON object, not an array")),
        Some(b'"') => Err(Problem::bad_request("the body must be a JSON object, not a string")),
        Some(b't' | b'f') => Err(Problem::bad_request("the body must be a JSON object, not a boolean")),
        Some(b'-' | b'0'..=b'9') => Err(Problem::bad_request("the body must be a JSON object, not a number")),
        _ => Err(Problem::bad_request("malformed JSON: the body must be a JSON object")),
    }
}

/// An optional JSON body: no body at all, or `null`, is `None` (e.g.
/// `POST .../revoke` without a reason); a body must be a JSON object.
impl<S, T> axum::extract::OptionalFromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        let is_json = is_json(&req);
        let bytes = read_body(req).await?;
        if bytes.is_empty() {
            return Ok(None);
        }
        if !is_json {
            return Err(not_json());
        }
        Ok(parse_object(&bytes)?.map(ApiJson))
    }
}

/// A JSON body kept as bytes, to deserialize types that borrow from it
/// (the verify hot path), with the same errors as [`ApiJson`].
pub struct ApiBytes(Bytes);

impl ApiBytes {
    /// The body is checked as UTF-8 once, as a whole (one fast pass), not
    /// string by string as `from_slice` would.
    pub fn parse<'a, T: serde::Deserialize<'a>>(&'a self) -> Result<T, Problem> {
        let text = std::str::from_utf8(&self.0)
            .map_err(|e| Problem::bad_request(format!("malformed JSON: the body is not UTF-8 ({e})")))?;
        serde_json::from_str(text).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => Problem::bad_request(format!("invalid body: {e}")),
            _ => Problem::bad_request(format!("malformed JSON: {e}")),
        })
    }
}

impl<S: Send + Sync> FromRequest<S> for ApiBytes {
    type Rejection = Problem;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(&req) {
            return Err(not_json());
        }
        read_body(req).await.map(ApiBytes)
    }
}

/// A whole request body within the configured limit (`DefaultBodyLimit`).
/// The usual small request arrives as one data frame, which is kept as is:
/// no buffer list and no copy, unlike collecting it.
async fn read_body(req: Request) -> Result<Bytes, Problem> {
    let mut body = req.into_limited_body();
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(body_error)?.into_data() else {
            continue; // trailers
        };
        match (&mut joined, first.take()) {
            (Some(joined), _) => joined.extend_from_slice(&data),
            (None, Some(earlier)) => {
                let mut both = BytesMut::with_capacity(earlier.len() + data.len());
                both.extend_from_slice(&earlier);
                both.extend_from_slice(&data);
                joined = Some(both);
            }
            (None, None) => first = Some(data),
        }
    }
    Ok(joined.map(BytesMut::freeze).or(first).unwrap_or_default())
}

/// 413 when the body is over the limit, 408 when it came too slowly, 400
/// when it could not be read.
fn body_error(e: axum::Error) -> Problem {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(error) = source {
        if error.is::<LengthLimitError>() {
            return Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large");
        }
        if let Some(late) = error.downcast_ref::<super::connections::BodyTooSlow>() {
            return Problem::new(StatusCode::REQUEST_TIMEOUT, late.to_string());
        }
        source = error.source();
    }
    Problem::bad_request(format!("the body could not be read: {e}"))
}
