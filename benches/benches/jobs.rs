//! Job definitions: validation speed on typical definitions (LAVA 2020.05's verdict with the
//! dispatcher-side warnings, YAML reading included), and YAML reading at 10^5 mapping keys
//! and 10^5 list items (issue 15: it must stay linear in the input).
//!
//! The typical definitions are [`lava_benches::TYPICAL_JOBS`]. Goal: ≥ 50,000 a second on
//! one core. `benches/examples/job_validation` judges the same texts for instruction counts.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lava_benches::typical_jobs;
use lava_core::job;

fn validation(c: &mut Criterion) {
    let jobs = typical_jobs().expect("the conformance base jobs");
    for text in &jobs {
        job::validate(text).expect("a typical job LAVA accepts");
    }
    let mut group = c.benchmark_group("job_validation");
    group.throughput(Throughput::Elements(jobs.len() as u64));
    group.bench_function("typical_definitions", |b| {
        b.iter(|| {
            for text in &jobs {
                std::hint::black_box(job::validate(text).is_ok());
            }
        })
    });
    group.bench_function("typical_definitions_yaml_only", |b| {
        b.iter(|| {
            for text in &jobs {
                std::hint::black_box(job::yaml::parse(text).is_ok());
            }
        })
    });
    group.bench_function("typical_definitions_dispatcher_schema_only", |b| {
        b.iter(|| {
            for text in &jobs {
                std::hint::black_box(job::dispatcher_schema_issue(text, false).is_ok());
            }
        })
    });
    group.finish();
}

fn yaml_scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("job_yaml");
    group.sample_size(10);
    for n in [10_000usize, 100_000] {
        let keys: String = (0..n).map(|i| format!("k{i}: {i}\n")).collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("mapping_keys", n), &keys, |b, text| {
            b.iter(|| job::yaml::parse(text).map(|t| t.as_map().map(<[_]>::len)))
        });
        let items: String = (0..n).map(|i| format!("- item {i}\n")).collect();
        group.bench_with_input(BenchmarkId::new("list_items", n), &items, |b, text| {
            b.iter(|| job::yaml::parse(text).map(|t| t.as_seq().map(<[_]>::len)))
        });
        // A whole submission with 10^5 metadata keys, as an anonymous caller could send.
        let job = format!(
            "job_name: big\ndevice_type: qemu\nvisibility: public\ntimeouts: {{job: {{minutes: 5}}}}\n\
             actions: [{{command: {{name: x}}}}]\nmetadata:\n{}",
            (0..n).map(|i| format!("  k{i}: v\n")).collect::<String>()
        );
        group.bench_with_input(
            BenchmarkId::new("validate_metadata_keys", n),
            &job,
            |b, text| b.iter(|| job::validate(text).is_ok()),
        );
    }
    group.finish();
}

criterion_group!(benches, validation, yaml_scaling);
criterion_main!(benches);
