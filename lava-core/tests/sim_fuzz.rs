//! Random inputs, in any order, from any peer: the machines never panic, never ask to be woken
//! in the past, and keep their promises (END always acked, no START after an END, nothing but
//! the actions of their side is ever sent).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::payload;
use lava_core::master::{JobPhase, Master, MasterConfig};
use lava_core::model::JobId;
use lava_core::protocol::PeerId;
use lava_core::protocol::{FrameError, FrameFault, Message};
use lava_core::slave::{Event as SEvent, JobResult, JobRow, JobStatus, Slave, SlaveConfig};
use proptest::prelude::*;

fn message() -> impl Strategy<Value = Message> {
    let id = 0i64..6;
    prop_oneof![
        (0i64..5, any::<bool>()).prop_map(|(v, l)| Message::Hello {
            protocol_version: v,
            lava_version: l.then(|| "2020.05".to_owned())
        }),
        (0i64..5).prop_map(|v| Message::HelloRetry {
            protocol_version: v,
            lava_version: None
        }),
        Just(Message::HelloOk),
        Just(Message::Ping),
        (-3i64..40).prop_map(|interval| Message::Pong { interval }),
        (id.clone(), 0usize..4).prop_map(|(job_id, env)| {
            let mut p = payload(job_id);
            p.env = ["", "a: 1\n", "- x\n", "{"][env].into();
            p.to_message(job_id)
        }),
        id.clone().prop_map(|job_id| Message::StartOk { job_id }),
        id.clone().prop_map(|job_id| Message::Cancel { job_id }),
        id.clone().prop_map(|job_id| Message::Status { job_id }),
        (id.clone(), proptest::collection::vec(any::<u8>(), 0..3)).prop_map(
            |(job_id, description)| Message::End {
                job_id,
                errors: String::new(),
                description
            }
        ),
        id.prop_map(|job_id| Message::EndOk { job_id }),
    ]
}

#[derive(Debug, Clone)]
enum MasterInput {
    Message(u8, Message),
    Malformed(u8),
    Timeout,
    Add(JobId, u8, u8, bool),
    Cancel(JobId),
    Finish(JobId),
    Remove(JobId),
}

fn master_input() -> impl Strategy<Value = MasterInput> {
    prop_oneof![
        6 => (0u8..5, message()).prop_map(|(p, m)| MasterInput::Message(p, m)),
        1 => (0u8..5).prop_map(MasterInput::Malformed),
        3 => Just(MasterInput::Timeout),
        2 => (0i64..6, 0u8..3, 0u8..4, any::<bool>())
            .prop_map(|(j, w, ph, e)| MasterInput::Add(j, w, ph, e)),
        1 => (0i64..6).prop_map(MasterInput::Cancel),
        1 => (0i64..6).prop_map(MasterInput::Finish),
        1 => (0i64..6).prop_map(MasterInput::Remove),
    ]
}

fn peer(p: u8) -> PeerId {
    match p {
        0 => PeerId::from(b"w0".to_vec()),
        1 => PeerId::from(b"w1".to_vec()),
        2 => PeerId::from(b"lava-logs".to_vec()),
        3 => PeerId::from(vec![0, 1, 2, 3, 4]),
        _ => PeerId::from(vec![0xff, 0xfe]),
    }
}

/// Drains the master and checks what it sends.
fn drain_master(
    m: &mut Master,
    ended: &BTreeSet<JobId>,
) -> Result<Vec<(PeerId, Message)>, TestCaseError> {
    while m.poll_event().is_some() {}
    let sent: Vec<_> = std::iter::from_fn(|| m.poll_transmit()).collect();
    for (to, msg) in &sent {
        prop_assert!(sent_by_master(msg), "master sent {:?}", msg);
        let to_logs_ok = !to.is_lava_logs() || matches!(msg, Message::Pong { .. });
        prop_assert!(to_logs_ok, "lava-logs got {:?}", msg);
        if let Message::Start { job_id, .. } = msg {
            prop_assert!(
                !ended.contains(job_id),
                "START for job {} after its END",
                job_id
            );
        }
    }
    Ok(sent)
}

