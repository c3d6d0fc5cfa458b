//! The forms that change keys: create (then the key, shown once), edit,
//! reduce to the suggested scopes, rotate (the new key shown once) and
//! revoke. Each takes a [`Posted`] form (CSRF token and origin checked)
//! and calls the key service within the visitor's one account, as the
//! visitor's actor, so that the audit trail says who did it.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::error::PageError;
use super::keys::{key_of, render_key, EditForm, FieldErrors};
use super::matrix::{Matrix, Selection};
use super::show::{self, Chrome};
use super::visitor::{Form, Posted, Visitor};
use crate::http::AppState;
use crate::keys::{Grace, KeyError, KeyId, KeyName, KeyRecord, NewKey, RevokeReason, RotateOptions, Scopes, Update};
use crate::time::Millis;

#[derive(Template)]
#[template(path = "new_key.html")]
struct NewKeyPage<'a> {
    title: &'a str,
    chrome: Chrome,
    base: String,
    name: &'a str,
    expires: &'a str,
    environment: &'a str,
    environments: &'a [String],
    matrix: &'a Matrix,
    selected: Selection,
    stale: Vec<String>,
    errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "reveal.html")]
struct RevealPage<'a> {
    title: &'a str,
    chrome: Chrome,
    base: String,
    heading: &'a str,
    id: &'a str,
    name: &'a str,
    environment: &'a str,
    secret: &'a str,
    note: Option<String>,
}

/// The create form, as given (after a refusal) or empty.
fn new_key_page(
    state: &AppState,
    visitor: &Visitor,
    submitted: Option<(&Form, FieldErrors)>,
) -> Result<Response, PageError> {
    let catalog = state.keys.catalog();
    let environments = &catalog.api().environments;
    let (name, expires, environment, selected, errors, status) = match submitted {
        Some((form, errors)) => (
            form.get("name").unwrap_or(""),
            form.get("expires").unwrap_or(""),
            form.get("environment").unwrap_or(""),
            Selection(form.all("grant").into_iter().map(str::to_owned).collect()),
            errors,
            StatusCode::BAD_REQUEST,
        ),
        None => ("", "", "", Selection::default(), FieldErrors::default(), StatusCode::OK),
    };
    let published = state.published();
    let page = NewKeyPage {
        title: "Create a key",
        chrome: visitor.chrome(state),
        base: visitor.base(),
        name,
        expires,
        environment,
        environments,
        matrix: &published.matrix,
        selected,
        stale: Vec::new(),
        errors,
    };
    Ok((status, Html(page.render()?)).into_response())
}

pub async fn new_key(State(state): State<Arc<AppState>>, visitor: Visitor) -> Result<Response, PageError> {
    new_key_page(&state, &visitor, None)
}

