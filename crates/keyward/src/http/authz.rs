//! `/v1/authz`: forward-auth for nginx `auth_request`, Traefik, Caddy,
//! and Envoy's `ext_authz` at `/v1/authz/envoy/{*path}`. The hot path, like
//! `/v1/verify`, answering with headers.
//!
//! Forward-auth rules (docs/SECURITY.md): the original request is read
//! from ONE header family (`[server] forward_auth_headers`); the other
//! family with different values is refused (400); two different keys are
//! refused (400); method override headers are refused (403) unless the
//! catalog opts in. A presented key and the query string of an original
//! URI are never logged.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::credentials::{presented_key, Sources};
use super::problem::Problem;
use super::rendered::rendered;
use super::verify::{detail, names, record_usage};
use super::AppState;
use crate::config::HeaderFamily;
use crate::time::Millis;
use crate::verify::{Ask, Authentication, Code, Verifier};

// Header names built once: a lookup by `&str` would parse the name again on
// every request.
const X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
const X_ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");
const X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
const X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
const X_KEYWARD_CODE: HeaderName = HeaderName::from_static("x-keyward-code");
const X_KEYWARD_MISSING: HeaderName = HeaderName::from_static("x-keyward-missing");
static METHOD_OVERRIDE_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("x-http-method-override"),
    HeaderName::from_static("x-http-method"),
    HeaderName::from_static("x-method-override"),
];
const METHOD_OVERRIDE_NAMES: [&str; 3] = ["x-http-method-override", "x-http-method", "x-method-override"];

/// Where Envoy's `ext_authz` sends its checks (`path_prefix`).
pub const ENVOY_PREFIX: &str = "/v1/authz/envoy";

fn single_header<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<Option<&'h str>, Problem> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(Problem::bad_request(format!("`{name}` is repeated")));
    }
    first
        .map(|v| {
            v.to_str()
                .map_err(|_| Problem::bad_request(format!("`{name}` is not ASCII")))
        })
        .transpose()
}

/// The original method and URI from the configured header family
/// (`nginx` or `forwarded`). Both headers are required: a request missing
/// one is never checked with the check's own method or path (an nginx
/// subrequest is always a GET). The other family, if sent, must agree.
fn original_from_headers(family: HeaderFamily, headers: &HeaderMap) -> Result<(&str, &str), Problem> {
    let (ours, theirs) = match family {
        HeaderFamily::Forwarded => (
            [X_FORWARDED_METHOD, X_FORWARDED_URI],
            [X_ORIGINAL_METHOD, X_ORIGINAL_URI],
        ),
        HeaderFamily::Nginx | HeaderFamily::Envoy => (
            [X_ORIGINAL_METHOD, X_ORIGINAL_URI],
            [X_FORWARDED_METHOD, X_FORWARDED_URI],
        ),
    };
    let [our_method, our_uri] = [&ours[0], &ours[1]].map(|name| single_header(headers, name));
    let (our_method, our_uri) = (our_method?, our_uri?);
    for (mine, other) in [(our_method, &theirs[0]), (our_uri, &theirs[1])] {
        if let Some(value) = single_header(headers, other)? {
            if mine != Some(value) {
                return Err(Problem::bad_request(format!(
                    "`{other}` disagrees with the configured forward-auth headers; only one header family is trusted"
                )));
            }
        }
    }
    match (our_method, our_uri) {
        (Some(_), Some(uri)) if uri.len() > super::limits::MAX_URI_BYTES => Err(Problem::new(
            StatusCode::URI_TOO_LONG,
            format!(
                "`{}` is {} bytes long; the limit is {}",
                ours[1],
                uri.len(),
                super::limits::MAX_URI_BYTES
            ),
        )),
        (Some(method), Some(uri)) => Ok((method, uri)),
        (method, _) => {
            let missing = if method.is_none() { &ours[0] } else { &ours[1] };
            Err(Problem::bad_request(format!(
                "`{missing}` is missing: forward-auth needs both `{}` and `{}`",
                ours[0], ours[1]
            )))
        }
    }
}

