//! The pages that show keys: an account's keys (Active, and Revoked /
//! Expired, each paginated), one key (its grants expanded, usage, chart,
//! least privilege, edit, rotate, revoke, history) and the revoke
//! confirmation.

use std::sync::Arc;

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Html;
use serde::Deserialize;

use super::chart;
use super::error::PageError;
use super::matrix::{Matrix, Selection};
use super::show::{self, Chrome, KeyRow, WindowCard};
use super::visitor::Visitor;
use crate::http::AppState;
use crate::keys::{Cursor, KeyId, KeyRecord, Limit, StatusFilter};
use crate::time::Millis;

/// Keys per section and page.
pub const PAGE_SIZE: u32 = 20;

pub struct Section {
    pub caption: &'static str,
    pub rows: Vec<KeyRow>,
    pub next: Option<String>,
}

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage<'a> {
    title: &'a str,
    chrome: Chrome,
    base: String,
    active: Section,
    inactive: Section,
    first_page: bool,
}

#[derive(Deserialize, Default)]
pub struct Cursors {
    active: Option<String>,
    inactive: Option<String>,
}

fn cursor(text: Option<&str>) -> Result<Option<Cursor>, PageError> {
    text.filter(|t| !t.is_empty())
        .map(|t| Cursor::parse(t).map_err(PageError::from))
        .transpose()
}

/// One section of the keys page, with the link to its next page (the
/// other section's position kept).
async fn section(
    state: &AppState,
    visitor: &Visitor,
    status: StatusFilter,
    at: Option<Cursor>,
    next_link: impl Fn(&str) -> String,
) -> Result<Section, PageError> {
    let now = Millis::now();
    let limit = Limit::new(PAGE_SIZE)?;
    let page = state.keys.list(&visitor.scope, None, status, limit, at).await?;
    let totals = state.usage.totals_of(&page.items, now).await?;
    let rows = page
        .items
        .iter()
        .zip(&totals)
        .map(|(key, (windows, last_used))| KeyRow::new(key, windows, *last_used, now))
        .collect();
    Ok(Section {
        caption: if status == StatusFilter::Active {
            "Active keys"
        } else {
            "Revoked and expired keys"
        },
        rows,
        next: page.next_cursor.map(|c| next_link(&c.to_string())),
    })
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    visitor: Visitor,
    cursors: Result<Query<Cursors>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let Query(cursors) = cursors.map_err(super::error::bad_query)?;
    let base = visitor.base();
    let (active_at, inactive_at) = (cursor(cursors.active.as_deref())?, cursor(cursors.inactive.as_deref())?);
    let keep =
        |name: &str, value: &Option<String>| value.as_deref().map(|v| format!("&{name}={v}")).unwrap_or_default();
    let active = section(&state, &visitor, StatusFilter::Active, active_at, |c| {
        format!("{base}/keys?active={c}{}#active", keep("inactive", &cursors.inactive))
    })
    .await?;
    let inactive = section(&state, &visitor, StatusFilter::Inactive, inactive_at, |c| {
        format!("{base}/keys?inactive={c}{}#inactive", keep("active", &cursors.active))
    })
    .await?;
    let page = KeysPage {
        title: "API keys",
        chrome: visitor.chrome(&state),
        first_page: cursors.active.is_none() && cursors.inactive.is_none(),
        base,
        active,
        inactive,
    };
    Ok(Html(page.render()?))
}

/// The key a page is about, within the visitor's account.
pub async fn key_of(state: &AppState, visitor: &Visitor) -> Result<KeyRecord, PageError> {
    let id = visitor.key_id.as_deref().unwrap_or("");
    let id = KeyId::parse(id).map_err(|_| PageError::not_found())?;
    Ok(state.keys.get(&id, &visitor.scope).await?)
}

pub struct KeyDetail {
    pub id: String,
    pub name: String,
    pub start: String,
    pub environment: String,
    pub created: String,
    pub created_by: String,
    pub expires: String,
    pub last_used: String,
    pub revoked: Option<String>,
    pub rotated_to: Option<String>,
    pub status: &'static str,
    pub status_class: &'static str,
}

/// A grant and what it allows in today's catalog.
pub struct Coverage {
    pub grant: String,
    pub description: Option<String>,
    pub covers: Vec<String>,
    pub stale: bool,
}

pub struct AuditRow {
    pub at: String,
    pub action: String,
    pub actor: String,
}

/// The edit form's inline errors.
#[derive(Default)]
pub struct FieldErrors {
    pub name: Option<String>,
    pub expires: Option<String>,
    pub environment: Option<String>,
    pub grants: Option<String>,
}

impl FieldErrors {
    pub fn any(&self) -> bool {
        self.name.is_some() || self.expires.is_some() || self.environment.is_some() || self.grants.is_some()
    }
}

/// The edit form as shown: the key's values, or what was submitted.
pub struct EditForm {
    pub name: String,
    pub expires: String,
    pub selected: Selection,
    pub errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "key.html")]
struct KeyPage<'a> {
    title: &'a str,
    chrome: Chrome,
    base: String,
    key: KeyDetail,
    grants: Vec<Coverage>,
    windows: Vec<WindowCard>,
    chart: String,
    scopes_used: Vec<(String, u64)>,
    unused: Vec<String>,
    suggested: Vec<String>,
    can_reduce: bool,
    /// Editable and rotatable: active and not replaced by a rotation.
    active: bool,
    /// Revocable: active, in a rotation grace or not.
    revocable: bool,
    name: String,
    expires: String,
    selected: Selection,
    errors: FieldErrors,
    matrix: &'a Matrix,
    stale: Vec<String>,
    graces: Vec<(String, String)>,
    audit: Vec<AuditRow>,
}

