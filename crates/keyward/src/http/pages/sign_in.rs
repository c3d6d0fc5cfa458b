//! Ways in and out: the dashboard's sign-in with a management key (an
//! unrestricted key then picks an account), the portal link that opens a
//! customer's session, and signing out.

use std::sync::Arc;

use askama::Template;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::error::PageError;
use super::security::{client_address, peer, CookieKind};
use super::show::Chrome;
use super::visitor::{session_of, Form, Operator};
use crate::http::AppState;
use crate::keys::AccountId;
use crate::keys::AccountRow;
use crate::sessions::{Secret, Via};

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage<'a> {
    title: &'a str,
    chrome: Chrome,
    csrf: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage<'a> {
    title: &'a str,
    chrome: Chrome,
    search: &'a str,
    accounts: Vec<AccountRow>,
}

#[derive(Deserialize)]
pub struct Search {
    q: Option<String>,
}

/// The sign-in form, with a fresh token in its own cookie (there is no
/// session to hold it yet).
fn sign_in_page(state: &AppState, status: StatusCode, error: Option<&str>) -> Result<Response, PageError> {
    let csrf = Secret::random()?;
    let page = SignInPage {
        title: "Sign in",
        chrome: Chrome::bare(&state.published().product),
        csrf: csrf.reveal(),
        error,
    };
    let cookie = CookieKind::SignIn.set(&state.pages.settings, csrf.reveal());
    Ok((status, [(header::SET_COOKIE, cookie)], Html(page.render()?)).into_response())
}

/// `/dashboard`: the sign-in form; signed in, the account picker (or the
/// one account of a limited key).
pub async fn dashboard(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    search: Result<Query<Search>, QueryRejection>,
) -> Result<Response, PageError> {
    let Query(search) = search.map_err(super::error::bad_query)?;
    let Some(session) = session_of(&headers, &state, CookieKind::Operator).await? else {
        return sign_in_page(&state, StatusCode::OK, None);
    };
    if let Some(account) = session.scope.confined_to() {
        return Ok(Redirect::to(&format!("/dashboard/accounts/{account}/keys")).into_response());
    }
    let search = search.q.unwrap_or_default();
    let search = search.trim();
    let accounts = state
        .keys
        .accounts(&session.scope, (!search.is_empty()).then_some(search), 200)
        .await?;
    let operator = Operator(session);
    let page = AccountsPage {
        title: "Accounts",
        chrome: operator.chrome(&state, None),
        search,
        accounts,
    };
    Ok(Html(page.render()?).into_response())
}

pub async fn sign_in(State(state): State<Arc<AppState>>, request: Request) -> Result<Response, PageError> {
    let (parts, body) = request.into_parts();
    let client = client_address(&parts.headers, peer(&parts.extensions), &state.pages.settings);
    if !state.pages.throttle.allow(client) {
        tracing::warn!(%client, "sign-in attempts throttled");
        return Err(PageError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            "Too many sign-in attempts from your address. Wait a minute, then try again.",
        )
        .with_next("/dashboard", "Back to sign-in"));
    }
    let form = Form::read(&parts.headers, body, state.config.max_body_bytes).await?;
    let expected =
        super::security::cookie(&parts.headers, CookieKind::SignIn.name(&state.pages.settings)).unwrap_or("");
    if expected.is_empty() {
        return Err(
            PageError::forbidden("The sign-in form expired. Reload the page and try again.")
                .with_next("/dashboard", "Back to sign-in"),
        );
    }
    form.check(&parts.headers, expected, &state.pages.origin)?;
    let presented = form.get("key").unwrap_or("").trim();
    let key = match state.keys.authenticate_management(presented).await? {
        Some(key) => key,
        None => {
            tracing::info!(%client, "dashboard sign-in refused");
            return sign_in_page(
                &state,
                StatusCode::UNAUTHORIZED,
                Some("That is not an active management key. Management keys start with kwm_."),
            );
        }
    };
    let (secret, _) = state.sessions.sign_in(&key).await?;
    tracing::info!(management_key = %key.id, "dashboard sign-in");
    let settings = &state.pages.settings;
    let mut response = Redirect::to("/dashboard").into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, CookieKind::Operator.set(settings, secret.reveal()));
    headers.append(header::SET_COOKIE, CookieKind::SignIn.set(settings, ""));
    Ok(response)
}

