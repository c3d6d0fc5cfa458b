//! What a page answers when it cannot show what was asked: an HTML page
//! (never problem+json), or, for an operator who is not signed in, the
//! sign-in page.

use askama::Template;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use crate::keys::KeyError;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    next: Option<&'a str>,
    next_label: &'a str,
    chrome: super::show::Chrome,
}

#[derive(Debug)]
pub enum PageError {
    /// A page to show with this status.
    Status {
        status: StatusCode,
        title: &'static str,
        message: String,
        next: Option<(&'static str, &'static str)>,
    },
    /// Not signed in (or the session ended): the dashboard's sign-in page.
    SignIn,
}

impl PageError {
    pub fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> PageError {
        PageError::Status {
            status,
            title,
            message: message.into(),
            next: None,
        }
    }

    pub fn not_found() -> PageError {
        PageError::new(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is nothing here, or nothing you may see.",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::FORBIDDEN, "Refused", message)
    }

    /// The portal session ended (or never was).
    pub fn portal_ended() -> PageError {
        PageError::new(
            StatusCode::UNAUTHORIZED,
            "Your session has ended",
            "For your security, this page needs a fresh link. Go back to the application you came from and open its API keys page again.",
        )
    }

    pub fn with_next(self, href: &'static str, label: &'static str) -> PageError {
        match self {
            PageError::Status {
                status, title, message, ..
            } => PageError::Status {
                status,
                title,
                message,
                next: Some((href, label)),
            },
            other => other,
        }
    }
}

/// A query string the page cannot read.
pub fn bad_query(e: axum::extract::rejection::QueryRejection) -> PageError {
    PageError::new(
        StatusCode::BAD_REQUEST,
        "Not accepted",
        format!("This address's query is not valid: {e}"),
    )
}

impl From<KeyError> for PageError {
    fn from(e: KeyError) -> PageError {
        match e {
            KeyError::Invalid { field, message } => {
                PageError::new(StatusCode::BAD_REQUEST, "Not accepted", format!("{field}: {message}"))
            }
            KeyError::NotFound(_) | KeyError::OutOfScope(_) => PageError::not_found(),
            KeyError::Conflict(message) => PageError::new(StatusCode::CONFLICT, "Not possible now", message),
            KeyError::Unavailable(e) => {
                tracing::warn!(error = %e, "storage unavailable (page)");
                PageError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Try again in a moment",
                    "keyward cannot reach its storage right now. Nothing was changed.",
                )
            }
            KeyError::Internal(e) => {
                tracing::error!(error = %e, "storage failure: a bug (page)");
                PageError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "keyward's storage answered unexpectedly; this is a bug in keyward. Nothing more was changed.",
                )
            }
        }
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> PageError {
        tracing::error!(error = %e, "a page failed to render: a bug");
        PageError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "This page failed to render.",
        )
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::SignIn => Redirect::to("/dashboard").into_response(),
            PageError::Status {
                status,
                title,
                message,
                next,
            } => {
                let page = ErrorPage {
                    title,
                    message: &message,
                    next: next.map(|(href, _)| href),
                    next_label: next.map_or("", |(_, label)| label),
                    chrome: super::show::Chrome::bare("keyward"),
                };
                match page.render() {
                    Ok(html) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
                    Err(_) => (status, message).into_response(),
                }
            }
        }
    }
}
