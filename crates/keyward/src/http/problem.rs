//! Errors as `application/problem+json` (RFC 9457), mapped in one place:
//! bad input 400 naming the field and value, unknown ids 404, changes to
//! revoked or expired keys 409, storage down 503. Never a 500 for input.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::keys::KeyError;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub detail: String,
    /// Extra members (e.g. `field`, or a verification's fields).
    pub extra: Value,
    pub www_authenticate: bool,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem {
            status,
            detail: detail.into(),
            extra: json!({}),
            www_authenticate: false,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn invalid(field: &str, detail: impl Into<String>) -> Problem {
        Problem::bad_request(detail).with("field", json!(field))
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem {
            www_authenticate: true,
            ..Problem::new(StatusCode::UNAUTHORIZED, detail)
        }
    }

    pub fn unavailable() -> Problem {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage is unavailable; try again shortly",
        )
    }

    pub fn with(mut self, key: &str, value: Value) -> Problem {
        if let Value::Object(map) = &mut self.extra {
            map.insert(key.to_owned(), value);
        }
        self
    }
}

impl From<KeyError> for Problem {
    fn from(e: KeyError) -> Problem {
        match e {
            KeyError::Invalid { field, message } => Problem::invalid(field, format!("{field}: {message}")),
            KeyError::NotFound(id) => Problem::not_found(format!("no key `{id}`")),
            KeyError::Conflict(message) => Problem::new(StatusCode::CONFLICT, message),
            e @ KeyError::OutOfScope(_) => Problem::new(StatusCode::FORBIDDEN, e.to_string()),
            KeyError::Unavailable(e) => {
                tracing::warn!(error = %e, "storage unavailable");
                Problem::unavailable()
            }
            KeyError::Internal(e) => {
                tracing::error!(error = %e, "storage failure: a bug");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "storage refused or garbled what keyward wrote or read; this is a bug in keyward, not in the request",
                )
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let (Value::Object(target), Value::Object(extra)) = (&mut body, self.extra) {
            target.extend(extra);
        }
        let mut response = (self.status, body.to_string()).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.www_authenticate {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"keyward\", error=\"invalid_token\""),
            );
        }
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body is not read, so the connection cannot
            // carry another request: say so, or a client may reuse it.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}
