//! Who is asking for a page. Every key page needs a [`Visitor`]: a live
//! session (the operator's cookie under `/dashboard`, the portal's under
//! `/portal`) and the one account the page is about, which the session
//! must reach. Every form needs a [`Posted`]: a visitor whose form carries
//! the session's `csrf_token` and, if the browser sent an `Origin`, comes
//! from keyward's own. Handlers cannot get either otherwise.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use subtle::ConstantTimeEq;

use super::error::PageError;
use super::security::{cookie, origin_allowed, CookieKind};
use super::show::Chrome;
use crate::http::AppState;
use crate::keys::{AccountId, AccountScope};
use crate::sessions::{Session, Via};

pub const DASHBOARD_ACCOUNT_BASE: &str = "/dashboard/accounts/{account}";
pub const PORTAL_BASE: &str = "/portal";

/// The session behind a request's cookie of `kind`, if it is live.
pub async fn session_of(headers: &HeaderMap, state: &AppState, kind: CookieKind) -> Result<Option<Session>, PageError> {
    let Some(id) = cookie(headers, kind.name(&state.pages.settings)) else {
        return Ok(None);
    };
    Ok(state.sessions.find(id, kind == CookieKind::Portal).await?)
}

/// A signed-in operator (any account page or none).
pub struct Operator(pub Session);

impl Operator {
    pub fn chrome(&self, state: &AppState, account: Option<&AccountId>) -> Chrome {
        chrome(state, &self.0, account)
    }
}

impl FromRequestParts<Arc<AppState>> for Operator {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        match session_of(&parts.headers, state, CookieKind::Operator).await? {
            Some(session) => Ok(Operator(session)),
            None => Err(PageError::SignIn),
        }
    }
}

fn chrome(state: &AppState, session: &Session, account: Option<&AccountId>) -> Chrome {
    let (portal, return_url) = match &session.via {
        Via::Portal { return_url, .. } => (true, return_url.clone()),
        Via::Operator { .. } => (false, None),
    };
    Chrome {
        product: state.published().product.clone(),
        base: account.map(|a| base_of(portal, a)),
        account: account.map(|a| a.to_string()),
        operator: !portal,
        picker: !portal && session.scope.confined_to().is_none(),
        return_url,
        sign_out: Some(if portal {
            "/portal/sign-out"
        } else {
            "/dashboard/sign-out"
        }),
        csrf: session.csrf_token.clone(),
    }
}

fn base_of(portal: bool, account: &AccountId) -> String {
    if portal {
        PORTAL_BASE.to_owned()
    } else {
        format!("/dashboard/accounts/{account}")
    }
}

/// Someone on a key page of one account.
pub struct Visitor {
    pub session: Session,
    pub account: AccountId,
    /// The account alone: what every call of the page passes.
    pub scope: AccountScope,
    /// The `{id}` of the path, if it has one.
    pub key_id: Option<String>,
}

impl Visitor {
    pub fn base(&self) -> String {
        base_of(self.session.is_portal(), &self.account)
    }

    pub fn chrome(&self, state: &AppState) -> Chrome {
        chrome(state, &self.session, Some(&self.account))
    }

    pub fn actor(&self) -> &str {
        &self.session.actor
    }
}

impl FromRequestParts<Arc<AppState>> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| PageError::not_found())?;
        let param = |name: &str| params.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_owned());
        let key_id = param("id");
        let portal = parts.uri.path().starts_with("/portal/");
        let (session, account) = if portal {
            let session = session_of(&parts.headers, state, CookieKind::Portal)
                .await?
                .ok_or_else(PageError::portal_ended)?;
            let account = session
                .scope
                .confined_to()
                .cloned()
                .ok_or_else(PageError::portal_ended)?;
            (session, account)
        } else {
            let session = session_of(&parts.headers, state, CookieKind::Operator)
                .await?
                .ok_or(PageError::SignIn)?;
            let account = param("account")
                .and_then(|a| AccountId::parse(&a).ok())
                .ok_or_else(PageError::not_found)?;
            (session, account)
        };
        // Another account is not found, never "forbidden": it learns
        // nothing (docs/SECURITY.md).
        let scope = session
            .scope
            .narrowed_to(Some(&account))
            .ok_or_else(PageError::not_found)?;
        Ok(Visitor {
            session,
            account,
            scope,
            key_id,
        })
    }
}

/// A submitted form's fields.
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Reads an `application/x-www-form-urlencoded` body.
    pub async fn read(headers: &HeaderMap, body: axum::body::Body, limit: usize) -> Result<Form, PageError> {
        let urlencoded = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        if !urlencoded {
            return Err(PageError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Not a form",
                "This address takes a submitted form (application/x-www-form-urlencoded).",
            ));
        }
        let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
            PageError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too large",
                "The form was larger than keyward accepts.",
            )
        })?;
        Ok(Form(form_urlencoded::parse(&bytes).into_owned().collect()))
    }

    /// Whether the form carries `expected` as its `csrf_token` and comes
    /// from keyward's own origin; else a 403, never a redirect.
    pub fn check(&self, headers: &HeaderMap, expected: &str, origin: &str) -> Result<(), PageError> {
        let token_ok = self
            .get("csrf_token")
            .is_some_and(|t| bool::from(t.as_bytes().ct_eq(expected.as_bytes())));
        if !token_ok {
            return Err(PageError::forbidden(
                "This form is missing its security token or carries a stale one. Reload the page and try again.",
            ));
        }
        if !origin_allowed(headers, origin) {
            return Err(PageError::forbidden("This form was sent from another site."));
        }
        Ok(())
    }
}

/// A form posted by a visitor, checked.
pub struct Posted {
    pub visitor: Visitor,
    pub form: Form,
}

impl FromRequest<Arc<AppState>> for Posted {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        // A form is never answered by a redirect: without a session it is
        // refused like a form without its token.
        let visitor = Visitor::from_request_parts(&mut parts, state)
            .await
            .map_err(|e| match e {
                PageError::SignIn => PageError::forbidden("Your session has ended: sign in again, then retry.")
                    .with_next("/dashboard", "Sign in"),
                other => other,
            })?;
        let form = Form::read(&parts.headers, body, state.config.max_body_bytes).await?;
        form.check(&parts.headers, &visitor.session.csrf_token, &state.pages.origin)?;
        Ok(Posted { visitor, form })
    }
}
