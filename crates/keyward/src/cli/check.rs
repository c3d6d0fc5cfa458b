//! `keyward check`: one decision, explained.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use keyward_scopes::{Catalog, Decision, Via};
use serde::Serialize;

use super::{load_catalog, EXIT_BAD_INPUT};

#[derive(Args)]
#[command(group = clap::ArgGroup::new("request").required(true).args(["need", "method"]))]
pub struct CheckArgs {
    /// The catalog file.
    #[arg(long)]
    catalog: PathBuf,
    /// A grant of the key (scope, wildcard, superscope or bundle). Repeat or
    /// separate with commas.
    #[arg(long = "grant", required = true, num_args = 1.., value_delimiter = ',')]
    grants: Vec<String>,
    /// A scope the request needs. Repeat or separate with commas.
    #[arg(long, num_args = 1.., value_delimiter = ',', conflicts_with_all = ["method", "path"])]
    need: Vec<String>,
    /// The request's HTTP method (with --path).
    #[arg(long, requires = "path")]
    method: Option<String>,
    /// The request's path, as sent (percent-encoded, query string allowed).
    #[arg(long, requires = "method")]
    path: Option<String>,
    /// Print `{"allowed","required","missing","granted"}` instead of an
    /// explanation.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct CheckOutput<'a> {
    allowed: bool,
    code: &'static str,
    required: Vec<&'a str>,
    missing: Vec<&'a str>,
    granted: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

pub fn run(args: CheckArgs) -> ExitCode {
    match decide_and_print(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

/// `Ok(allowed)`, or the bad input.
fn decide_and_print(args: &CheckArgs) -> Result<bool, String> {
    let catalog = load_catalog(&args.catalog)?;
    if let Err(errors) = catalog.check_grants(&args.grants) {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        return Err(lines.join("\nerror: "));
    }
    let grants = catalog.compile_grants(&args.grants);
    let requirement;
    let decision = match (&args.method, &args.path) {
        (Some(method), Some(path)) => {
            let method = method.to_ascii_uppercase();
            if keyward_scopes::Method::parse(&method).is_none() {
                return Err(format!(
                    "unknown HTTP method `{method}`: expected GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS"
                ));
            }
            catalog.decide_route(&grants, &method, path)
        }
        _ => {
            requirement = catalog.requirement(&args.need).map_err(|e| e.to_string())?;
            catalog.decide(&grants, &requirement)
        }
    };
    if args.json {
        let output = CheckOutput {
            allowed: decision.allowed(),
            code: decision.outcome().code(),
            required: decision.required(),
            missing: decision.missing(),
            granted: &args.grants,
            route: decision.route().map(route_label),
            detail: detail(&decision),
        };
        println!("{}", serde_json::to_string_pretty(&output).map_err(|e| e.to_string())?);
    } else {
        print!("{}", explain(&catalog, &args.grants, &decision));
    }
    Ok(decision.allowed())
}

fn route_label(route: &keyward_scopes::Route) -> String {
    let methods: Vec<&str> = route.methods.iter().map(|m| m.as_str()).collect();
    format!("{} {}", methods.join(","), route.path)
}

fn detail(decision: &Decision<'_>) -> Option<String> {
    decision.detail()
}

/// The human answer: the verdict, then which grant covered each required
/// scope and which are missing.
fn explain(catalog: &Catalog, grants: &[String], decision: &Decision<'_>) -> String {
    let mut out = String::new();
    let verdict = if decision.allowed() { "allowed" } else { "denied" };
    out.push_str(&format!("{verdict} ({})\n", decision.outcome().code()));
    if let Some(route) = decision.route() {
        out.push_str(&format!("  route: {} (line {})\n", route_label(route), route.line));
    }
    if let Some(d) = detail(decision) {
        out.push_str(&format!("  {d}\n"));
    }
    if decision.no_route().is_none() && decision.required_ids().next().is_none() {
        out.push_str("  no scope required\n");
    }
    for id in decision.required_ids() {
        let scope = catalog.scope_name(id);
        match catalog.explain(grants, id) {
            Some(coverage) => {
                let how = match coverage.via {
                    Via::Exact => "granted as is".to_owned(),
                    Via::GlobalWildcard => "global wildcard".to_owned(),
                    Via::Superscope => "superscope".to_owned(),
                    Via::ResourceWildcard => "resource wildcard".to_owned(),
                    Via::Bundle => "bundle".to_owned(),
                    Via::Implied { from } => format!("implied by {from}"),
                };
                out.push_str(&format!("  {scope}: covered by `{}` ({how})\n", coverage.grant));
            }
            None => out.push_str(&format!("  {scope}: MISSING\n")),
        }
    }
    out.push_str(&format!("  granted: {}\n", grants.join(", ")));
    out
}
