//! Method overrides against the real parsers (docs/SECURITY.md): a
//! generated table of query strings (spellings of `_method=DELETE` and
//! ordinary parameters) runs through PHP's `parse_str`, Node's
//! `querystring` and `qs`, Rack and Python's `parse_qsl`, and through
//! keyward on `/v1/authz`, `/v1/authz/envoy` and `/v1/verify`.
//!
//! Whenever any parser reads a `_method`, keyward refuses on all three;
//! when none does, keyward allows, except the strings it refuses as
//! ambiguous, which the test lists with the reason of each. The models of
//! `model.rs` must agree with each real parser on every string, so the
//! fuzz target that uses them (`fuzz/fuzz_targets/query_override.rs`)
//! checks against parsers that are known to be modelled right.

pub mod model;

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::hostile::{exchange, serve};
use crate::support::{Backend, TestStore};

const TARGET: &str = "/api/public/v1/campaigns/42";

/// A small deterministic generator (xorshift64*): the table is the same on
/// every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
        options[self.below(options.len())]
    }
}

/// One byte of a name, spelled one of the ways a client can.
fn spell(b: u8, rng: &mut Rng) -> String {
    if !b.is_ascii() {
        return format!("%{b:02X}");
    }
    match rng.below(10) {
        0 | 1 => format!("%{b:02X}"),
        2 => format!("%{b:02x}"),
        3 if b.is_ascii_alphabetic() && rng.below(3) == 0 => (b.to_ascii_uppercase() as char).to_string(),
        4 if b == b'_' => rng.pick(&[".", "+", "%20", "[", "%2E", "%5F", "__"]).to_owned(),
        5 if rng.below(4) == 0 => format!("%25{b:02X}"),
        6 if rng.below(4) == 0 => format!("%u00{b:02X}"),
        _ => (b as char).to_string(),
    }
}

fn spelled(name: &str, rng: &mut Rng, plain: bool) -> String {
    if plain {
        return name.to_owned();
    }
    name.bytes().map(|b| spell(b, rng)).collect()
}

const PREFIXES: &[&str] = &[
    "", "", "", "+", "%20", "[", "]", "[[", "%00", ".", "x", "%5B", "++", "%09",
];
const SUFFIXES: &[&str] = &[
    "", "", "", "%00", "%00x", "[]", "[x]", "[", "]", "%5B%5D", "%5b", ".", "+", "%20", "_", "s", "x", "[a]b]", "]]",
    "%5D", "[]x", "%",
];
const VALUES: &[&str] = &["=DELETE", "=DEL%45TE", "=", "", "=delete", "=DELETE%00", "=%zz"];
const BEFORE: &[&str] = &[
    "", "", "a=1&", "a=1;", "a=1#&", "a=1&&", "x[y]=1&", "a=%zz&", "a=%FF&", "x=%26", "x%26", "?",
];
const AFTER: &[&str] = &["", "", "&b=2", ";b=2", "#x", "&_method=DELETE", "&c=%"];
const ORDINARY: &[&str] = &[
    "method",
    "x_method",
    "_methods",
    "methodx",
    "_meth",
    "q",
    "page",
    "filter[status]",
    "a.b",
    "_",
    "__method",
    "_m.ethod",
    "_method_",
    "_method.",
    "method_",
    "m_ethod",
    "_metho",
    "ethod",
    "_methodx",
    "_m%C3%ABthod",
];
const ORDINARY_VALUES: &[&str] = &[
    "=1",
    "=_method",
    "=_method%3DDELETE",
    "=%2Fx%3F_method%3DDELETE",
    "",
    "=",
    "=a+b",
    "=%5B%5D",
];

/// The table: the hostile pass's spellings, then generated mutations of
/// `_method=DELETE` and of ordinary parameters.
pub fn table() -> Vec<String> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut rows: Vec<String> = [
        "_method=DELETE",
        "_m%65thod=DELETE",
        "%5F%6D%65%74%68%6F%64=DELETE",
        ".method=DELETE",
        "_method%00=DELETE",
        "method=DELETE",
        "x_method=DELETE",
        "_methods=DELETE",
        "_method_=DELETE",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for _ in 0..2000 {
        let prefix = rng.pick(PREFIXES);
        let plain = rng.below(6) == 0;
        let name = format!("{prefix}{}{}", spelled("_method", &mut rng, plain), rng.pick(SUFFIXES));
        rows.push(format!(
            "{}{name}{}{}",
            rng.pick(BEFORE),
            rng.pick(VALUES),
            rng.pick(AFTER)
        ));
    }
    for _ in 0..700 {
        let name = rng.pick(ORDINARY).to_owned();
        let plain = rng.below(2) == 0;
        let name = spelled(&name, &mut rng, plain);
        rows.push(format!(
            "{}{name}{}{}",
            rng.pick(BEFORE),
            rng.pick(ORDINARY_VALUES),
            rng.pick(AFTER)
        ));
    }
    let mut seen = HashSet::new();
    rows.retain(|r| seen.insert(r.clone()));
    rows
}

