//! The key a request presents, read the same way on every endpoint
//! (docs/SECURITY.md): only a `Bearer` value of `Authorization` (the
//! scheme matched case-insensitively, RFC 7235) or an `X-API-Key` value is
//! a key; other schemes are ignored. Every such value is read: two
//! different keys, in any combination of those headers or repeats of one,
//! are refused (400), never "the first one wins".

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderName};

use super::problem::Problem;

const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// Where a key may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sources {
    /// `Authorization: Bearer` only (management keys).
    Bearer,
    /// `Authorization: Bearer` or `X-API-Key` (customer keys).
    BearerOrApiKey,
}

/// The token of a `Bearer` credential, or `None` for another scheme.
fn bearer_token(value: &str) -> Option<&str> {
    let value = value.trim_start();
    let (scheme, rest) = value.split_once([' ', '\t']).unwrap_or((value, ""));
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// The one key presented, `None` if there is none. Empty values present
/// nothing.
pub fn presented_key(headers: &HeaderMap, sources: Sources) -> Result<Option<&str>, Problem> {
    let mut found = None;
    for value in headers.get_all(AUTHORIZATION) {
        let text = value
            .to_str()
            .map_err(|_| Problem::bad_request("`authorization` is not ASCII"))?;
        if let Some(token) = bearer_token(text) {
            take(&mut found, token)?;
        }
    }
    if sources == Sources::BearerOrApiKey {
        for value in headers.get_all(X_API_KEY) {
            let text = value
                .to_str()
                .map_err(|_| Problem::bad_request("`x-api-key` is not ASCII"))?;
            take(&mut found, text.trim())?;
        }
    }
    Ok(found)
}

fn take<'h>(found: &mut Option<&'h str>, candidate: &'h str) -> Result<(), Problem> {
    match *found {
        _ if candidate.is_empty() => Ok(()),
        Some(seen) if seen != candidate => Err(Problem::bad_request(
            "two different keys were presented; send one key, in `Authorization: Bearer` or `X-API-Key`",
        )),
        Some(_) => Ok(()),
        None => {
            *found = Some(candidate);
            Ok(())
        }
    }
}

/// The header a verifier credential travels in (`verify_token`).
pub const VERIFIER_TOKEN: axum::http::HeaderName = axum::http::HeaderName::from_static("x-keyward-verifier-token");

/// With `verify_token` set, the verification endpoints answer only
/// requests carrying it (a layer added only then: no cost otherwise).
pub async fn require_verifier_token(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<super::AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Some(token) = &state.config.verify_token else {
        return next.run(request).await;
    };
    let mut presented = request.headers().get_all(&VERIFIER_TOKEN).iter();
    match (presented.next(), presented.next()) {
        (Some(value), None) if token.matches(value.as_bytes()) => next.run(request).await,
        _ => Problem::unauthorized(
            "this keyward verifies only for its proxies and services: X-Keyward-Verifier-Token is missing or wrong",
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_static(value));
        }
        h
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_other_schemes_are_ignored() {
        for value in ["Bearer k1", "bearer k1", "BEARER k1", "bEaReR   k1 ", "Bearer\tk1"] {
            let h = headers(&[("authorization", value)]);
            assert_eq!(presented_key(&h, Sources::Bearer).unwrap(), Some("k1"), "{value}");
        }
        for value in ["Basic azE6", "Bearerk1", "Token k1", "Bearer", "Bearer   "] {
            let h = headers(&[("authorization", value)]);
            assert_eq!(presented_key(&h, Sources::Bearer).unwrap(), None, "{value}");
        }
    }

    #[test]
    fn every_value_is_read_and_two_different_keys_are_refused() {
        let agree = headers(&[
            ("authorization", "Basic eA=="),
            ("authorization", "Bearer k1"),
            ("x-api-key", "k1"),
            ("x-api-key", " k1"),
        ]);
        assert_eq!(presented_key(&agree, Sources::BearerOrApiKey).unwrap(), Some("k1"));
        for two in [
            headers(&[("x-api-key", "k1"), ("x-api-key", "k2")]),
            headers(&[("authorization", "Bearer k1"), ("authorization", "bearer k2")]),
            headers(&[("authorization", "Bearer k1"), ("x-api-key", "k2")]),
            headers(&[("x-api-key", "k2"), ("authorization", "Bearer k1")]),
        ] {
            assert!(presented_key(&two, Sources::BearerOrApiKey).is_err(), "{two:?}");
        }
        let api_key_only = headers(&[("x-api-key", "k1")]);
        assert_eq!(presented_key(&api_key_only, Sources::Bearer).unwrap(), None);
    }
}