/// Envoy's `ext_authz` check: its own method, and its path after the
/// prefix. The header families are refused here: Envoy passes client
/// headers on, so a client could have sent them.
fn original_from_envoy<'r>(
    method: &'r Method,
    uri: &'r Uri,
    headers: &HeaderMap,
) -> Result<(&'r str, Cow<'r, str>), Problem> {
    for name in [X_ORIGINAL_METHOD, X_ORIGINAL_URI, X_FORWARDED_METHOD, X_FORWARDED_URI] {
        if headers.contains_key(&name) {
            return Err(Problem::bad_request(format!(
                "`{name}` is refused on the Envoy endpoint: the original request is this request"
            )));
        }
    }
    let path = uri.path().strip_prefix(ENVOY_PREFIX).unwrap_or_default();
    let original = match uri.query() {
        Some(q) => Cow::Owned(format!("{path}?{q}")),
        None => Cow::Borrowed(path),
    };
    Ok((method.as_str(), original))
}

/// The overriding method of an override header and the header's name, if
/// the request has one; 400 if several disagree, with each other or with a
/// `_method` parameter of the original query string. The parameter itself
/// is the engine's to read and refuse (`keyward_scopes::query`), as on
/// `/v1/verify`.
fn header_override<'h>(headers: &'h HeaderMap, uri: &str) -> Result<Option<(&'static str, &'h str)>, Problem> {
    let mut found: Option<(&'static str, &str)> = None;
    for (name, label) in METHOD_OVERRIDE_HEADERS.iter().zip(METHOD_OVERRIDE_NAMES) {
        let Some(value) = single_header(headers, name)? else {
            continue;
        };
        match found {
            Some((first, seen)) if seen != value => {
                return Err(Problem::bad_request(format!(
                    "method overrides disagree (`{first}`: {seen}, `{label}`: {value})"
                )))
            }
            Some(_) => {}
            None => found = Some((label, value)),
        }
    }
    if let Some((label, value)) = found {
        if let Ok(Some(parameter)) = keyward_scopes::query::method_override(uri) {
            if parameter != value {
                return Err(Problem::bad_request(format!(
                    "method overrides disagree (`{label}`: {value}, `_method`: {parameter})"
                )));
            }
        }
    }
    Ok(found)
}

/// A 403 with seed 001's body, and the code and missing scopes as headers
/// too (nginx `auth_request` drops the body).
fn forbidden(code: Code, detail: String, required: &[&str], granted: &[String], missing: &[&str]) -> Response {
    let body = json!({ "detail": detail, "code": code, "required": required, "granted": granted, "missing": missing });
    let mut response = (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    let h = response.headers_mut();
    h.insert(X_KEYWARD_CODE, HeaderValue::from_static(code.as_str()));
    if let Ok(value) = HeaderValue::try_from(missing.join(",")) {
        h.insert(X_KEYWARD_MISSING, value);
    }
    response
}

/// A 401 (with `WWW-Authenticate`) and `X-Keyward-Code`.
fn unauthorized(code: Code, detail_text: Option<&str>) -> Response {
    let text = detail_text.map_or_else(|| detail(code, None).unwrap_or_default(), str::to_owned);
    let mut response = Problem::unauthorized(text).with("code", json!(code)).into_response();
    response
        .headers_mut()
        .insert(X_KEYWARD_CODE, HeaderValue::from_static(code.as_str()));
    response
}

#[utoipa::path(get, path = "/v1/authz", tag = "verification",
    description = "Forward-auth (any method). Key from `Authorization: Bearer` or `X-API-Key`; the original request from `X-Original-Method`/`X-Original-URI` (or `X-Forwarded-*`, per `[server] forward_auth_headers`); both are required.",
    responses(
        (status = 200, description = "Allowed; `X-Keyward-Key-Id`, `X-Keyward-Account`, `X-Keyward-Scopes`, `X-Keyward-Environment` set"),
        (status = 400, description = "Two keys, a missing or repeated original-request header, conflicting header families or method overrides", body = super::schemas::ProblemDetails),
        (status = 401, description = "Missing, malformed, unknown, expired or revoked key; `X-Keyward-Code` set", body = super::schemas::ProblemDetails),
        (status = 403, description = "Missing scopes or unknown route; `X-Keyward-Code` and `X-Keyward-Missing` set", body = super::schemas::Forbidden),
        (status = 503, description = "Storage unavailable", body = super::schemas::ProblemDetails),
    ))]