fn here() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/parsers"))
}

/// Runs one real parser over the table: what it printed per line.
fn run_parser(name: &str, program: &str, args: &[&str], env: &[(&str, &Path)], table: &[String]) -> Vec<bool> {
    let mut child = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("the {name} parser needs `{program}` (scripts/test installs it: .ci/install-test-tools): {e}")
        });
    let mut input = table.join("\n");
    input.push('\n');
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<bool> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| match l {
            "1" => true,
            "0" => false,
            other => panic!("{name} printed {other:?}"),
        })
        .collect();
    assert_eq!(
        lines.len(),
        table.len(),
        "{name} answered {} of {} lines",
        lines.len(),
        table.len()
    );
    lines
}

/// What each real parser reads, by the parsers' names in `model::PARSERS`.
fn real_readings(table: &[String]) -> Vec<(&'static str, Vec<bool>)> {
    let qs = crate::tools::npm_package("qs", "qs@6.17.1");
    let script = |file: &str| here().join(file).to_string_lossy().into_owned();
    vec![
        ("php", run_parser("PHP", "php", &[&script("read.php")], &[], table)),
        (
            "node-querystring",
            run_parser(
                "Node querystring",
                "node",
                &[&script("read.cjs"), "querystring"],
                &[],
                table,
            ),
        ),
        (
            "qs",
            run_parser("qs", "node", &[&script("read.cjs"), "qs"], &[("NODE_PATH", &qs)], table),
        ),
        (
            "qs-allow-dots",
            run_parser(
                "qs allowDots",
                "node",
                &[&script("read.cjs"), "qs-allow-dots"],
                &[("NODE_PATH", &qs)],
                table,
            ),
        ),
        ("rack", run_parser("Rack", "ruby", &[&script("read.rb")], &[], table)),
        (
            "python",
            run_parser("Python", "python3", &[&script("read.py")], &[], table),
        ),
    ]
}

