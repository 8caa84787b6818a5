//! Conformance: lava-rs gives LAVA 2020.05's own verdict on every job definition of the
//! corpus recorded by `scripts/job-verdicts.sh` (LAVA's sample jobs and health checks, the
//! definitions written inline in LAVA's tests, and lava-rs' mutations of each rule).
//!
//! LAVA's texts are not in this repository: a fixture names its source and SHA-256, and the
//! text is read from `../shared/reference/lava-2020.05-server` (beside the checkout). The
//! test fails, naming what is missing, when that tree is absent.

use lava_core::job;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `shared/reference/lava-2020.05-server` beside the checkout (or beside a parent of it,
/// for a git worktree nested deeper).
fn lava_tree() -> PathBuf {
    let root = root().canonicalize().expect("the project root");
    let found = root
        .ancestors()
        .skip(1)
        .map(|dir| dir.join("shared/reference/lava-2020.05-server"))
        .find(|tree| tree.join("tests").is_dir());
    found.unwrap_or_else(|| {
        panic!(
            "LAVA 2020.05's server tree is missing: no shared/reference/lava-2020.05-server/tests \
             beside {} or its parents (the conformance corpus reads LAVA's job definitions \
             from ../shared/reference beside the checkout)",
            root.display()
        )
    })
}

/// The Python string literal starting at byte `col` of line `line` (1-based) of `source`.
fn python_literal(source: &str, line: usize, col: usize) -> String {
    let start = source
        .split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .sum::<usize>()
        + col;
    let text = &source[start..];
    let prefix_len = text
        .find(['\'', '"'])
        .expect("a string literal at the recorded position");
    let raw = text[..prefix_len].to_ascii_lowercase().contains('r');
    let body = &text[prefix_len..];
    let quote = if body.starts_with("\"\"\"") || body.starts_with("'''") {
        &body[..3]
    } else {
        &body[..1]
    };
    let mut out = String::new();
    let mut chars = body[quote.len()..].char_indices().peekable();
    let inner = &body[quote.len()..];
    while let Some((i, c)) = chars.next() {
        if inner[i..].starts_with(quote) {
            return out;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some((_, e)) = chars.next() else { break };
        if raw {
            out.push('\\');
            out.push(e);
            continue;
        }
        match e {
            '\n' => {}
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            '"' => out.push('"'),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            'x' => {
                let hex: String = (0..2)
                    .filter_map(|_| chars.next().map(|(_, c)| c))
                    .collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
            }
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    panic!("unterminated string literal at line {line}");
}

fn text_of(source: &str) -> String {
    if let Some(rel) = source.strip_prefix("lava:") {
        let path = lava_tree().join(rel);
        return std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    }
    if let Some(rest) = source.strip_prefix("lava-inline:") {
        let (rel, positions) = rest.rsplit_once('@').unwrap();
        let path = lava_tree().join(rel);
        let py = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        return positions
            .split('+')
            .map(|p| {
                let (l, c) = p.split_once(':').unwrap();
                python_literal(&py, l.parse().unwrap(), c.parse().unwrap())
            })
            .collect();
    }
    if let Some(name) = source.strip_prefix("mutation:") {
        let path = root()
            .join("lava-core/tests/fixtures/job-verdicts/mutations")
            .join(name);
        return std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    }
    panic!("unknown fixture source {source}");
}

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The exceptions of Python itself (not LAVA's or PyYAML's) that LAVA's submission path
/// lets through on some definitions.
const PYTHON_ERRORS: &[&str] = &[
    "KeyError",
    "TypeError",
    "AttributeError",
    "ValueError",
    "StopIteration",
    "RecursionError",
];

/// PyYAML's message without its `in "<unicode string>", line L, column C` marks (lava-rs
/// names the line apart), its parts joined with `: `.
fn without_positions(text: &str) -> String {
    let mut out = String::new();
    for part in text.split('\n') {
        if part.trim_start().starts_with("in \"<unicode string>\"") {
            if part.ends_with('.') && !out.ends_with('.') {
                out.push('.');
            }
            continue;
        }
        if !out.is_empty() && !out.ends_with('.') {
            out.push_str(": ");
        }
        out.push_str(part);
    }
    out
}

#[test]
fn lava_verdicts() {
    let fixtures = std::fs::read_to_string(
        root().join("lava-core/tests/fixtures/job-verdicts/verdicts.jsonl"),
    )
    .expect("the recorded verdicts (scripts/job-verdicts.sh writes them)");
    let (mut agree, mut accept_refused, mut refuse_accepted) = (0, 0, 0);
    let (mut same_reason, mut refusals) = (0, 0);
    let (mut warnings_agree, mut accepted) = (0, 0);
    let mut failures = Vec::new();
    for line in fixtures.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        let source = record["source"].as_str().unwrap();
        let text = text_of(source);
        assert_eq!(
            sha256(&text),
            record["sha256"].as_str().unwrap(),
            "{source}: the text is not the one LAVA judged (was the reference tree changed?)"
        );
        let lava_accepts = record["verdict"] == "accept";
        let ours = job::validate(&text);
        match (&ours, lava_accepts) {
            (Ok(validated), true) => {
                agree += 1;
                accepted += 1;
                // What LAVA accepts, lava-rs can also split into its sub-jobs.
                let definition = &validated.definition;
                if let Some(roles) = &definition.multinode {
                    let subs = job::split_multinode(definition, "group")
                        .unwrap_or_else(|e| panic!("{source}: accepted but not split: {e}"));
                    let expected: u32 = roles.iter().map(|r| r.count).sum();
                    assert_eq!(subs.len(), expected as usize, "{source}");
                    for sub in subs {
                        job::yaml::parse(&sub.definition).unwrap_or_else(|e| {
                            panic!("{source}: sub-job does not parse again: {e:?}")
                        });
                    }
                }
                let lava_warning = record["schema"]["msg"].as_str();
                let our_warning = validated.warnings.first().map(|w| w.message.as_str());
                // LAVA's schema code itself may fail (StopIteration on an empty action).
                let lava_fails = record["schema"]["exception"].is_string();
                if lava_warning == our_warning
                    || (record["schema"].is_null() && validated.warnings.is_empty())
                    || (lava_fails && !validated.warnings.is_empty())
                {
                    warnings_agree += 1;
                } else {
                    eprintln!(
                        "warning differs: {source}: LAVA {:?}, lava-rs {:?}",
                        record["schema"], validated.warnings
                    );
                }
            }
            (Err(e), false) => {
                agree += 1;
                refusals += 1;
                let lava_core::Error::JobDefinition(e) = e else {
                    panic!("{e}")
                };
                let lava_texts: Vec<String> = match record["errors"].as_array() {
                    Some(errors) => errors
                        .iter()
                        .filter_map(|e| e["text"].as_str().map(str::to_owned))
                        .collect(),
                    None => vec![record["message"].as_str().unwrap_or_default().to_owned()],
                };
                // A Python error (KeyError, TypeError...) is named with its class.
                let python = record["exception"]
                    .as_str()
                    .filter(|c| PYTHON_ERRORS.contains(c))
                    .map(|class| {
                        format!(
                            "{class}: {}",
                            record["message"].as_str().unwrap_or_default()
                        )
                    });
                let same = match python {
                    Some(p) => e.message.starts_with(&p),
                    None => lava_texts.iter().any(|t| without_positions(t) == e.message),
                };
                if same {
                    same_reason += 1;
                } else {
                    eprintln!(
                        "reason differs: {source}: LAVA {:?}, lava-rs {:?}",
                        record["message"], e.message
                    );
                }
            }
            (Ok(_), false) => {
                accept_refused += 1;
                failures.push(format!(
                    "{source}: LAVA refuses ({}: {}), lava-rs accepts",
                    record["exception"], record["message"]
                ));
            }
            (Err(e), true) => {
                refuse_accepted += 1;
                failures.push(format!("{source}: LAVA accepts, lava-rs refuses: {e}"));
            }
        }
    }
    let total = agree + accept_refused + refuse_accepted;
    eprintln!(
        "{total} job definitions: {agree} agree, {accept_refused} accepted that LAVA refuses, \
         {refuse_accepted} refused that LAVA accepts; LAVA's reason given for {same_reason} of \
         {refusals} refusals; dispatcher-side warnings agree for {warnings_agree} of {accepted} \
         accepted"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
