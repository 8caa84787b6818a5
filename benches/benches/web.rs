//! Server time of each web page (and `/metrics`) on the 2,000 devices / 10,000 queued jobs
//! lab (`../shared/bench-labs/`), its rows in an in-memory store and in SQLite: the page is
//! asked of `lava_http::web::Web` directly (no socket), so the figure is what the server
//! spends reading the lab and rendering. Goal: under 50 ms a page.
//!
//! The queue page answers each job's reason from the latest pass's explanations, as in
//! lava-master, whose passes publish them (the lab's clock stands still here, so they stay
//! fresh); `why (dry pass)` is what a question costs when no pass is fresh (lava-admin).
//!
//! Run: `cargo bench -p lava-benches --bench web`.

use criterion::{criterion_group, criterion_main, Criterion};
use lava_benches::{labs_dir, load_lab, LAB_NOW};
use lava_core::model::Tag;
use lava_core::scheduler::LabSnapshot;
use lava_core::time::Timestamp;
use lava_http::web::{Login, Method, Web};
use lava_lab::{Clock, Lab, LabConfig, LabPaths};
use lava_store::{MemoryStore, Store};
use std::collections::BTreeSet;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

/// The lab's moment, standing still.
struct Fixed;

impl Clock for Fixed {
    fn now(&self) -> Timestamp {
        LAB_NOW
    }
}

/// CPU time (user + system) of this process so far.
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is always valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// CPU time of one run of `f`, as the mean of `runs`.
fn cpu_per_run(runs: u32, mut f: impl FnMut()) -> Duration {
    let before = cpu_time();
    for _ in 0..runs {
        f();
    }
    (cpu_time() - before) / runs
}

/// The lab's rows written to `store`.
async fn fill(store: &dyn Store, lab: &LabSnapshot) {
    let tags: BTreeSet<&String> = lab
        .devices
        .iter()
        .flat_map(|d| &d.tags)
        .chain(lab.jobs.iter().flat_map(|j| &j.tags))
        .collect();
    for name in tags {
        let tag = Tag {
            name: name.clone(),
            description: String::new(),
        };
        store.add_tag(&tag).await.unwrap();
    }
    for t in &lab.device_types {
        store.add_device_type(t).await.unwrap();
    }
    for w in &lab.workers {
        store.add_worker(w).await.unwrap();
    }
    for d in &lab.devices {
        store.add_device(d).await.unwrap();
    }
    store.submit(&lab.jobs).await.unwrap();
}

fn pages(c: &mut Criterion) {
    let snapshot =
        load_lab(&labs_dir().join("lab-2000-10000.json.gz")).unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stores: Vec<(&str, Arc<dyn Store>)> = vec![
        ("memory", Arc::new(MemoryStore::new())),
        (
            "sqlite",
            rt.block_on(lava_lab::open_store(
                dir.path().join("lava.sqlite3").to_str().unwrap(),
                false,
            ))
            .unwrap(),
        ),
    ];
    let device = snapshot.devices[0].hostname.clone();
    let worker = snapshot.workers[0].hostname.clone();
    let mut group = c.benchmark_group("web page lab-2000-10000");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(3));
    for (name, store) in stores {
        rt.block_on(fill(store.as_ref(), &snapshot));
        let paths = LabPaths::under(&dir.path().join(name));
        let lab = Arc::new(
            Lab::new(store, LabConfig::new(paths))
                .unwrap()
                .with_clock(Arc::new(Fixed)),
        );
        let job = rt
            .block_on(lab.store().jobs(&lava_store::JobFilter {
                limit: Some(1),
                ..Default::default()
            }))
            .unwrap()[0]
            .id;
        let web = Web::new(Arc::clone(&lab));
        let paths = [
            ("index", "/scheduler/".to_owned()),
            ("alljobs", "/scheduler/alljobs".to_owned()),
            ("queue", "/scheduler/queue".to_owned()),
            ("alldevices", "/scheduler/alldevices".to_owned()),
            ("allworkers", "/scheduler/allworkers".to_owned()),
            ("job", format!("/scheduler/job/{job}")),
            ("device", format!("/scheduler/device/{device}")),
            ("worker", format!("/scheduler/worker/{worker}")),
            ("metrics", "/metrics".to_owned()),
        ];
        for (page, path) in &paths {
            let answer = rt.block_on(web.page(&Method::GET, path, "", &Login::Anonymous));
            assert_eq!(answer.status, 200, "{path}: {}", answer.body);
            let cpu = cpu_per_run(20, || {
                black_box(rt.block_on(web.page(&Method::GET, path, "", &Login::Anonymous)));
            });
            println!("CPU time {name}/{page}: {:.2} ms", cpu.as_secs_f64() * 1e3);
            group.bench_function(format!("{name}/{page}"), |b| {
                b.iter(|| {
                    black_box(rt.block_on(web.page(&Method::GET, path, "", &Login::Anonymous)))
                })
            });
        }
        let cpu = cpu_per_run(5, || {
            black_box(rt.block_on(lab.explanations(-1)).unwrap());
        });
        println!(
            "CPU time {name}/why (dry pass): {:.2} ms",
            cpu.as_secs_f64() * 1e3
        );
        group.bench_function(format!("{name}/why (dry pass)"), |b| {
            b.iter(|| black_box(rt.block_on(lab.explanations(-1)).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, pages);
criterion_main!(benches);
