//! Store benchmarks on the lab sizes of the issue: submit 10,000 jobs; load the scheduler
//! snapshot of a lab with 2,000 devices and 10,000 queued jobs; apply 1,000 assignments
//! (job Scheduled + device Reserved, with preconditions) in one transaction.
//!
//! SQLite always; PostgreSQL when `LAVA_TEST_POSTGRES_URL` is set
//! (`eval "$(scripts/pg-test-cluster.sh start)"`).
//!
//! `cargo bench -p lava-store --bench store`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use lava_core::model::{
    Device, DeviceHealth, DeviceState, DeviceType, HealthDenominator, Job, JobHealth, JobState,
    Priority, Tag, Worker, WorkerHealth, WorkerState,
};
use lava_core::time::Timestamp;
use lava_store::{ChangeSet, PostgresConfig, PostgresStore, Precondition, SqliteStore, Store};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

const DEVICES: usize = 2_000;
const DEVICE_TYPES: usize = 20;
const WORKERS: usize = 50;
const QUEUED: usize = 10_000;
const ASSIGNMENTS: usize = 1_000;

/// A job definition of a realistic size (about 1 KiB, like a small LAVA QEMU job).
fn definition(device_type: &str, n: usize) -> String {
    format!(
        "device_type: {device_type}\njob_name: bench job {n}\npriority: medium\nvisibility: public\n\
         timeouts:\n  job:\n    minutes: 30\n  action:\n    minutes: 5\n  connection:\n    minutes: 2\n\
         context:\n  arch: amd64\nactions:\n- deploy:\n    to: tmpfs\n    timeout:\n      minutes: 5\n\
         \x20   images:\n      rootfs:\n        url: https://images.example.org/debian/bookworm/rootfs-{n}.img.gz\n\
         \x20       compression: gz\n        image_arg: -drive format=raw,file={{rootfs}}\n\
         - boot:\n    method: qemu\n    media: tmpfs\n    timeout:\n      minutes: 2\n    prompts:\n    - 'root@debian:'\n\
         \x20   auto_login:\n      login_prompt: 'login:'\n      username: root\n\
         - test:\n    timeout:\n      minutes: 10\n    definitions:\n    - repository: https://git.example.org/tests.git\n\
         \x20     from: git\n      path: smoke/smoke.yaml\n      name: smoke-tests-{n}\n"
    )
}

fn dt_name(i: usize) -> String {
    format!("dt{:02}", i % DEVICE_TYPES)
}

fn queued_job(n: usize) -> Job {
    let dt = dt_name(n);
    Job {
        id: 0,
        submitter: format!("user{}", n % 17),
        definition: definition(&dt, n),
        state: JobState::Submitted,
        health: JobHealth::Unknown,
        priority: Priority::new((n % 101) as i64).unwrap_or_default(),
        submit_time: Timestamp::from_secs(1_600_000_000 + n as i64),
        start_time: None,
        end_time: None,
        requested_device_type: Some(dt),
        tags: if n % 5 == 0 {
            BTreeSet::from([format!("tag{}", n % 3)])
        } else {
            BTreeSet::new()
        },
        multinode: None,
        health_check: false,
        actual_device: None,
        failure_comment: None,
        is_public: true,
    }
}

/// Device types and tags of the benchmark lab: what submitted jobs refer to.
async fn lab_types<S: Store>(store: &S) {
    for i in 0..DEVICE_TYPES {
        store
            .add_device_type(&DeviceType {
                name: dt_name(i),
                health_check_definition: Some(definition(&dt_name(i), 0)),
                health_frequency: 24,
                health_denominator: HealthDenominator::Hours,
                disable_health_check: false,
                display: true,
                description: String::new(),
            })
            .await
            .unwrap();
    }
    for i in 0..3 {
        store
            .add_tag(&Tag {
                name: format!("tag{i}"),
                description: String::new(),
            })
            .await
            .unwrap();
    }
}

/// Device types, tags, workers and devices of the benchmark lab.
async fn lab<S: Store>(store: &S) {
    lab_types(store).await;
    for i in 0..WORKERS {
        store
            .add_worker(&Worker {
                hostname: format!("worker{i:02}"),
                state: WorkerState::Online,
                health: WorkerHealth::Active,
                description: String::new(),
                job_limit: 0,
                last_ping: Some(Timestamp::from_secs(1_600_000_000)),
                version: Some("2020.05".into()),
            })
            .await
            .unwrap();
    }
    for i in 0..DEVICES {
        store
            .add_device(&Device {
                hostname: format!("device{i:04}"),
                device_type: dt_name(i),
                state: DeviceState::Idle,
                health: DeviceHealth::Good,
                worker: Some(format!("worker{:02}", i % WORKERS)),
                tags: if i % 4 == 0 {
                    BTreeSet::from([format!("tag{}", i % 3)])
                } else {
                    BTreeSet::new()
                },
                last_health_report_job: None,
                description: String::new(),
            })
            .await
            .unwrap();
    }
}

