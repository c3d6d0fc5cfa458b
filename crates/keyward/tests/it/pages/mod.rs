//! The dashboard and the customer portal (DESIGN.md section 6), driven as
//! people and attackers would: a plain HTTP client for what a browser
//! hides (`security.rs`), headless Chromium for the flows people follow
//! (`flows.rs`).

mod browser;
mod flows;
mod security;
mod web;
