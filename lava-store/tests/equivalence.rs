//! Property: the SQLite store and the in-memory store answer every sequence of operations
//! the same way (same successes, same kinds of errors, same resulting lab). The memory store
//! is plain Rust written separately, so this cross-checks the SQL.

mod common;

use common::*;
use lava_core::model::{DeviceHealth, DeviceState, JobState};
use lava_core::time::Timestamp;
use lava_store::{ChangeSet, JobFilter, MemoryStore, Precondition, SqliteStore, Store, StoreError};
use proptest::prelude::*;

const TYPES: &[&str] = &["bbb", "qemu"];
const TAGS: &[&str] = &["a", "b"];
const WORKERS: &[&str] = &["w1", "w2"];
const DEVICES: &[&str] = &["d1", "d2", "d3"];

#[derive(Debug, Clone)]
enum Op {
    AddType(usize),
    RemoveType(usize),
    AddTag(usize),
    RemoveTag(usize),
    AddWorker(usize),
    RemoveWorker(usize),
    AddDevice {
        device: usize,
        ty: usize,
        worker: usize,
        tag: Option<usize>,
    },
    RemoveDevice(usize),
    Submit {
        ty: usize,
        tag: Option<usize>,
        count: usize,
    },
    /// Schedule the `job`-th job (by id order) on a device, with preconditions.
    Schedule {
        job: usize,
        device: usize,
    },
    /// Finish the `job`-th job and free its device.
    Finish {
        job: usize,
    },
    SetHealth {
        device: usize,
        health: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let t = 0..TYPES.len();
    let g = 0..TAGS.len();
    let w = 0..WORKERS.len();
    let d = 0..DEVICES.len();
    prop_oneof![
        t.clone().prop_map(Op::AddType),
        t.clone().prop_map(Op::RemoveType),
        g.clone().prop_map(Op::AddTag),
        g.clone().prop_map(Op::RemoveTag),
        w.clone().prop_map(Op::AddWorker),
        w.clone().prop_map(Op::RemoveWorker),
        (d.clone(), t.clone(), w, proptest::option::of(g.clone())).prop_map(
            |(device, ty, worker, tag)| Op::AddDevice {
                device,
                ty,
                worker,
                tag
            }
        ),
        d.clone().prop_map(Op::RemoveDevice),
        (t, proptest::option::of(g), 1..3usize).prop_map(|(ty, tag, count)| Op::Submit {
            ty,
            tag,
            count
        }),
        (0..6usize, d.clone()).prop_map(|(job, device)| Op::Schedule { job, device }),
        (0..6usize).prop_map(|job| Op::Finish { job }),
        (d, 0..DeviceHealth::ALL.len())
            .prop_map(|(device, health)| Op::SetHealth { device, health }),
    ]
}

/// The outcome, reduced to what both stores must agree on.
fn outcome<T>(r: Result<T, StoreError>) -> Result<(), String> {
    r.map(drop).map_err(|e| match e {
        StoreError::NotFound(w) => format!("NotFound({w})"),
        StoreError::AlreadyExists(w) => format!("AlreadyExists({w})"),
        StoreError::InUse { what, by } => format!("InUse({what}, {by})"),
        StoreError::Conflict(m) => format!("Conflict({m})"),
        other => panic!("unexpected error kind: {other}"),
    })
}

async fn run(s: &dyn Store, op: &Op) -> Result<(), String> {
    match op {
        Op::AddType(i) => outcome(s.add_device_type(&device_type(TYPES[*i])).await),
        Op::RemoveType(i) => outcome(s.remove_device_type(TYPES[*i]).await),
        Op::AddTag(i) => outcome(s.add_tag(&tag(TAGS[*i])).await),
        Op::RemoveTag(i) => outcome(s.remove_tag(TAGS[*i]).await),
        Op::AddWorker(i) => outcome(s.add_worker(&worker(WORKERS[*i])).await),
        Op::RemoveWorker(i) => outcome(s.remove_worker(WORKERS[*i]).await),
        Op::AddDevice {
            device: d,
            ty,
            worker: w,
            tag: g,
        } => {
            let mut dev = device(DEVICES[*d], TYPES[*ty], WORKERS[*w]);
            dev.tags = g.iter().map(|g| TAGS[*g].to_owned()).collect();
            outcome(s.add_device(&dev).await)
        }
        Op::RemoveDevice(d) => outcome(s.remove_device(DEVICES[*d]).await),
        Op::Submit { ty, tag: g, count } => {
            let mut j = job(TYPES[*ty], 10);
            j.tags = g.iter().map(|g| TAGS[*g].to_owned()).collect();
            outcome(s.submit(&vec![j; *count]).await)
        }
        Op::Schedule { job: n, device: d } => {
            let jobs = s.jobs(&JobFilter::default()).await.unwrap();
            let Some(j) = jobs.iter().rev().nth(*n) else {
                return Ok(());
            };
            let Some(dev) = s.device(DEVICES[*d]).await.unwrap() else {
                return Ok(());
            };
            let mut j2 = j.clone();
            j2.state = JobState::Scheduled;
            j2.actual_device = Some(dev.hostname.clone());
            let mut dev2 = dev.clone();
            dev2.state = DeviceState::Reserved;
            outcome(
                s.apply(
                    &ChangeSet::new()
                        .require(Precondition::JobState(j.id, JobState::Submitted))
                        .require(Precondition::DeviceState(
                            dev.hostname.clone(),
                            DeviceState::Idle,
                        ))
                        .job(j2)
                        .device(dev2),
                )
                .await,
            )
        }
        Op::Finish { job: n } => {
            let jobs = s.jobs(&JobFilter::default()).await.unwrap();
            let Some(j) = jobs.iter().rev().nth(*n) else {
                return Ok(());
            };
            let mut set = ChangeSet::new()
                .require(Precondition::JobState(j.id, JobState::Scheduled))
                .end(j.id, None, Timestamp(1));
            let mut j2 = j.clone();
            j2.state = JobState::Finished;
            if let Some(hostname) = &j.actual_device {
                if let Some(mut dev) = s.device(hostname).await.unwrap() {
                    dev.state = DeviceState::Idle;
                    set = set.device(dev);
                }
            }
            outcome(s.apply(&set.job(j2)).await)
        }
        Op::SetHealth { device: d, health } => {
            let Some(mut dev) = s.device(DEVICES[*d]).await.unwrap() else {
                return Ok(());
            };
            dev.health = DeviceHealth::ALL[*health];
            outcome(s.update_device(&dev).await)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn sqlite_behaves_like_memory(ops in proptest::collection::vec(op(), 1..25)) {
        // tmpfs when there is one: the property is about answers, not about fsync.
        let dir = tempfile::tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let memory = MemoryStore::new();
            let sqlite = SqliteStore::open(dir.path().join("lava.sqlite3")).unwrap();
            // A small lab first, so that random operations meet rows that exist.
            let prefix = [
                Op::AddType(0),
                Op::AddType(1),
                Op::AddTag(0),
                Op::AddTag(1),
                Op::AddWorker(0),
                Op::AddWorker(1),
                Op::AddDevice { device: 0, ty: 1, worker: 0, tag: Some(0) },
                Op::AddDevice { device: 1, ty: 0, worker: 1, tag: None },
                Op::Submit { ty: 1, tag: Some(0), count: 2 },
                Op::Submit { ty: 0, tag: None, count: 1 },
            ];
            for (step, op) in prefix.iter().chain(&ops).enumerate() {
                let a = run(&memory, op).await;
                let b = run(&sqlite, op).await;
                prop_assert_eq!(&a, &b, "step {}: {:?}", step, op);
            }
            prop_assert_eq!(
                memory.scheduler_snapshot().await.unwrap(),
                sqlite.scheduler_snapshot().await.unwrap()
            );
            prop_assert_eq!(
                memory.jobs(&JobFilter::default()).await.unwrap(),
                sqlite.jobs(&JobFilter::default()).await.unwrap()
            );
            prop_assert_eq!(memory.tags().await.unwrap(), sqlite.tags().await.unwrap());
            Ok(())
        })?;
    }
}