fn sent_by_master(m: &Message) -> bool {
    matches!(
        m,
        Message::HelloOk
            | Message::Pong { .. }
            | Message::Start { .. }
            | Message::Cancel { .. }
            | Message::Status { .. }
            | Message::EndOk { .. }
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn master_survives_anything(
        inputs in proptest::collection::vec((master_input(), 0u64..30_000), 1..120),
    ) {
        let mut now = Instant::now();
        let mut m = Master::new(MasterConfig::default());
        // Jobs for which an END was handed to the machine (by a worker that owned them).
        let mut ended: BTreeSet<JobId> = BTreeSet::new();
        let mut owners: BTreeMap<JobId, u8> = BTreeMap::new();
        for (input, advance) in inputs {
            now += Duration::from_millis(advance);
            let mut expect_end_ok = None;
            match input {
                MasterInput::Message(p, msg) => {
                    if let Message::End { job_id, .. } = msg {
                        if p < 2 {
                            expect_end_ok = Some((peer(p), job_id));
                            let tracked = m.job_phase(job_id).is_some();
                            if tracked && owners.get(&job_id) == Some(&p) {
                                ended.insert(job_id);
                            }
                        }
                    }
                    m.handle_message(&peer(p), msg, now);
                }
                MasterInput::Malformed(p) => m.handle_malformed(
                    &peer(p),
                    FrameError { frame: 1, reason: FrameFault::Empty },
                    now,
                ),
                MasterInput::Timeout => m.handle_timeout(now),
                MasterInput::Add(job, w, phase, end_processed) => {
                    let phase = match phase {
                        0 => JobPhase::Scheduled(payload(job)),
                        1 => JobPhase::Running,
                        2 => JobPhase::Canceling,
                        _ => JobPhase::Finished,
                    };
                    let fresh = m.job_phase(job).is_none();
                    let added = m.add_job(job, ["w0", "w1", "w2"][w as usize], phase, end_processed, now);
                    prop_assert_eq!(added.is_ok(), fresh);
                    if fresh {
                        owners.insert(job, w);
                        // A new life for this id: a new job as far as the test is concerned.
                        if end_processed { ended.insert(job); } else { ended.remove(&job); }
                    }
                }
                MasterInput::Cancel(job) => { let _ = m.cancel_job(job, now); }
                MasterInput::Finish(job) => { let _ = m.finish_job(job); }
                MasterInput::Remove(job) => { let _ = m.remove_job(job); }
            }
            let sent = drain_master(&mut m, &ended)?;
            if let Some((to, job_id)) = expect_end_ok {
                prop_assert!(sent.contains(&(to, Message::EndOk { job_id })), "END not acked");
            }
            if m.poll_timeout().is_some_and(|t| t <= now) {
                m.handle_timeout(now);
                drain_master(&mut m, &ended)?;
                prop_assert!(m.poll_timeout().is_none_or(|t| t > now), "busy loop");
            }
        }
    }
}

#[derive(Debug, Clone)]
enum SlaveInput {
    Message(Message),
    Foreign(Message),
    Malformed,
    Timeout,
    Exited(JobId, bool),
    Restart,
}

fn slave_input() -> impl Strategy<Value = SlaveInput> {
    prop_oneof![
        8 => message().prop_map(SlaveInput::Message),
        1 => message().prop_map(SlaveInput::Foreign),
        1 => Just(SlaveInput::Malformed),
        4 => Just(SlaveInput::Timeout),
        2 => (0i64..6, any::<bool>()).prop_map(|(j, d)| SlaveInput::Exited(j, d)),
        1 => Just(SlaveInput::Restart),
    ]
}

fn sent_by_slave(m: &Message) -> bool {
    matches!(
        m,
        Message::Hello { .. }
            | Message::HelloRetry { .. }
            | Message::Ping
            | Message::StartOk { .. }
            | Message::End { .. }
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// The driver answers every request at once (spawns succeed, checks find the process
    /// alive); the persisted table always matches the machine's, and restarts rebuild from it.
    #[test]
    fn slave_survives_anything(
        inputs in proptest::collection::vec((slave_input(), 0u64..30_000), 1..120),
    ) {
        let mut now = Instant::now();
        let mut s = Slave::new(SlaveConfig::default(), now);
        let mut db: BTreeMap<JobId, JobRow> = BTreeMap::new();
        let mut spawned_in_this_life: BTreeSet<JobId> = BTreeSet::new();
        let mut next_pid = 100;
        for (input, advance) in inputs {
            now += Duration::from_millis(advance);
            match input {
                SlaveInput::Message(msg) => s.handle_message(&PeerId::master(), msg, now),
                SlaveInput::Foreign(msg) => s.handle_message(&PeerId::from("lava-logs"), msg, now),
                SlaveInput::Malformed => s.handle_malformed(FrameError { frame: 0, reason: FrameFault::Empty }, now),
                SlaveInput::Timeout => s.handle_timeout(now),
                SlaveInput::Exited(job, description) => s.process_exited(
                    job,
                    JobResult { errors: String::new(), description: description.then(|| b"xz".to_vec()) },
                    now,
                ),
                SlaveInput::Restart => {
                    let rows = db.values().map(|r| (r.clone(), Duration::from_secs(3)));
                    s = Slave::restore(SlaveConfig::default(), rows, now);
                    spawned_in_this_life.clear();
                }
            }
            pump_slave(&mut s, &mut db, &mut spawned_in_this_life, &mut next_pid, now)?;
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.handle_timeout(now);
                pump_slave(&mut s, &mut db, &mut spawned_in_this_life, &mut next_pid, now)?;
                prop_assert!(s.poll_timeout().is_some_and(|t| t > now), "busy loop");
            }
        }
    }
}

/// Carries out the slave's events like a driver whose requests all succeed, then checks the
/// table and what is sent.
fn pump_slave(
    s: &mut Slave,
    db: &mut BTreeMap<JobId, JobRow>,
    spawned: &mut BTreeSet<JobId>,
    next_pid: &mut u32,
    now: Instant,
) -> Result<(), TestCaseError> {
    while let Some(event) = s.poll_event() {
        match event {
            SEvent::SaveJob(row) => {
                db.insert(row.id, row);
            }
            SEvent::DeleteJob { job_id } => {
                db.remove(&job_id);
            }
            SEvent::Spawn { job_id, .. } => {
                prop_assert!(spawned.insert(job_id), "job {} spawned twice", job_id);
                prop_assert!(
                    db.get(&job_id).is_some_and(|r| r.pid == 0),
                    "spawn before its row"
                );
                *next_pid += 1;
                s.spawned(job_id, Ok(*next_pid), now);
            }
            SEvent::CheckProcess { job_id, pid } => s.process_alive(job_id, pid.unwrap_or(7)),
            SEvent::CollectResult { job_id, .. } => s.process_exited(
                job_id,
                JobResult {
                    errors: String::new(),
                    description: None,
                },
                now,
            ),
            SEvent::Signal { job_id, .. } => {
                prop_assert!(db
                    .get(&job_id)
                    .is_some_and(|r| r.status == JobStatus::Canceling));
            }
            _ => {}
        }
    }
    let machine: Vec<JobRow> = s.rows().cloned().collect();
    let stored: Vec<JobRow> = db.values().cloned().collect();
    prop_assert_eq!(
        machine,
        stored,
        "persisted table differs from the machine's"
    );
    while let Some(msg) = s.poll_transmit() {
        prop_assert!(sent_by_slave(&msg), "slave sent {:?}", msg);
        if let Message::End { job_id, .. } = msg {
            prop_assert!(db
                .get(&job_id)
                .is_some_and(|r| r.status == JobStatus::Finished));
        }
    }
    Ok(())
}