/// The message of a refused field, without its name (it is shown next to
/// the field).
fn message(e: &KeyError) -> String {
    match e {
        KeyError::Invalid { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// Puts a refusal of the key service next to its field; `None` if it is
/// not about a field.
fn place(errors: &mut FieldErrors, e: &KeyError) -> bool {
    let KeyError::Invalid { field, .. } = e else {
        return false;
    };
    let slot = match *field {
        "name" => &mut errors.name,
        "expires_at" => &mut errors.expires,
        "environment" => &mut errors.environment,
        "scopes" => &mut errors.grants,
        _ => return false,
    };
    *slot = Some(message(e));
    true
}

/// A date input's `YYYY-MM-DD` as the start of that UTC day; empty is none.
fn expiry(text: &str) -> Result<Option<Millis>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(text, &format).map_err(|_| format!("`{text}` is not a date like 2027-01-31"))?;
    Ok(Some(Millis(date.midnight().assume_utc().unix_timestamp() * 1000)))
}

fn grants_of(form: &Form, state: &AppState) -> Result<Scopes, String> {
    let grants: Vec<String> = form.all("grant").into_iter().map(str::to_owned).collect();
    if grants.is_empty() {
        return Err("You must grant at least one permission.".to_owned());
    }
    Scopes::parse(grants, &state.keys.catalog()).map_err(|e| message(&e))
}

pub async fn create(State(state): State<Arc<AppState>>, posted: Posted) -> Result<Response, PageError> {
    let Posted { visitor, form } = posted;
    let mut errors = FieldErrors::default();
    let name = KeyName::parse(form.get("name").unwrap_or(""))
        .map_err(|e| errors.name = Some(message(&e)))
        .ok();
    let scopes = grants_of(&form, &state).map_err(|m| errors.grants = Some(m)).ok();
    let expires_at = expiry(form.get("expires").unwrap_or(""))
        .map_err(|m| errors.expires = Some(m))
        .ok()
        .flatten();
    let (Some(name), Some(scopes), false) = (name, scopes, errors.any()) else {
        return new_key_page(&state, &visitor, Some((&form, errors)));
    };
    let new = NewKey {
        account: visitor.account.clone(),
        name,
        scopes,
        expires_at,
        environment: form.get("environment").filter(|e| !e.is_empty()).map(str::to_owned),
        metadata: Default::default(),
    };
    match state.keys.create(new, visitor.actor(), &visitor.scope).await {
        Ok((record, secret)) => reveal(&state, &visitor, &record, secret.reveal(), "Your new key", None),
        Err(e) if place(&mut errors, &e) => new_key_page(&state, &visitor, Some((&form, errors))),
        Err(e) => Err(e.into()),
    }
}

/// The page that shows a key's plaintext, once: the answer to the POST
/// that made it (never a redirect, so it is in no URL and no history
/// entry that re-renders it); `no-store` like every page.
fn reveal(
    state: &AppState,
    visitor: &Visitor,
    record: &KeyRecord,
    secret: &str,
    heading: &str,
    note: Option<String>,
) -> Result<Response, PageError> {
    let page = RevealPage {
        title: heading,
        chrome: visitor.chrome(state),
        base: visitor.base(),
        heading,
        id: &record.id,
        name: &record.name,
        environment: &record.environment,
        secret,
        note,
    };
    Ok(Html(page.render()?).into_response())
}

fn to_key_page(visitor: &Visitor, id: &str) -> Response {
    Redirect::to(&format!("{}/keys/{id}", visitor.base())).into_response()
}

fn same_grants(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|g| b.contains(g))
}

pub async fn edit(State(state): State<Arc<AppState>>, posted: Posted) -> Result<Response, PageError> {
    let Posted { visitor, form } = posted;
    let key = key_of(&state, &visitor).await?;
    let mut errors = FieldErrors::default();
    let mut update = Update::default();
    let name = form.get("name").unwrap_or("");
    if name.trim() != key.name {
        update.name = KeyName::parse(name).map_err(|e| errors.name = Some(message(&e))).ok();
    }
    let grants: Vec<String> = form.all("grant").into_iter().map(str::to_owned).collect();
    if !same_grants(&grants, &key.scopes) {
        update.scopes = grants_of(&form, &state).map_err(|m| errors.grants = Some(m)).ok();
    }
    let expires = form.get("expires").unwrap_or("").trim();
    if expires != show::date(key.expires_at) {
        update.expires_at = expiry(expires).map_err(|m| errors.expires = Some(m)).ok();
    }
    let refused = |errors: FieldErrors| EditForm {
        name: name.to_owned(),
        expires: expires.to_owned(),
        selected: Selection(grants.clone()),
        errors,
    };
    if errors.any() {
        let html = render_key(&state, &visitor, &key, Some(refused(errors))).await?;
        return Ok((StatusCode::BAD_REQUEST, html).into_response());
    }
    if update.name.is_none() && update.scopes.is_none() && update.expires_at.is_none() {
        return Ok(to_key_page(&visitor, &key.id));
    }
    let id = KeyId::parse(&key.id)?;
    match state.keys.update(&id, update, visitor.actor(), &visitor.scope).await {
        Ok(_) => Ok(to_key_page(&visitor, &key.id)),
        Err(e) if place(&mut errors, &e) => {
            let html = render_key(&state, &visitor, &key, Some(refused(errors))).await?;
            Ok((StatusCode::BAD_REQUEST, html).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// "Reduce to these": the key's grants become the scopes its allowed
/// requests needed in 30 days.
pub async fn reduce(State(state): State<Arc<AppState>>, posted: Posted) -> Result<Response, PageError> {
    let visitor = posted.visitor;
    let key = key_of(&state, &visitor).await?;
    let usage = state.usage.of(&key, Millis::now()).await?;
    if usage.suggested_scopes.is_empty() {
        return Err(PageError::new(
            StatusCode::CONFLICT,
            "Nothing to reduce to",
            "This key has no allowed request in the last 30 days, so there is no suggestion yet.",
        ));
    }
    let update = Update {
        scopes: Some(Scopes::parse(usage.suggested_scopes, &state.keys.catalog())?),
        ..Update::default()
    };
    state
        .keys
        .update(&KeyId::parse(&key.id)?, update, visitor.actor(), &visitor.scope)
        .await?;
    Ok(to_key_page(&visitor, &key.id))
}

pub async fn rotate(State(state): State<Arc<AppState>>, posted: Posted) -> Result<Response, PageError> {
    let Posted { visitor, form } = posted;
    let key = key_of(&state, &visitor).await?;
    let grace = Grace::parse(form.get("grace").unwrap_or("0s"))?;
    let options = RotateOptions {
        grace,
        expires_at: None,
    };
    let (old, new, secret) = state
        .keys
        .rotate(&KeyId::parse(&key.id)?, options, visitor.actor(), &visitor.scope)
        .await?;
    let note = match old.expires_at {
        Some(at) if at > Millis::now() => {
            format!("The old key ({}…) keeps working until {}.", old.start, show::time(at))
        }
        _ => format!("The old key ({}…) has stopped working.", old.start),
    };
    reveal(&state, &visitor, &new, secret.reveal(), "Your rotated key", Some(note))
}

pub async fn revoke(State(state): State<Arc<AppState>>, posted: Posted) -> Result<Response, PageError> {
    let Posted { visitor, form } = posted;
    let key = key_of(&state, &visitor).await?;
    let reason = form
        .get("reason")
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(RevokeReason::parse)
        .transpose()?;
    state
        .keys
        .revoke(&KeyId::parse(&key.id)?, reason, visitor.actor(), &visitor.scope)
        .await?;
    Ok(to_key_page(&visitor, &key.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_is_the_start_of_its_utc_day() {
        assert_eq!(
            expiry("2027-01-31").unwrap(),
            Millis::parse_rfc3339("2027-01-31T00:00:00Z")
        );
        assert_eq!(expiry(" ").unwrap(), None);
        assert!(expiry("31/01/2027").unwrap_err().contains("not a date"));
    }
}