/// What each grant of `key` allows today.
fn coverage(state: &AppState, key: &KeyRecord) -> Vec<Coverage> {
    let catalog = state.keys.catalog();
    key.scopes
        .iter()
        .map(|grant| {
            let compiled = catalog.compile_grants(std::slice::from_ref(grant));
            let description = catalog
                .bundles()
                .iter()
                .find(|b| &b.name == grant)
                .and_then(|b| b.description.clone())
                .or_else(|| {
                    catalog.scope_id(grant).and_then(|id| {
                        let scope = catalog.scopes().get(id as usize)?;
                        let resource = catalog.resources().get(scope.resource)?;
                        resource.actions.get(scope.action).map(|a| a.description.clone())
                    })
                });
            Coverage {
                grant: grant.clone(),
                description,
                covers: compiled
                    .effective()
                    .map(|id| catalog.scope_name(id).to_owned())
                    .collect(),
                stale: compiled.has_stale(),
            }
        })
        .collect()
}

/// The rotation graces offered: up to the server's limit.
fn graces(state: &AppState) -> Vec<(String, String)> {
    let max = state.keys.max_rotation_grace().as_seconds();
    [
        (0, "0s", "No grace: it stops now"),
        (3600, "1h", "1 hour"),
        (86_400, "1d", "1 day"),
        (7 * 86_400, "7d", "7 days"),
        (30 * 86_400, "30d", "30 days"),
    ]
    .into_iter()
    .filter(|(seconds, _, _)| *seconds <= max)
    .map(|(_, value, label)| (value.to_owned(), label.to_owned()))
    .collect()
}

/// The key page, its edit form as given (`form`, after a refused edit) or
/// filled from the key.
pub async fn render_key(
    state: &AppState,
    visitor: &Visitor,
    key: &KeyRecord,
    form: Option<EditForm>,
) -> Result<Html<String>, PageError> {
    let now = Millis::now();
    let usage = state.usage.of(key, now).await?;
    let audit = state
        .keys
        .audit(
            &visitor.scope,
            None,
            Some(&KeyId::parse(&key.id)?),
            Limit::new(50)?,
            None,
        )
        .await?;
    let (status, status_class) = show::status(key, now);
    let revocable = key.status(now) == crate::keys::Status::Active;
    let active = revocable && key.rotated_to.is_none();
    let stale: Vec<String> = state.keys.stale_scopes(key).into_iter().map(str::to_owned).collect();
    let can_reduce = active && !usage.suggested_scopes.is_empty() && usage.suggested_scopes != key.scopes;
    // Customers see who acted as "operator", not a management key's id.
    let portal = visitor.session.is_portal();
    let who = |actor: &str| -> String {
        if portal && actor.starts_with("management_key:") {
            "operator".to_owned()
        } else {
            actor.to_owned()
        }
    };
    let form = form.unwrap_or_else(|| EditForm {
        name: key.name.clone(),
        expires: show::date(key.expires_at),
        selected: Selection(key.scopes.clone()),
        errors: FieldErrors::default(),
    });
    let published = state.published();
    let page = KeyPage {
        title: &key.name,
        chrome: visitor.chrome(state),
        base: visitor.base(),
        key: KeyDetail {
            id: key.id.clone(),
            name: key.name.clone(),
            start: key.start.clone(),
            environment: key.environment.clone(),
            created: show::time(key.created_at),
            created_by: who(&key.created_by),
            expires: show::maybe_time(key.expires_at, "never"),
            last_used: show::maybe_time(usage.last_used_at, "never"),
            revoked: key.revoked_at.map(show::time),
            rotated_to: key.rotated_to.clone(),
            status,
            status_class,
        },
        grants: coverage(state, key),
        windows: show::window_cards(&usage.windows),
        chart: chart::daily(&usage.daily),
        scopes_used: usage.scopes_used.into_iter().collect(),
        unused: usage.unused_scopes,
        suggested: usage.suggested_scopes,
        can_reduce,
        active,
        revocable,
        name: form.name,
        expires: form.expires,
        selected: form.selected,
        errors: form.errors,
        matrix: &published.matrix,
        stale,
        graces: graces(state),
        audit: audit
            .items
            .into_iter()
            .map(|e| AuditRow {
                at: show::time(e.at),
                action: e.action,
                actor: who(&e.actor),
            })
            .collect(),
    };
    Ok(Html(page.render()?))
}

pub async fn show(State(state): State<Arc<AppState>>, visitor: Visitor) -> Result<Html<String>, PageError> {
    let key = key_of(&state, &visitor).await?;
    render_key(&state, &visitor, &key, None).await
}

#[derive(Template)]
#[template(path = "revoke.html")]
struct RevokePage<'a> {
    title: &'a str,
    chrome: Chrome,
    base: String,
    id: &'a str,
    name: &'a str,
    start: &'a str,
}

pub async fn confirm_revoke(State(state): State<Arc<AppState>>, visitor: Visitor) -> Result<Html<String>, PageError> {
    let key = key_of(&state, &visitor).await?;
    let page = RevokePage {
        title: "Revoke a key",
        chrome: visitor.chrome(&state),
        base: visitor.base(),
        id: &key.id,
        name: &key.name,
        start: &key.start,
    };
    Ok(Html(page.render()?))
}