#[test]
fn the_models_read_what_the_real_parsers_read() {
    let table = table();
    let mut wrong = Vec::new();
    for (parser, readings) in real_readings(&table) {
        let (_, model) = model::PARSERS.iter().find(|(name, _)| *name == parser).unwrap();
        let reads = readings.iter().filter(|r| **r).count();
        eprintln!("{parser} reads `_method` in {reads} of {} query strings", table.len());
        assert!(
            reads > 100 && reads < table.len() - 100,
            "{parser}: {reads} of {}",
            table.len()
        );
        for (query, real) in table.iter().zip(readings) {
            if model(query.as_bytes(), false) != real {
                wrong.push(format!(
                    "{parser}: {query:?}: the parser {} `_method`",
                    if real { "reads" } else { "does not read" }
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{} disagreements:\n{}", wrong.len(), wrong.join("\n"));
}

/// keyward's answer for one way: whether it refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Authz,
    Envoy,
    Verify,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyward_refuses_every_query_a_real_parser_reads_as_an_override_on_all_three_endpoints() {
    let table = table();
    let real = real_readings(&table);
    let t = TestStore::new(Backend::Sqlite).await;
    let nginx = serve(&t, "coldsend", "nginx").await;
    let envoy = serve(&t, "coldsend", "envoy").await;
    let (_, key) = nginx.create_key("acme", &["campaigns:read"]).await;

    let mut wrong = Vec::new();
    let mut ambiguous: Vec<(String, &'static str)> = Vec::new();
    let (mut read, mut benign) = (0, 0);
    for (i, query) in table.iter().enumerate() {
        let readers: Vec<&str> = real.iter().filter(|(_, r)| r[i]).map(|(name, _)| *name).collect();
        let target = format!("{TARGET}?{query}");
        for way in [Way::Authz, Way::Envoy, Way::Verify] {
            // Neither Envoy nor the API behind it sees a fragment: hyper
            // drops it, as Envoy does.
            let (seen, readers) = match way {
                Way::Envoy if query.contains('#') => {
                    let cut = query.split('#').next().unwrap_or_default().to_owned();
                    let readers = model::readers(&cut, false);
                    (cut, readers)
                }
                _ => (query.clone(), readers.clone()),
            };
            let refused = match refused(way, &nginx.url, &envoy.url, &key, &target).await {
                Ok(refused) => refused,
                Err(e) => {
                    wrong.push(format!("{way:?} {query:?}: {e}"));
                    continue;
                }
            };
            let why = model::why_ambiguous(&seen);
            match (readers.is_empty(), refused, why) {
                (false, true, _) | (true, false, None) => {}
                (true, true, Some(why)) => {
                    if way == Way::Verify {
                        ambiguous.push((seen.clone(), why));
                    }
                }
                (false, false, _) => wrong.push(format!("{way:?} {query:?}: allowed, but {readers:?} read `_method`")),
                (true, true, None) => wrong.push(format!("{way:?} {query:?}: refused, but no parser reads `_method`")),
                (true, false, Some(why)) => wrong.push(format!(
                    "{way:?} {query:?}: allowed, but keyward's rule reads `_method` ({why})"
                )),
            }
        }
        if readers.is_empty() {
            benign += 1;
        } else {
            read += 1;
        }
    }
    eprintln!(
        "{} query strings: {read} read as `_method` by at least one parser, {benign} by none, of which keyward refuses {} as ambiguous:",
        table.len(),
        ambiguous.len()
    );
    for (query, why) in &ambiguous {
        eprintln!("  {query:?}: {why}");
    }
    let mut reasons: Vec<&str> = ambiguous.iter().map(|(_, why)| *why).collect();
    reasons.sort_unstable();
    reasons.dedup();
    for reason in reasons {
        let n = ambiguous.iter().filter(|(_, why)| *why == reason).count();
        eprintln!("{n} refused as ambiguous: {reason}");
    }
    assert!(
        read > 500 && benign > 500,
        "the table should hold both kinds: {read} read, {benign} not"
    );
    assert!(wrong.is_empty(), "{} wrong answers:\n{}", wrong.len(), wrong.join("\n"));
    drop((nginx, envoy));
    t.finish().await;
}

/// Whether keyward refused `GET target` (which the key may make) on `way`.
async fn refused(way: Way, nginx: &str, envoy: &str, key: &str, target: &str) -> Result<bool, String> {
    let key_header = ("X-API-Key".to_owned(), key.to_owned());
    let answer = match way {
        Way::Authz => {
            let headers = vec![
                ("Host".to_owned(), "keyward".to_owned()),
                ("X-Original-Method".to_owned(), "GET".to_owned()),
                ("X-Original-URI".to_owned(), target.to_owned()),
                key_header,
            ];
            exchange(nginx, "GET", "/v1/authz", &headers, "").await?
        }
        Way::Envoy => {
            let headers = vec![("Host".to_owned(), "api.example.com".to_owned()), key_header];
            exchange(envoy, "GET", &format!("/v1/authz/envoy{target}"), &headers, "").await?
        }
        Way::Verify => {
            let headers = vec![
                ("Host".to_owned(), "keyward".to_owned()),
                ("Content-Type".to_owned(), "application/json".to_owned()),
            ];
            let body = json!({"key": key, "method": "GET", "path": target}).to_string();
            let answer = exchange(nginx, "POST", "/v1/verify", &headers, &body).await?;
            let v = answer.json();
            return match (answer.status, v["valid"].as_bool(), v["code"].as_str()) {
                (200, Some(true), _) => Ok(false),
                (200, Some(false), Some("UNKNOWN_ROUTE")) => Ok(true),
                _ => Err(format!("unexpected answer {} {}", answer.status, answer.body)),
            };
        }
    };
    match (answer.status, answer.header("x-keyward-code")) {
        (200, _) => Ok(false),
        (403, Some("UNKNOWN_ROUTE")) => Ok(true),
        _ => Err(format!("unexpected answer {} {}", answer.status, answer.body)),
    }
}

/// The fuzz target starts from a sample of the table:
/// `fuzz/seeds/query_override/table-NNNN`, one query string each (beside
/// them, inputs the fuzzer once found). Rewrite
/// them with `KEYWARD_WRITE_SEEDS=1` after changing the table.
#[test]
fn the_fuzz_target_is_seeded_with_the_table() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/seeds/query_override"));
    let sample: Vec<(String, String)> = table()
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i < 9 || i % 10 == 0)
        .map(|(i, query)| (format!("table-{i:04}"), query))
        .collect();
    if std::env::var_os("KEYWARD_WRITE_SEEDS").is_some() {
        std::fs::create_dir_all(dir).unwrap();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("table-"))
            {
                std::fs::remove_file(path).unwrap();
            }
        }
        for (name, query) in &sample {
            std::fs::write(dir.join(name), query).unwrap();
        }
    }
    let mut found: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e} (write the seeds with KEYWARD_WRITE_SEEDS=1)", dir.display()))
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(entry.path()).unwrap_or_default())
        })
        .filter(|(name, _)| name.starts_with("table-"))
        .collect();
    found.sort();
    assert!(
        found == sample,
        "fuzz/seeds/query_override is not the table's sample: rewrite it with KEYWARD_WRITE_SEEDS=1"
    );
}