/// Ends the session of `kind` (its form checked) and clears its cookie.
async fn sign_out(state: &AppState, request: Request, kind: CookieKind) -> Result<(Response, Option<Via>), PageError> {
    let (parts, body) = request.into_parts();
    let settings = &state.pages.settings;
    let mut via = None;
    if let Some(session) = session_of(&parts.headers, state, kind).await? {
        let form = Form::read(&parts.headers, body, state.config.max_body_bytes).await?;
        form.check(&parts.headers, &session.csrf_token, &state.pages.origin)?;
        if let Some(id) = super::security::cookie(&parts.headers, kind.name(settings)) {
            state.sessions.sign_out(id).await?;
        }
        via = Some(session.via);
    }
    let mut response = StatusCode::OK.into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, kind.set(settings, ""));
    Ok((response, via))
}

pub async fn sign_out_operator(State(state): State<Arc<AppState>>, request: Request) -> Result<Response, PageError> {
    let (response, _) = sign_out(&state, request, CookieKind::Operator).await?;
    Ok(redirect_keeping_cookies(response, "/dashboard"))
}

#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOutPage<'a> {
    title: &'a str,
    chrome: Chrome,
    back: Option<String>,
}

/// Signing out of the portal answers a page with the way back, not a
/// redirect to it: the pages' `form-action 'self'` would block a form's
/// redirect to the host application.
pub async fn sign_out_portal(State(state): State<Arc<AppState>>, request: Request) -> Result<Response, PageError> {
    let (response, via) = sign_out(&state, request, CookieKind::Portal).await?;
    let back = match via {
        Some(Via::Portal { return_url, .. }) => return_url,
        _ => None,
    };
    let page = SignedOutPage {
        title: "Signed out",
        chrome: Chrome::bare(&state.published().product),
        back,
    };
    let mut answer = Html(page.render()?).into_response();
    for cookie in response.headers().get_all(header::SET_COOKIE) {
        answer.headers_mut().append(header::SET_COOKIE, cookie.clone());
    }
    Ok(answer)
}

fn redirect_keeping_cookies(response: Response, to: &str) -> Response {
    let mut redirect = Redirect::to(to).into_response();
    for cookie in response.headers().get_all(header::SET_COOKIE) {
        redirect.headers_mut().append(header::SET_COOKIE, cookie.clone());
    }
    redirect
}

#[derive(Deserialize)]
pub struct OpenAccount {
    account: String,
}

/// The picker's "open an account by id".
pub async fn open_account(
    operator: Operator,
    open: Result<Query<OpenAccount>, QueryRejection>,
) -> Result<Response, PageError> {
    let Query(open) = open.map_err(super::error::bad_query)?;
    let account = AccountId::parse(open.account.trim()).map_err(|e| {
        PageError::new(StatusCode::BAD_REQUEST, "Not an account id", e.to_string())
            .with_next("/dashboard", "Back to accounts")
    })?;
    if !operator.0.scope.reaches(account.as_str()) {
        return Err(PageError::not_found());
    }
    Ok(Redirect::to(&format!("/dashboard/accounts/{account}/keys")).into_response())
}

/// `/portal/{token}`: trades a portal link for a session of its account,
/// once.
pub async fn open_portal(
    State(state): State<Arc<AppState>>,
    token: Result<Path<String>, PathRejection>,
) -> Result<Response, PageError> {
    let opened = match token {
        Ok(Path(token)) => state.sessions.open_portal(&token).await?,
        Err(_) => None,
    };
    let Some((secret, session)) = opened else {
        return Err(PageError::new(
            StatusCode::NOT_FOUND,
            "This link has expired",
            "Links to the API keys page work once, for five minutes. Go back to the application you came from and open its API keys page again.",
        ));
    };
    tracing::info!(actor = %session.actor, "portal session opened");
    let mut response = Redirect::to("/portal/keys").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        CookieKind::Portal.set(&state.pages.settings, secret.reveal()),
    );
    Ok(response)
}

/// `HEAD /portal/{token}`: refused, so that a link checker cannot use up
/// the link.
pub async fn not_by_head() -> Response {
    let mut response = PageError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Open this link in a browser",
        "Portal links are opened with GET, once.",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, axum::http::HeaderValue::from_static("GET"));
    response
}
