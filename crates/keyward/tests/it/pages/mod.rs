//! The dashboard and the customer portal (docs/PAGES.md), driven as
//! people and attackers would: a plain HTTP client for what a browser
//! hides (`security.rs`), headless Chromium for the flows people follow
//! (`flows.rs`).

mod browser;
mod flows;
mod security;
mod web;

use crate::server::{Options, Server};
use crate::support::TestStore;

/// The server on ColdSend's catalog with these extra flags.
pub async fn serve_with(t: &TestStore, flags: &[&str]) -> Server {
    Server::start(
        t,
        Options {
            extra_args: flags.iter().map(|f| f.to_string()).collect(),
            ..Options::default()
        },
    )
    .await
}
