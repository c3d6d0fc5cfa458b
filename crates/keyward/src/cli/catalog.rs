//! `keyward catalog validate|export|diff`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use keyward_scopes::export;

use keyward_scopes::{Catalog, CatalogError};
use serde_json::json;

use super::catalog_diff as diff;
use super::{load_catalog, read_catalog, EXIT_BAD_INPUT};

/// What `validate` found in one file.
struct Report {
    file: String,
    catalog: Option<Catalog>,
    /// Problems with a place in the file.
    errors: Vec<CatalogError>,
    /// A problem before parsing (unreadable, not UTF-8).
    unreadable: Option<String>,
}

fn validate(path: &std::path::Path) -> Report {
    let file = path.display().to_string();
    match read_catalog(path) {
        Err(message) => Report {
            file,
            catalog: None,
            errors: Vec::new(),
            unreadable: Some(message),
        },
        Ok(source) => match Catalog::from_toml(&file, &source) {
            Ok(catalog) => Report {
                file,
                catalog: Some(catalog),
                errors: Vec::new(),
                unreadable: None,
            },
            Err(e) => Report {
                file,
                catalog: None,
                errors: e.errors,
                unreadable: None,
            },
        },
    }
}

fn located(e: &CatalogError) -> serde_json::Value {
    json!({ "line": e.line, "column": e.column, "message": e.message })
}

impl Report {
    fn print(&self) {
        if let Some(message) = &self.unreadable {
            eprintln!("{message}");
        }
        for e in &self.errors {
            eprintln!("{}:{}:{}: {}", self.file, e.line, e.column, e.message);
        }
        if let Some(c) = &self.catalog {
            for w in c.warnings() {
                eprintln!("{}:{}:{}: warning: {}", self.file, w.line, w.column, w.message);
            }
            println!(
                "{}: ok: {} resources, {} scopes, {} bundles, {} routes",
                self.file,
                c.resources().len(),
                c.scope_count(),
                c.bundles().len(),
                c.routes().len()
            );
        }
    }

    fn to_json(&self) -> serde_json::Value {
        let mut errors: Vec<serde_json::Value> = self.errors.iter().map(located).collect();
        if let Some(message) = &self.unreadable {
            errors.push(json!({ "line": null, "column": null, "message": message }));
        }
        let mut out = json!({
            "file": self.file,
            "valid": self.catalog.is_some(),
            "errors": errors,
            "warnings": self.catalog.as_ref().map_or_else(Vec::new, |c| c.warnings().iter().map(located).collect()),
        });
        if let Some(c) = &self.catalog {
            out["resources"] = json!(c.resources().len());
            out["scopes"] = json!(c.scope_count());
            out["bundles"] = json!(c.bundles().len());
            out["routes"] = json!(c.routes().len());
        }
        out
    }
}

#[derive(Subcommand)]
pub enum CatalogCommand {
    /// Exit 0 if every catalog is valid; otherwise print `file:line:col:
    /// message` for each problem and exit 1.
    Validate {
        /// Catalog files to check (one or more).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print one JSON object per file, in an array: `file`, `valid`,
        /// `errors` and `warnings` (`line`, `column`, `message`), and the
        /// counts of a valid catalog.
        #[arg(long)]
        json: bool,
    },
    /// Say what changing catalog OLD to NEW does: scopes, routes, bundles
    /// and settings added, removed or changed, and, given a store, which
    /// active keys gain access, lose it, or hold grants that become stale,
    /// per account. Exit 0: nothing changes; 1: something does; 2: a
    /// catalog is invalid or the keys cannot be read.
    Diff(diff::DiffArgs),
    /// Print the catalog for clients or docs.
    Export {
        file: PathBuf,
        #[arg(long, value_enum)]
        format: ExportFormat,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Json,
    Typescript,
    Markdown,
    Openapi,
}

pub fn run(command: CatalogCommand) -> ExitCode {
    match command {
        CatalogCommand::Diff(args) => diff::run(args),
        CatalogCommand::Validate { files, json } => {
            let reports: Vec<Report> = files.iter().map(|f| validate(f)).collect();
            if json {
                let array: Vec<serde_json::Value> = reports.iter().map(Report::to_json).collect();
                println!("{}", serde_json::Value::Array(array));
            } else {
                for report in &reports {
                    report.print();
                }
            }
            if reports.iter().all(|r| r.catalog.is_some()) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        CatalogCommand::Export { file, format } => match load_catalog(&file) {
            Ok(catalog) => {
                let text = match format {
                    ExportFormat::Json => export::to_json(&catalog),
                    ExportFormat::Typescript => export::to_typescript(&catalog),
                    ExportFormat::Markdown => export::to_markdown(&catalog),
                    ExportFormat::Openapi => export::to_openapi(&catalog),
                };
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                ExitCode::from(EXIT_BAD_INPUT)
            }
        },
    }
}
