//! Crash safety: a child process applies a stream of state changes to a SQLite store and
//! reports each one the store acknowledged; the parent SIGKILLs it at random points, reopens
//! the store and checks that every acknowledged change is there and that no transition is
//! half-applied.
//!
//! The child is this test binary run again with `--ignored --exact crash_child` and the
//! store's path in `LAVA_STORE_CRASH_CHILD`. Set `LAVA_CRASH_SEED` to replay a run.

mod common;

use common::*;
use lava_core::model::{DeviceState, Job, JobHealth, JobState};
use lava_core::time::Timestamp;
use lava_store::{ChangeSet, JobFilter, Precondition, SqliteStore, Store};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const CHILD_ENV: &str = "LAVA_STORE_CRASH_CHILD";
const DEVICES: usize = 3;
const JOBS: usize = 400;
const ROUNDS: usize = 20;

fn device_name(i: usize) -> String {
    format!("dev{i:02}")
}

/// The device job `index` (0-based in submission order) runs on.
fn device_of(index: usize) -> String {
    device_name(index % DEVICES)
}

/// The next change set for job `job` (the `index`-th job), from its current state; `None`
/// once it is finished.
async fn next_step(store: &SqliteStore, job: &Job, index: usize) -> Option<(ChangeSet, JobState)> {
    let device = store.device(&device_of(index)).await.unwrap().unwrap();
    let mut j = job.clone();
    let mut d = device.clone();
    let now = Timestamp::from_secs(1_000 + index as i64);
    let set = match job.state {
        JobState::Submitted => {
            j.state = JobState::Scheduled;
            j.actual_device = Some(d.hostname.clone());
            d.state = DeviceState::Reserved;
            ChangeSet::new()
                .require(Precondition::JobState(j.id, JobState::Submitted))
                .require(Precondition::DeviceState(
                    d.hostname.clone(),
                    DeviceState::Idle,
                ))
        }
        JobState::Scheduled => {
            j.state = JobState::Running;
            j.start_time = Some(now);
            d.state = DeviceState::Running;
            ChangeSet::new()
                .require(Precondition::JobState(j.id, JobState::Scheduled))
                .require(Precondition::DeviceState(
                    d.hostname.clone(),
                    DeviceState::Reserved,
                ))
        }
        JobState::Running => {
            j.state = JobState::Finished;
            j.health = JobHealth::Complete;
            j.end_time = Some(now.add_secs(1));
            d.state = DeviceState::Idle;
            // The finishing set also creates a row (a health check, as the scheduler would),
            // so that a half-applied set would show as a count mismatch.
            let mut hc = job.clone();
            hc.health_check = true;
            hc.state = JobState::Finished;
            hc.health = JobHealth::Complete;
            hc.actual_device = Some(d.hostname.clone());
            ChangeSet::new()
                .require(Precondition::JobState(j.id, JobState::Running))
                .require(Precondition::DeviceState(
                    d.hostname.clone(),
                    DeviceState::Running,
                ))
                .new_job(hc)
                .end(j.id, Some(format!("end of {}", j.id)), Timestamp(1))
        }
        _ => return None,
    };
    let target = j.state;
    Some((set.job(j).device(d), target))
}

/// The child: works through the jobs until killed (or done), printing `ACK id state`.
#[test]
#[ignore = "run by crash_safety as a child process"]
fn crash_child() {
    let path = std::env::var(CHILD_ENV).expect("run by crash_safety with the store path");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SqliteStore::open_master(&path).unwrap();
        let mut jobs = store.jobs(&JobFilter::default()).await.unwrap();
        jobs.retain(|j| !j.health_check);
        jobs.sort_by_key(|j| j.id);
        let mut out = std::io::stdout().lock();
        writeln!(out, "READY").unwrap();
        out.flush().unwrap();
        for (index, job) in jobs.iter().enumerate() {
            let mut job = job.clone();
            while let Some((set, target)) = next_step(&store, &job, index).await {
                store.apply(&set).await.unwrap();
                writeln!(out, "ACK {} {}", job.id, target.code()).unwrap();
                out.flush().unwrap();
                job = store.job(job.id).await.unwrap().unwrap();
            }
        }
        writeln!(out, "DONE").unwrap();
    });
}

