//! Request limits the HTTP layer enforces before any handler runs
//! (docs/API.md): a request target over 8 KiB is a 414, header
//! fields over 32 KiB in all a 431, problem+json like every other error of
//! the API. Only heads the parser refuses outright (over 64 KiB, over 100
//! fields, a broken request line) get its bare answer.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::problem::Problem;

/// The longest request target (path and query) keyward reads.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// The most header bytes (names and values) a request may carry.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// The longest request head the parser reads at all.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

pub async fn reject_oversized(request: Request, next: Next) -> Response {
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Problem::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("the header fields are {header_bytes} bytes in all; the limit is {MAX_HEADER_BYTES}"),
        )
        .into_response();
    }
    let uri = request.uri();
    let length = uri.path().len() + uri.query().map_or(0, |q| q.len() + 1);
    if length > MAX_URI_BYTES {
        return Problem::new(
            StatusCode::URI_TOO_LONG,
            format!("the request target is {length} bytes long; the limit is {MAX_URI_BYTES}"),
        )
        .into_response();
    }
    next.run(request).await
}
