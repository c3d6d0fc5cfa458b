//! Request limits the HTTP layer enforces before any handler runs
//! (DESIGN.md section 8): a request target over 8 KiB is a 414,
//! problem+json like every other error of the API.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::problem::Problem;

/// The longest request target (path and query) keyward reads.
pub const MAX_URI_BYTES: usize = 8 * 1024;

pub async fn reject_long_uris(request: Request, next: Next) -> Response {
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