/// xorshift64*: enough randomness for kill points, and replayable from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// Checks the invariants every committed state must have; returns the states by job id.
async fn check_consistent(store: &SqliteStore, seed: u64) -> BTreeMap<i64, JobState> {
    let all = store.jobs(&JobFilter::default()).await.unwrap();
    let (checks, jobs): (Vec<Job>, Vec<Job>) = all.into_iter().partition(|j| j.health_check);
    let finished = jobs
        .iter()
        .filter(|j| j.state == JobState::Finished)
        .count();
    assert_eq!(
        checks.len(),
        finished,
        "seed {seed}: every finishing set creates one row, so the counts must match"
    );
    let devices: BTreeMap<String, DeviceState> = store
        .devices()
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.hostname, d.state))
        .collect();
    let mut busy: BTreeMap<String, DeviceState> = BTreeMap::new();
    for j in &jobs {
        let end = store.job_end(j.id).await.unwrap();
        match j.state {
            JobState::Submitted => assert_eq!(j.actual_device, None, "seed {seed}: job {}", j.id),
            JobState::Scheduled => {
                let d = j.actual_device.clone().unwrap();
                assert!(
                    busy.insert(d, DeviceState::Reserved).is_none(),
                    "seed {seed}"
                );
            }
            JobState::Running => {
                assert!(j.start_time.is_some(), "seed {seed}: job {}", j.id);
                let d = j.actual_device.clone().unwrap();
                assert!(
                    busy.insert(d, DeviceState::Running).is_none(),
                    "seed {seed}"
                );
            }
            JobState::Finished => {
                assert_eq!(j.health, JobHealth::Complete, "seed {seed}: job {}", j.id);
                assert!(j.end_time.is_some(), "seed {seed}: job {}", j.id);
                assert!(
                    end.processed,
                    "seed {seed}: job {} finished without END",
                    j.id
                );
            }
            other => panic!("seed {seed}: job {} in unexpected state {other}", j.id),
        }
        if j.state != JobState::Finished {
            assert!(
                !end.processed,
                "seed {seed}: job {} has END but is {}",
                j.id, j.state
            );
        }
    }
    for (hostname, state) in &devices {
        let expected = busy.get(hostname).copied().unwrap_or(DeviceState::Idle);
        assert_eq!(
            *state, expected,
            "seed {seed}: device {hostname} does not match its job"
        );
    }
    jobs.into_iter().map(|j| (j.id, j.state)).collect()
}

#[tokio::test]
async fn crash_safety() {
    let seed = std::env::var("LAVA_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64);
            nanos | 1
        });
    eprintln!("crash_safety: LAVA_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lava.sqlite3");
    {
        let store = SqliteStore::open(&path).unwrap();
        store.add_device_type(&device_type("qemu")).await.unwrap();
        store.add_worker(&worker("w1")).await.unwrap();
        for i in 0..DEVICES {
            store
                .add_device(&device(&device_name(i), "qemu", "w1"))
                .await
                .unwrap();
        }
        let jobs: Vec<Job> = (0..JOBS).map(|i| job("qemu", i as i64)).collect();
        store.submit(&jobs).await.unwrap();
    }

    let exe = std::env::current_exe().unwrap();
    let mut acked: BTreeMap<i64, JobState> = BTreeMap::new();
    let mut total_acks = 0;
    for round in 0..ROUNDS {
        let kill_after = rng.below(25);
        let mut child = Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = 0;
        let mut ready = false;
        for line in lines.by_ref() {
            let line = line.unwrap();
            // libtest may put its own "test crash_child ... " before the first line.
            if line.ends_with("READY") {
                ready = true;
            } else if let Some(rest) = line.split_once("ACK ").map(|(_, rest)| rest) {
                let mut parts = rest.split(' ');
                let id: i64 = parts.next().unwrap().parse().unwrap();
                let code: i32 = parts.next().unwrap().parse().unwrap();
                acked.insert(id, JobState::from_code(code).unwrap());
                seen += 1;
                total_acks += 1;
            }
            if ready && seen >= kill_after {
                break;
            }
        }
        assert!(ready, "seed {seed}: round {round}: the child did not start");
        // Land anywhere in the next change (a few reads, then a transaction with fsyncs).
        std::thread::sleep(std::time::Duration::from_micros(rng.below(4_000)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Anything it acknowledged after our last read was also committed; read it too.
        for line in lines.map_while(Result::ok) {
            if let Some(rest) = line.split_once("ACK ").map(|(_, rest)| rest) {
                let mut parts = rest.split(' ');
                let id: i64 = parts.next().unwrap().parse().unwrap();
                let code: i32 = parts.next().unwrap().parse().unwrap();
                acked.insert(id, JobState::from_code(code).unwrap());
                total_acks += 1;
            }
        }

        // The lock went with the killed process; the store opens and is consistent.
        let store = SqliteStore::open_master(&path).unwrap();
        let states = check_consistent(&store, seed).await;
        for (id, state) in &acked {
            assert!(
                states[id] >= *state,
                "seed {seed}: round {round}: job {id} was acknowledged {state} but is {}",
                states[id]
            );
        }
    }
    eprintln!("crash_safety: {ROUNDS} kills, {total_acks} acknowledged changes checked");
    assert!(
        total_acks > 0,
        "seed {seed}: no change was ever acknowledged"
    );
}