pub async fn authz(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let started = Instant::now();
    let family = state.config.forward_auth_headers;
    // Borrowed from the request: extracting the headers would copy them.
    let headers = request.headers();
    let response = match family {
        HeaderFamily::Envoy => Problem::bad_request(format!(
            "this server takes Envoy ext_authz checks (forward_auth_headers = \"envoy\") at {ENVOY_PREFIX}/<path>"
        ))
        .into_response(),
        _ => match original_from_headers(family, headers) {
            Ok((method, uri)) => check(&state, method, uri, headers).await,
            Err(problem) => problem.into_response(),
        },
    };
    state.metrics.observe_status(response.status(), started);
    response
}

/// Envoy's HTTP `ext_authz` (with `path_prefix: /v1/authz/envoy`): the
/// check has the original method, and the original path after the prefix.
pub async fn authz_envoy(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let started = Instant::now();
    let response = if state.config.forward_auth_headers == HeaderFamily::Envoy {
        match original_from_envoy(request.method(), request.uri(), request.headers()) {
            Ok((method, uri)) => check(&state, method, &uri, request.headers()).await,
            Err(problem) => problem.into_response(),
        }
    } else {
        Problem::not_found(format!(
            "{ENVOY_PREFIX} answers only with forward_auth_headers = \"envoy\""
        ))
        .into_response()
    };
    state.metrics.observe_status(response.status(), started);
    response
}

/// One forward-auth check of an original request.
async fn check(state: &AppState, method: &str, uri: &str, headers: &HeaderMap) -> Response {
    let catalog = state.verifier.live_catalog().load();
    let presented = match presented_key(headers, Sources::BearerOrApiKey) {
        Ok(presented) => presented,
        Err(problem) => return problem.into_response(),
    };
    let overriding = match header_override(headers, uri) {
        Ok(None) => None,
        Ok(Some((_, overriding))) if catalog.api().method_override => Some(overriding),
        Ok(Some((name, _))) => {
            return forbidden(
                Code::UnknownRoute,
                format!("method override (`{name}`) is not allowed"),
                &[],
                &[],
                &[],
            )
        }
        Err(problem) => return problem.into_response(),
    };
    let Some(presented) = presented else {
        // As /v1/verify calls an empty key: not a key of this API.
        return unauthorized(
            Code::Malformed,
            Some("an API key is required (Authorization: Bearer or X-API-Key)"),
        );
    };
    let now = Millis::now();
    let (key, code) = match state.verifier.authenticate(presented, now, &catalog).await {
        Authentication::Unavailable => return Problem::unavailable().into_response(),
        Authentication::Rejected(code) => return unauthorized(code, None),
        Authentication::Key(key, code) => (key, code),
    };
    if code != Code::Valid {
        record_usage(state, &key, code, None, now);
        return unauthorized(code, None);
    }
    // With an override, the API may run the request as sent or as
    // overridden (frameworks differ on which methods and which headers
    // they honour), so the key must be allowed both.
    let mut allowed = None;
    for method in std::iter::once(method).chain(overriding) {
        let (code, decision) = Verifier::decide(&key, Ask::Route { method, path: uri });
        if code != Code::Valid {
            record_usage(state, &key, code, decision.as_ref(), now);
            let (required, missing) = names(decision.as_ref());
            let text = detail(code, decision.as_ref()).unwrap_or_default();
            return forbidden(code, text, &required, &key.record.scopes, &missing);
        }
        allowed = decision;
    }
    record_usage(state, &key, Code::Valid, allowed.as_ref(), now);
    // All four identity headers, or no 200: a proxy must never pass a
    // client's own copy of one on.
    let Some(identity) = &rendered(&key).headers else {
        return Problem::new(
            StatusCode::FORBIDDEN,
            "this key's account cannot be sent in the X-Keyward-Account header; give the key an account id of A-Z a-z 0-9 . _ : @ + -",
        )
        .into_response();
    };
    let mut response = StatusCode::OK.into_response();
    let h = response.headers_mut();
    for (name, value) in identity {
        h.insert(name.clone(), value.clone());
    }
    response
}
