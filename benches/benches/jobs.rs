//! Job definitions: validation speed on typical definitions (LAVA 2020.05's verdict with the
//! dispatcher-side warnings, YAML reading included), and YAML reading at 10^5 mapping keys
//! and 10^5 list items (issue 15: it must stay linear in the input).
//!
//! The typical definitions are [`lava_benches::TYPICAL_JOBS`]. Goal: ≥ 50,000 a second on
//! one core. `job_validation/*` measures wall-clock time; `job_validation_cpu/*` the same
//! work in the CPU time the benchmark thread was given ([`ThreadCpuTime`]), which other work
//! on a shared machine does not inflate. `benches/examples/job_validation` judges the same
//! texts for instruction counts.

use criterion::measurement::Measurement;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lava_benches::typical_jobs;
use lava_core::job;

fn validation(c: &mut Criterion) {
    typical(c, "job_validation");
}

fn validation_cpu(c: &mut Criterion<ThreadCpuTime>) {
    typical(c, "job_validation_cpu");
}

fn typical<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let jobs = typical_jobs().expect("the conformance base jobs");
    for text in &jobs {
        job::validate(text).expect("a typical job LAVA accepts");
    }
    let mut group = c.benchmark_group(name);
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

/// A criterion measurement: the CPU time the benchmarking thread was given, in nanoseconds
/// (`CLOCK_THREAD_CPUTIME_ID`), rather than wall-clock time. On a machine shared with other
/// work, wall-clock time also measures how long the thread waited for a core; this measures
/// the code on one core. (Cache and memory contention still count.)
pub struct ThreadCpuTime;

impl ThreadCpuTime {
    /// The thread's CPU time so far, in nanoseconds.
    fn now() -> u64 {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
    }
}

/// Wall-clock time's formatter: both measure nanoseconds.
static WALL_TIME: criterion::measurement::WallTime = criterion::measurement::WallTime;

impl criterion::measurement::Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        Self::now()
    }

    fn end(&self, start: u64) -> u64 {
        Self::now().saturating_sub(start)
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }

    fn formatter(&self) -> &dyn criterion::measurement::ValueFormatter {
        WALL_TIME.formatter()
    }
}

criterion_group!(benches, validation, yaml_scaling);
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = validation_cpu
}
criterion_main!(benches, cpu);
