//! Scheduling passes over a benchmark lab, for instruction counts that do not depend on the
//! machine's load:
//!
//! ```text
//! valgrind --tool=callgrind target/release/examples/scheduler_pass lab-2000-10000 --passes N [--no-explain]
//! ```
//!
//! The lab is loaded first (`--passes 0` counts only that). The passes share a
//! `HealthCheckMemo`, as a long-running master's do: the first pass is cold (it reads every
//! health-check definition it uses), the next ones are warm. So the count of 1 pass minus
//! that of 0 is a cold pass, and 2 minus 1 is a warm pass.

use lava_benches::{labs_dir, load_lab};
use lava_core::scheduler::{
    schedule_with, DeviceOrder, HealthCheckMemo, PassOptions, SnapshotDictionaries,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map_or("lab-2000-10000", String::as_str);
    let passes: u64 = args
        .iter()
        .position(|a| a == "--passes")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let path = labs_dir().join(format!("{name}.json.gz"));
    let lab = match load_lab(&path) {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let mut memo = HealthCheckMemo::default();
    for seed in 0..passes {
        let options = PassOptions {
            order: DeviceOrder::Shuffled { seed },
            device_types: None,
            explain: !args.iter().any(|a| a == "--no-explain"),
        };
        let decisions = schedule_with(
            &lab,
            &options,
            &mut SnapshotDictionaries::with_memo(&lab, &mut memo),
        );
        println!(
            "{name}: {} assignments, {} health checks, {} waiting jobs explained",
            decisions.assignments.len(),
            decisions.health_checks.len(),
            decisions.waiting_jobs.len()
        );
    }
}
