//! Judges the typical job definitions of the job-validation benchmark ([`TYPICAL_JOBS`])
//! a number of times, for instruction counts that do not depend on the machine's load:
//!
//! ```text
//! valgrind --tool=callgrind target/release/examples/job_validation --rounds N [--yaml-only]
//! ```
//!
//! Each round judges every typical definition once (`--yaml-only`: only reads its YAML).
//! The count of N rounds minus that of 0, divided by N times the number of definitions, is
//! the cost of one definition.

use lava_benches::{typical_jobs, TYPICAL_JOBS};
use lava_core::job;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds: u64 = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let yaml_only = args.iter().any(|a| a == "--yaml-only");
    let jobs = match typical_jobs() {
        Ok(jobs) => jobs,
        Err(e) => {
            eprintln!("cannot read the typical job definitions: {e}");
            std::process::exit(1);
        }
    };
    let mut accepted = 0u64;
    for _ in 0..rounds {
        for text in &jobs {
            let ok = if yaml_only {
                job::yaml::parse(text).is_ok()
            } else {
                job::validate(text).is_ok()
            };
            accepted += u64::from(std::hint::black_box(ok));
        }
    }
    println!(
        "{accepted} of {} judgements accepted ({} definitions, {rounds} rounds)",
        rounds * TYPICAL_JOBS.len() as u64,
        TYPICAL_JOBS.len()
    );
}
