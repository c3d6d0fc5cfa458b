//! `keyward catalog validate|export`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use keyward_scopes::export;

use super::{load_catalog, EXIT_BAD_INPUT};

#[derive(Subcommand)]
pub enum CatalogCommand {
    /// Exit 0 if the catalog is valid; otherwise print `file:line:col: message`
    /// for each problem and exit 1.
    Validate { file: PathBuf },
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
        CatalogCommand::Validate { file } => match load_catalog(&file) {
            Ok(catalog) => {
                let c = catalog;
                for w in c.warnings() {
                    eprintln!("{}:{}:{}: warning: {}", file.display(), w.line, w.column, w.message);
                }
                println!(
                    "{}: ok: {} resources, {} scopes, {} bundles, {} routes",
                    file.display(),
                    c.resources().len(),
                    c.scope_count(),
                    c.bundles().len(),
                    c.routes().len()
                );
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                ExitCode::FAILURE
            }
        },
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
