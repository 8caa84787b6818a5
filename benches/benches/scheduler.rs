//! One scheduling pass over each benchmark lab (`../shared/bench-labs/`, see
//! `lava_benches::labs_dir`), the same work LAVA 2020.05's `schedule()` was timed on; on
//! the 2,000 / 10,000 lab also without explanations, to show what they cost.
//!
//! Run: `cargo bench -p lava-benches --bench scheduler`.

use criterion::{criterion_group, criterion_main, Criterion};
use lava_benches::{labs_dir, load_lab, LABS};
use lava_core::scheduler::{schedule_with, DeviceOrder, PassOptions, SnapshotDictionaries};
use std::hint::black_box;

fn passes(c: &mut Criterion) {
    let mut group = c.benchmark_group("scheduler pass");
    for reference in LABS {
        let path = labs_dir().join(reference.file);
        let lab = match load_lab(&path) {
            Ok(lab) => lab,
            Err(e) => panic!("{e}"),
        };
        let name = reference.file.trim_end_matches(".json.gz");
        let variants: &[(bool, &str)] = if name == "lab-2000-10000" {
            &[(true, ""), (false, " without explanations")]
        } else {
            &[(true, "")]
        };
        for &(explain, suffix) in variants {
            let mut seed = 0u64;
            group.bench_function(format!("{name}{suffix}"), |b| {
                b.iter(|| {
                    // A new shuffle each pass, as LAVA draws a new random order each time.
                    seed = seed.wrapping_add(1);
                    let options = PassOptions {
                        order: DeviceOrder::Shuffled { seed },
                        device_types: None,
                        explain,
                    };
                    black_box(schedule_with(
                        black_box(&lab),
                        &options,
                        &mut SnapshotDictionaries::new(&lab),
                    ))
                })
            });
        }
        println!(
            "{name}: LAVA 2020.05 took {:.2} s for this pass",
            reference.lava_seconds
        );
    }
    group.finish();
}

criterion_group!(benches, passes);
criterion_main!(benches);
