//! The catalog page (operators): the Markdown export, the docs page the
//! seeds are, rendered to HTML once at start. Raw HTML in descriptions is
//! shown as text, never passed through.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Html;
use keyward_scopes::Catalog;
use pulldown_cmark::{html, Event, Options, Parser, Tag, TagEnd};

use super::error::PageError;
use super::show::Chrome;
use super::visitor::Operator;
use crate::http::AppState;

pub fn render(catalog: &Catalog) -> String {
    let markdown = keyward_scopes::export::to_markdown(catalog);
    // Links survive only to http(s) addresses or within the site; any other
    // (a `javascript:` one) keeps its text and loses its target.
    let safe = |url: &str| {
        let lower = url.to_ascii_lowercase();
        lower.starts_with("https://") || lower.starts_with("http://") || url.starts_with('#') || url.starts_with('/')
    };
    let mut dropped = 0usize;
    let parser = Parser::new_ext(&markdown, Options::ENABLE_TABLES).filter_map(move |event| match event {
        Event::Html(text) | Event::InlineHtml(text) => Some(Event::Text(text)),
        Event::Start(Tag::Link { ref dest_url, .. }) if !safe(dest_url) => {
            dropped += 1;
            None
        }
        Event::End(TagEnd::Link) if dropped > 0 => {
            dropped -= 1;
            None
        }
        Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => None,
        other => Some(other),
    });
    let mut out = String::new();
    html::push_html(&mut out, parser);
    out
}

#[derive(Template)]
#[template(path = "catalog.html")]
struct CatalogPage<'a> {
    title: &'a str,
    chrome: Chrome,
    content: &'a str,
}

pub async fn page(State(state): State<Arc<AppState>>, operator: Operator) -> Result<Html<String>, PageError> {
    let published = state.published();
    let page = CatalogPage {
        title: "Catalog",
        chrome: operator.chrome(&state, None),
        content: &published.catalog_html,
    };
    Ok(Html(page.render()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_html_in_a_description_is_text() {
        let catalog = Catalog::from_toml(
            "t.toml",
            "[api]\nname = \"T\"\nkey_prefix = \"t\"\n[resources.contacts]\ndescription = \"<script>alert(1)</script>\"\nactions = { read = \"Read <b>them</b>\" }\n",
        )
        .unwrap();
        let html = render(&catalog);
        assert!(!html.contains("<script>") && !html.contains("<b>"), "{html}");
        let linked = Catalog::from_toml(
            "t.toml",
            "[api]\nname = \"T\"\nkey_prefix = \"t\"\n[resources.contacts]\ndescription = \"[x](javascript:alert(1)) [docs](https://docs.example.com/c)\"\nactions = { read = \"Read\" }\n",
        )
        .unwrap();
        let html = render(&linked);
        assert!(!html.contains("javascript:"), "{html}");
        assert!(html.contains("href=\"https://docs.example.com/c\""), "{html}");
        assert!(html.contains("<table>"), "{html}");
    }
}