/// The assignments of one scheduling pass, and the change set that undoes them.
fn assignments(jobs: &[Job], devices: &[Device]) -> (ChangeSet, ChangeSet) {
    let mut forward = ChangeSet::new();
    let mut back = ChangeSet::new();
    for (job, device) in jobs.iter().zip(devices).take(ASSIGNMENTS) {
        let mut j = job.clone();
        j.state = JobState::Scheduled;
        j.actual_device = Some(device.hostname.clone());
        let mut d = device.clone();
        d.state = DeviceState::Reserved;
        forward = forward
            .require(Precondition::JobState(job.id, JobState::Submitted))
            .require(Precondition::DeviceState(
                device.hostname.clone(),
                DeviceState::Idle,
            ))
            .job(j)
            .device(d);
        back = back.job(job.clone()).device(device.clone());
    }
    (forward, back)
}

/// This process's CPU time (all threads) in milliseconds. On a shared, loaded machine it
/// says more about the store's own cost than wall time; for PostgreSQL it leaves out the
/// server's share.
fn cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}

/// Prints the mean process CPU time of `runs` calls of `op` (set-up excluded).
fn report_cpu(label: &str, runs: usize, mut op: impl FnMut() -> f64) {
    let total: f64 = (0..runs).map(|_| op()).sum();
    eprintln!("{label}: process CPU {:.1} ms per run", total / runs as f64);
}

fn bench_store<S: Store + 'static>(
    c: &mut Criterion,
    rt: &Runtime,
    name: &str,
    mut open: impl FnMut() -> S,
) {
    let mut group = c.benchmark_group(format!("store/{name}"));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));

    let jobs: Vec<Job> = (0..QUEUED).map(queued_job).collect();
    group.bench_function("submit 10000 jobs", |b| {
        b.iter_batched(
            || {
                let store = open();
                rt.block_on(lab_types(&store));
                store
            },
            |store| {
                rt.block_on(store.submit(&jobs)).unwrap();
                store
            },
            BatchSize::PerIteration,
        );
    });
    report_cpu(&format!("store/{name}/submit 10000 jobs"), 3, || {
        let store = open();
        rt.block_on(lab_types(&store));
        let start = cpu_ms();
        rt.block_on(store.submit(&jobs)).unwrap();
        cpu_ms() - start
    });

    let store = open();
    rt.block_on(async {
        lab(&store).await;
        store.submit(&jobs).await.unwrap();
    });
    group.bench_function("snapshot 2000 devices 10000 queued", |b| {
        b.iter(|| rt.block_on(store.scheduler_snapshot()).unwrap());
    });
    report_cpu(
        &format!("store/{name}/snapshot 2000 devices 10000 queued"),
        10,
        || {
            let start = cpu_ms();
            rt.block_on(store.scheduler_snapshot()).unwrap();
            cpu_ms() - start
        },
    );

    let snapshot = rt.block_on(store.scheduler_snapshot()).unwrap();
    let (forward, back) = assignments(&snapshot.queued_jobs, &snapshot.devices);
    group.bench_function("apply 1000 assignments", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                rt.block_on(store.apply(&forward)).unwrap();
                total += start.elapsed();
                rt.block_on(store.apply(&back)).unwrap();
            }
            total
        });
    });
    report_cpu(&format!("store/{name}/apply 1000 assignments"), 5, || {
        let start = cpu_ms();
        rt.block_on(store.apply(&forward)).unwrap();
        let spent = cpu_ms() - start;
        rt.block_on(store.apply(&back)).unwrap();
        spent
    });
    group.finish();
}

fn sqlite(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    bench_store(c, &rt, "sqlite", || {
        n += 1;
        SqliteStore::open(dir.path().join(format!("bench{n}.sqlite3"))).unwrap()
    });
}

fn postgres(c: &mut Criterion) {
    let Ok(url) = std::env::var("LAVA_TEST_POSTGRES_URL") else {
        eprintln!("store/postgres: skipped, LAVA_TEST_POSTGRES_URL is not set");
        return;
    };
    let rt = Runtime::new().unwrap();
    let mut n = 0;
    bench_store(c, &rt, "postgres", || {
        n += 1;
        let schema = format!("bench_{}_{n}", std::process::id());
        let url = url.clone();
        let config = rt.block_on(async move {
            tokio::task::spawn_blocking(move || {
                let mut config: PostgresConfig = url.parse().unwrap();
                let mut client = config.connect(postgres::NoTls).unwrap();
                client
                    .batch_execute(&format!(
                        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
                    ))
                    .unwrap();
                config.options(&format!("-c search_path={schema}"));
                config
            })
            .await
            .unwrap()
        });
        rt.block_on(PostgresStore::connect_with(config, false))
            .unwrap()
    });
}

criterion_group!(benches, sqlite, postgres);
criterion_main!(benches);
