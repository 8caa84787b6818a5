//! One test per trap of protocol.md §9 that applies to the state machines (named after it),
//! plus the timers of §4. The traps that do not apply are listed, with the reason, in the
//! module docs of `lava_core::master`.

mod common;

use std::time::{Duration, Instant};

use common::{payload, Faults, Node, World};
use lava_core::master::{
    DuplicateHint, Event as MEvent, JobPhase, Master, MasterConfig, PayloadFile, PeerRejection,
    ProtocolError,
};
use lava_core::model::JobId;
use lava_core::protocol::{Action, FrameError, FrameFault, IdentityError, Message, PeerId};
use lava_core::slave::{Event as SEvent, JobResult, JobRow, JobStatus, Signal, Slave, SlaveConfig};

const W: &str = "worker-1";

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn drain_master(m: &mut Master) -> (Vec<MEvent>, Vec<(PeerId, Message)>) {
    let events = std::iter::from_fn(|| m.poll_event()).collect();
    let sent = std::iter::from_fn(|| m.poll_transmit()).collect();
    (events, sent)
}

fn drain_slave(s: &mut Slave) -> (Vec<SEvent>, Vec<Message>) {
    let events = std::iter::from_fn(|| s.poll_event()).collect();
    let sent = std::iter::from_fn(|| s.poll_transmit()).collect();
    (events, sent)
}

fn peer() -> PeerId {
    PeerId::from_hostname(W)
}

fn hello() -> Message {
    Message::Hello {
        protocol_version: 3,
        lava_version: Some("2020.05".into()),
    }
}

fn end(job_id: JobId, description: &[u8]) -> Message {
    Message::End {
        job_id,
        errors: String::new(),
        description: description.to_vec(),
    }
}

fn start(job_id: JobId) -> Message {
    payload(job_id).to_message(job_id)
}

/// A master with `W` online (HELLO at t0) and nothing left to drain.
fn online_master(t0: Instant) -> Master {
    let mut m = Master::new(MasterConfig::default());
    m.handle_message(&peer(), hello(), t0);
    drain_master(&mut m);
    m
}

/// A slave connected at t0 (HELLO_OK received), drained.
fn connected_slave(t0: Instant) -> Slave {
    let mut s = Slave::new(SlaveConfig::default(), t0);
    s.handle_message(&PeerId::master(), Message::HelloOk, t0);
    drain_slave(&mut s);
    s
}

/// A slave running job `id` with pid `pid`, drained.
fn slave_running(t0: Instant, id: JobId, pid: u32) -> Slave {
    let mut s = connected_slave(t0);
    s.handle_message(&PeerId::master(), start(id), t0);
    s.spawned(id, Ok(pid), t0);
    drain_slave(&mut s);
    s
}

fn actions(sent: &[(PeerId, Message)]) -> Vec<&'static str> {
    sent.iter()
        .map(|(_, m)| lava_core::master::action_name(m))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Master timers (§4.1, §4.2)
// ---------------------------------------------------------------------------------------

#[test]
fn worker_goes_offline_exactly_after_60_s_of_silence() {
    let t0 = Instant::now();
    let mut m = online_master(t0);
    assert!(m.is_online(W));
    m.handle_message(&peer(), Message::Ping, t0 + secs(30));
    drain_master(&mut m);
    assert_eq!(m.poll_timeout(), Some(t0 + secs(90)));
    m.handle_timeout(t0 + secs(89));
    assert!(m.is_online(W));
    m.handle_timeout(t0 + secs(90));
    let (events, _) = drain_master(&mut m);
    assert!(!m.is_online(W));
    assert_eq!(events, vec![MEvent::WorkerOffline { hostname: W.into() }]);
    // Back online on the next message, without STATUS (the host is known to this process).
    m.handle_message(&peer(), Message::Ping, t0 + secs(200));
    let (events, sent) = drain_master(&mut m);
    assert!(events.contains(&MEvent::WorkerOnline { hostname: W.into() }));
    assert_eq!(actions(&sent), ["PONG"]);
}

#[test]
fn start_is_sent_at_once_then_every_20_s_to_online_workers_only() {
    let t0 = Instant::now();
    let mut m = Master::new(MasterConfig::default());
    m.add_job(1, W, JobPhase::Scheduled(payload(1)), false, t0)
        .unwrap();
    let (_, sent) = drain_master(&mut m);
    assert!(sent.is_empty(), "START to a worker never heard from");
    assert_eq!(m.poll_timeout(), None);

    m.handle_message(&peer(), hello(), t0 + secs(3));
    let (_, sent) = drain_master(&mut m);
    assert_eq!(actions(&sent), ["HELLO_OK", "START"]);
    assert_eq!(sent[1], (peer(), start(1)));

    m.handle_timeout(t0 + secs(22));
    assert!(drain_master(&mut m).1.is_empty());
    m.handle_timeout(t0 + secs(23));
    assert_eq!(actions(&drain_master(&mut m).1), ["START"]);

    m.handle_message(&peer(), Message::StartOk { job_id: 1 }, t0 + secs(24));
    let (events, _) = drain_master(&mut m);
    assert_eq!(
        events,
        vec![MEvent::JobStarted {
            job_id: 1,
            hostname: W.into()
        }]
    );
    m.handle_timeout(t0 + secs(60));
    assert!(drain_master(&mut m).1.is_empty(), "no START once running");
}

#[test]
fn cancel_is_sent_at_once_then_every_20_s() {
    let t0 = Instant::now();
    let mut m = online_master(t0);
    m.add_job(1, W, JobPhase::Running, false, t0).unwrap();
    m.cancel_job(1, t0 + secs(1)).unwrap();
    assert_eq!(
        drain_master(&mut m).1,
        vec![(peer(), Message::Cancel { job_id: 1 })]
    );
    m.handle_message(&peer(), Message::Ping, t0 + secs(10));
    drain_master(&mut m);
    m.handle_timeout(t0 + secs(21));
    assert_eq!(actions(&drain_master(&mut m).1), ["CANCEL"]);
}

// ---------------------------------------------------------------------------------------
// Slave timers (§3.4, §4.3)
// ---------------------------------------------------------------------------------------

#[test]
fn slave_sends_hello_once_then_hello_retry_every_5_s() {
    let t0 = Instant::now();
    let mut s = Slave::new(
        SlaveConfig {
            lava_version: Some("2020.05".into()),
            ..SlaveConfig::default()
        },
        t0,
    );
    assert_eq!(drain_slave(&mut s).1, vec![hello()]);
    for k in 1..=3 {
        let t = s.poll_timeout().unwrap();
        assert_eq!(t, t0 + secs(5 * k));
        s.handle_timeout(t);
        assert_eq!(
            drain_slave(&mut s).1,
            vec![Message::HelloRetry {
                protocol_version: 3,
                lava_version: Some("2020.05".into())
            }]
        );
    }
    s.handle_message(&PeerId::master(), Message::HelloOk, t0 + secs(16));
    assert!(s.is_connected());
    assert_eq!(drain_slave(&mut s).0, vec![SEvent::Connected]);
}

#[test]
fn slave_pings_every_5_s_until_a_valid_pong_then_at_its_interval() {
    let t0 = Instant::now();
    let mut s = connected_slave(t0);
    assert_eq!(s.poll_timeout(), Some(t0 + secs(5)));
    s.handle_timeout(t0 + secs(5));
    assert_eq!(drain_slave(&mut s).1, vec![Message::Ping]);
    s.handle_message(
        &PeerId::master(),
        Message::Pong { interval: 20 },
        t0 + secs(6),
    );
    assert_eq!(s.ping_interval(), secs(20));
    assert_eq!(s.poll_timeout(), Some(t0 + secs(26)));
    s.handle_timeout(t0 + secs(26));
    assert_eq!(drain_slave(&mut s).1, vec![Message::Ping]);
}

#[test]
fn slave_resends_end_every_5_s_until_end_ok() {
    let t0 = Instant::now();
    let mut s = slave_running(t0, 7, 4242);
    let result = JobResult {
        errors: String::new(),
        description: Some(b"xz".to_vec()),
    };
    s.process_exited(7, result, t0 + secs(8));
    let (events, sent) = drain_slave(&mut s);
    assert!(events.contains(&SEvent::SaveJob(JobRow {
        id: 7,
        pid: 4242,
        status: JobStatus::Finished,
        prefix: String::new()
    })));
    assert_eq!(sent, vec![end(7, b"xz")]);
    let mut ends = 0;
    let mut t = t0 + secs(8);
    while t < t0 + secs(30) {
        t = s.poll_timeout().unwrap();
        s.handle_timeout(t);
        ends += drain_slave(&mut s)
            .1
            .iter()
            .filter(|m| matches!(m, Message::End { .. }))
            .count();
    }
    assert!((4..=5).contains(&ends), "END re-sent {ends} times in 22 s");
    s.handle_message(&PeerId::master(), Message::EndOk { job_id: 7 }, t);
    let (events, _) = drain_slave(&mut s);
    assert_eq!(
        events,
        vec![
            SEvent::DeleteJob { job_id: 7 },
            SEvent::RemoveWorkDir {
                job_id: 7,
                prefix: String::new()
            }
        ]
    );
    s.handle_timeout(t + secs(10));
    assert!(!drain_slave(&mut s)
        .1
        .iter()
        .any(|m| matches!(m, Message::End { .. })));
}

// ---------------------------------------------------------------------------------------
// The traps
// ---------------------------------------------------------------------------------------

#[test]
fn trap_01_duplicate_identity_is_reported() {
    let t0 = Instant::now();
    let mut m = online_master(t0);
    m.add_job(5, W, JobPhase::Running, false, t0).unwrap();
    m.handle_message(&peer(), hello(), t0 + secs(10));
    let (events, sent) = drain_master(&mut m);
    assert!(events.contains(&MEvent::DuplicateIdentitySuspected {
        hostname: W.into(),
        hint: DuplicateHint::HelloWhileOnline {
            running_jobs: vec![5]
        }
    }));
    // Still only HELLO_OK: no job is touched on HELLO (trap 22).
    assert_eq!(actions(&sent), ["HELLO_OK"]);

    // Interleaved PINGs of two slaves.
    m.handle_message(&peer(), Message::Ping, t0 + secs(20));
    m.handle_message(&peer(), Message::Ping, t0 + secs(22));
    let (events, _) = drain_master(&mut m);
    assert!(events.contains(&MEvent::DuplicateIdentitySuspected {
        hostname: W.into(),
        hint: DuplicateHint::PingsTooClose { gap: secs(2) }
    }));
}

#[test]
fn trap_03_burst_of_queued_pings_gets_pongs_and_one_status() {
    let t0 = Instant::now();
    // A restarted master that believes job 9 runs on W.
    let mut m = Master::new(MasterConfig::default());
    m.add_job(9, W, JobPhase::Running, false, t0).unwrap();
    for _ in 0..7 {
        m.handle_message(&peer(), Message::Ping, t0 + secs(1));
    }
    let (events, sent) = drain_master(&mut m);
    let acts = actions(&sent);
    assert_eq!(acts.iter().filter(|a| **a == "PONG").count(), 7);
    assert_eq!(acts.iter().filter(|a| **a == "STATUS").count(), 1);
    assert_eq!(
        acts[..2],
        ["PONG", "STATUS"],
        "STATUS follows the first PONG"
    );
    assert!(sent.contains(&(peer(), Message::Status { job_id: 9 })));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, MEvent::DuplicateIdentitySuspected { .. })),
        "a burst is not a duplicate"
    );
}

#[test]
fn trap_05_identity_not_utf8_or_with_nul_is_dropped() {
    let t0 = Instant::now();
    let mut m = Master::new(MasterConfig::default());
    for raw in [
        vec![0xff, 0xfe],
        vec![0, 0x6b, 0x41, 0x45, 0x67],
        Vec::new(),
    ] {
        let p = PeerId::from(raw);
        let reason = PeerRejection::Identity(p.hostname().unwrap_err());
        assert!(matches!(
            reason,
            PeerRejection::Identity(
                IdentityError::NotUtf8 { .. }
                    | IdentityError::ContainsNul { .. }
                    | IdentityError::Empty
            )
        ));
        m.handle_message(&p, Message::Ping, t0);
        let (events, sent) = drain_master(&mut m);
        assert!(sent.is_empty());
        assert_eq!(
            events,
            vec![MEvent::PeerRejected {
                peer: p.clone(),
                reason
            }]
        );
    }
}

#[test]
fn hello_from_a_name_that_can_never_be_a_worker_is_not_answered() {
    // `workers add` refuses these names: HELLO gets no HELLO_OK and creates nothing.
    let t0 = Instant::now();
    let mut m = Master::new(MasterConfig::default());
    for name in ["bad name", "a/b", "../etc", "x;rm"] {
        let p = PeerId::from_hostname(name);
        m.handle_message(&p, hello(), t0);
        let (events, sent) = drain_master(&mut m);
        assert!(sent.is_empty(), "{name}: {sent:?}");
        assert!(
            matches!(
                events.as_slice(),
                [MEvent::PeerRejected {
                    reason: PeerRejection::WorkerName(_),
                    ..
                }]
            ),
            "{name}: {events:?}"
        );
        assert!(!m.is_online(name));
    }
}

#[test]
fn trap_07_lava_logs_may_only_ping() {
    let t0 = Instant::now();
    let mut m = Master::new(MasterConfig::default());
    let logs = PeerId::from_hostname("lava-logs");
    m.handle_message(&logs, hello(), t0);
    let (events, sent) = drain_master(&mut m);
    assert!(sent.is_empty());
    assert_eq!(
        events,
        vec![MEvent::PeerRejected {
            peer: logs.clone(),
            reason: PeerRejection::LavaLogsAction { action: "HELLO" }
        }]
    );
    m.handle_message(&logs, end(1, b""), t0);
    assert!(drain_master(&mut m).1.is_empty(), "no END_OK to lava-logs");
    m.handle_message(&logs, Message::Ping, t0);
    let (events, sent) = drain_master(&mut m);
    assert_eq!(sent, vec![(logs, Message::Pong { interval: 20 })]);
    assert_eq!(events, vec![MEvent::LavaLogsOnline]);
    assert!(m.lava_logs_online());
}

#[test]
fn trap_11_other_protocol_versions_get_no_reply() {
    let t0 = Instant::now();
    let mut m = Master::new(MasterConfig::default());
    m.handle_message(
        &peer(),
        Message::HelloRetry {
            protocol_version: 2,
            lava_version: None,
        },
        t0,
    );
    let (events, sent) = drain_master(&mut m);
    assert!(sent.is_empty());
    assert_eq!(
        events,
        vec![MEvent::VersionMismatch {
            hostname: W.into(),
            protocol_version: 2
        }]
    );
    assert!(!m.is_online(W));
    // A 2018.x slave (3-frame HELLO, no LAVA version) is welcome.
    m.handle_message(
        &peer(),
        Message::Hello {
            protocol_version: 3,
            lava_version: None,
        },
        t0,
    );
    let (events, sent) = drain_master(&mut m);
    assert_eq!(sent, vec![(peer(), Message::HelloOk)]);
    assert!(events.contains(&MEvent::WorkerHello {
        hostname: W.into(),
        lava_version: None,
        restarted: false
    }));
}

#[test]
fn trap_12_messages_before_hello_ok_are_dropped_and_start_comes_again() {
    let mut world = World::new(1, 1, Faults::none());
    // The master receives HELLO but its HELLO_OK is lost: drop everything master -> slave
    // for a moment by crashing the slave's link only in the first second.
    world.faults.drop = 1.0;
    world.run_for(secs(1));
    world.faults.drop = 0.0;
    let t = world.now;
    // The slave is still bootstrapping; a START reaches it now and is discarded.
    {
        let s = world.slaves[0].machine.as_mut().unwrap();
        assert!(!s.is_connected());
        s.handle_message(&PeerId::master(), start(77), t);
        let (events, sent) = drain_slave(s);
        assert!(!events.iter().any(|e| matches!(e, SEvent::Spawn { .. })));
        assert!(matches!(sent[..], [Message::HelloRetry { .. }]));
    }
    world.submit(77, 0, payload(77), secs(30));
    world.run_for(secs(200));
    assert_eq!(world.spawns.get(&(0, 77)).map(Vec::len), Some(1));
    assert_eq!(world.store[&77].ends_recorded, 1);
}

#[test]
fn trap_14_start_never_resent_after_end() {
    let t0 = Instant::now();
    let mut m = online_master(t0);
    m.add_job(3, W, JobPhase::Scheduled(payload(3)), false, t0)
        .unwrap();
    assert_eq!(actions(&drain_master(&mut m).1), ["START"]);
    // START_OK is lost; the job runs and ends; its END arrives with a description.
    m.handle_message(&peer(), end(3, b"xz"), t0 + secs(10));
    let (events, sent) = drain_master(&mut m);
    assert!(matches!(
        events[..],
        [MEvent::JobEnded {
            job_id: 3,
            crashed: false,
            ..
        }]
    ));
    assert_eq!(sent, vec![(peer(), Message::EndOk { job_id: 3 })]);
    // The log sink has not finished the job yet: still no START, ever.
    for k in 1..10 {
        m.handle_message(&peer(), Message::Ping, t0 + secs(10 + 20 * k));
        m.handle_timeout(t0 + secs(10 + 20 * k));
        assert_eq!(actions(&drain_master(&mut m).1), ["PONG"]);
    }
    // And after a restart restored from the store (END processed).
    let mut m = Master::new(MasterConfig::default());
    m.add_job(3, W, JobPhase::Scheduled(payload(3)), true, t0)
        .unwrap();
    m.handle_message(&peer(), Message::Ping, t0 + secs(300));
    m.handle_timeout(t0 + secs(400));
    assert_eq!(actions(&drain_master(&mut m).1), ["PONG"]);
}

#[test]
fn trap_15_cancel_corner_cases() {
    let t0 = Instant::now();
    // CANCEL for an unknown job: FINISHED stub and END "" "".
    let mut s = connected_slave(t0);
    s.handle_message(&PeerId::master(), Message::Cancel { job_id: 4243 }, t0);
    let (events, sent) = drain_slave(&mut s);
    assert_eq!(
        events,
        vec![SEvent::SaveJob(JobRow {
            id: 4243,
            pid: 0,
            status: JobStatus::Finished,
            prefix: String::new()
        })]
    );
    assert_eq!(sent, vec![end(4243, b"")]);
    // CANCEL for a FINISHED job re-sends END (LAVA stays silent).
    s.handle_message(
        &PeerId::master(),
        Message::Cancel { job_id: 4243 },
        t0 + secs(1),
    );
    assert_eq!(drain_slave(&mut s).1, vec![end(4243, b"")]);

    // CANCEL for a running job: TERM, CANCELING, no END yet; a second CANCEL does nothing.
    let mut s = slave_running(t0, 8, 800);
    s.handle_message(
        &PeerId::master(),
        Message::Cancel { job_id: 8 },
        t0 + secs(2),
    );
    let (events, sent) = drain_slave(&mut s);
    assert!(sent.is_empty());
    assert_eq!(
        events,
        vec![
            SEvent::SaveJob(JobRow {
                id: 8,
                pid: 800,
                status: JobStatus::Canceling,
                prefix: String::new()
            }),
            SEvent::Signal {
                job_id: 8,
                pid: 800,
                signal: Signal::Term
            }
        ]
    );
    s.handle_message(
        &PeerId::master(),
        Message::Cancel { job_id: 8 },
        t0 + secs(3),
    );
    assert_eq!(drain_slave(&mut s), (vec![], vec![]));
    // STATUS while canceling: START_OK.
    s.handle_message(
        &PeerId::master(),
        Message::Status { job_id: 8 },
        t0 + secs(3),
    );
    assert_eq!(drain_slave(&mut s).1, vec![Message::StartOk { job_id: 8 }]);
    // Once lava-run exited the row is FINISHED, so STATUS answers END (LAVA: START_OK).
    let result = JobResult {
        errors: String::new(),
        description: Some(b"canceled".to_vec()),
    };
    s.process_exited(8, result, t0 + secs(4));
    drain_slave(&mut s);
    s.handle_message(
        &PeerId::master(),
        Message::Status { job_id: 8 },
        t0 + secs(5),
    );
    assert_eq!(drain_slave(&mut s).1, vec![end(8, b"canceled")]);

    // The master finishes a Canceling job that ends with an empty END as canceled.
    let mut m = online_master(t0);
    m.add_job(4243, W, JobPhase::Canceling, false, t0).unwrap();
    drain_master(&mut m);
    m.handle_message(&peer(), end(4243, b""), t0 + secs(1));
    let (events, _) = drain_master(&mut m);
    assert!(matches!(
        events[..],
        [MEvent::JobEnded {
            job_id: 4243,
            crashed: true,
            was_canceling: true,
            ..
        }]
    ));
}

#[test]
fn trap_16_what_marks_the_master_alive() {
    let t0 = Instant::now();
    let mut s = connected_slave(t0);
    s.handle_message(&PeerId::master(), Message::Pong { interval: 20 }, t0);
    drain_slave(&mut s);
    // None of these count: the PING stays due 20 s after the last valid message.
    s.handle_message(
        &PeerId::master(),
        Message::EndOk { job_id: 1 },
        t0 + secs(5),
    );
    s.handle_message(&PeerId::master(), Message::HelloOk, t0 + secs(6));
    s.handle_message(
        &PeerId::master(),
        Message::Pong { interval: 3 },
        t0 + secs(7),
    );
    s.handle_message(
        &PeerId::master(),
        Message::StartOk { job_id: 1 },
        t0 + secs(8),
    );
    s.handle_malformed(
        FrameError {
            frame: 0,
            reason: FrameFault::UnknownAction {
                action: "FOO".into(),
            },
        },
        t0 + secs(9),
    );
    assert_eq!(s.ping_interval(), secs(20), "PONG 3 is ignored");
    assert_eq!(s.poll_timeout(), Some(t0 + secs(20)));
    // STATUS does count: no PING at t0 + 20 s any more.
    s.handle_message(
        &PeerId::master(),
        Message::Status { job_id: 1 },
        t0 + secs(10),
    );
    drain_slave(&mut s);
    s.handle_timeout(t0 + secs(20));
    let (_, sent) = drain_slave(&mut s);
    assert!(!sent.contains(&Message::Ping), "{sent:?}");
    s.handle_message(
        &PeerId::master(),
        Message::EndOk { job_id: 1 },
        t0 + secs(21),
    );
    drain_slave(&mut s);
    // Four silent intervals: MasterOffline, informational only; PINGs go on.
    let mut offline = false;
    let mut pings = 0;
    let mut t = t0 + secs(10);
    while t < t0 + secs(120) {
        t = s.poll_timeout().unwrap();
        s.handle_timeout(t);
        let (events, sent) = drain_slave(&mut s);
        offline |= events.contains(&SEvent::MasterOffline);
        pings += sent.iter().filter(|m| **m == Message::Ping).count();
    }
    assert!(offline);
    assert!(pings >= 4);
}

#[test]
fn trap_17_end_processed_is_recorded_explicitly_once() {
    let t0 = Instant::now();
    let mut m = online_master(t0);
    m.add_job(1, W, JobPhase::Running, false, t0).unwrap();
    m.add_job(2, W, JobPhase::Running, false, t0).unwrap();
    drain_master(&mut m);
    for k in 0..3 {
        m.handle_message(&peer(), end(1, b"xz"), t0 + secs(k));
        m.handle_message(&peer(), end(2, b""), t0 + secs(k));
    }
    let (events, sent) = drain_master(&mut m);
    let ended: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            MEvent::JobEnded {
                job_id, crashed, ..
            } => Some((*job_id, *crashed)),
            _ => None,
        })
        .collect();
    assert_eq!(ended, vec![(1, false), (2, true)]);
    assert_eq!(actions(&sent), ["END_OK"; 6]);
}

#[test]
fn trap_18_end_edge_cases() {
    let t0 = Instant::now();
    let mut m = online_master(t0);
    // Unknown job: END_OK at once.
    m.handle_message(&peer(), end(999, b""), t0);
    let (events, sent) = drain_master(&mut m);
    assert_eq!(sent, vec![(peer(), Message::EndOk { job_id: 999 })]);
    assert_eq!(
        events,
        vec![MEvent::EndForUnknownJob {
            job_id: 999,
            hostname: W.into()
        }]
    );
    // A malformed END (missing frame, errors not UTF-8 — §9 #33) is never acked.
    m.handle_malformed(
        &peer(),
        FrameError {
            frame: 2,
            reason: FrameFault::NotUtf8 {
                action: Action::End,
                field: "errors",
                valid_up_to: 0,
            },
        },
        t0,
    );
    let (events, sent) = drain_master(&mut m);
    assert!(sent.is_empty());
    assert!(matches!(
        events[..],
        [MEvent::ProtocolError {
            error: ProtocolError::Malformed(_),
            ..
        }]
    ));
}

#[test]
fn trap_19_end_with_description_leaves_finishing_to_the_log_sink() {
    let t0 = Instant::now();
    let mut m = online_master(t0);
    m.add_job(6, W, JobPhase::Running, false, t0).unwrap();
    m.cancel_job(6, t0).unwrap();
    assert_eq!(actions(&drain_master(&mut m).1), ["CANCEL"]);
    m.handle_message(&peer(), end(6, b"xz"), t0 + secs(5));
    drain_master(&mut m);
    assert_eq!(m.job_phase(6), Some(&JobPhase::Canceling));
    // No CANCEL after the END: the process is gone, CANCEL would only draw empty ENDs.
    m.handle_message(&peer(), Message::Ping, t0 + secs(30));
    m.handle_timeout(t0 + secs(40));
    assert_eq!(actions(&drain_master(&mut m).1), ["PONG"]);
    m.finish_job(6).unwrap();
    assert_eq!(
        m.job_phase(6),
        None,
        "forgotten once finished and END processed"
    );
}

#[test]
fn trap_20_status_on_first_contact_including_hello() {
    let t0 = Instant::now();
    for first in [hello(), Message::Ping, end(55, b"")] {
        let mut m = Master::new(MasterConfig::default());
        m.add_job(9, W, JobPhase::Running, false, t0).unwrap();
        m.add_job(10, W, JobPhase::Canceling, false, t0).unwrap();
        m.add_job(11, "other", JobPhase::Running, false, t0)
            .unwrap();
        m.handle_message(&peer(), first.clone(), t0);
        let (_, sent) = drain_master(&mut m);
        let status: Vec<_> = sent
            .iter()
            .filter(|(_, m)| matches!(m, Message::Status { .. }))
            .collect();
        assert_eq!(
            status,
            vec![&(peer(), Message::Status { job_id: 9 })],
            "{first:?}"
        );
        // Never again for this process: not on a second message, not after a partition.
        m.handle_message(&peer(), hello(), t0 + secs(1));
        m.handle_timeout(t0 + secs(100));
        m.handle_message(&peer(), Message::Ping, t0 + secs(101));
        let (_, sent) = drain_master(&mut m);
        assert!(!sent
            .iter()
            .any(|(_, m)| matches!(m, Message::Status { .. })));
    }
}

#[test]
fn trap_22_slave_restart_keeps_its_jobs() {
    let t0 = Instant::now();
    let rows = vec![
        (
            JobRow {
                id: 1,
                pid: 111,
                status: JobStatus::Running,
                prefix: String::new(),
            },
            secs(30),
        ),
        (
            JobRow {
                id: 2,
                pid: 0,
                status: JobStatus::Running,
                prefix: String::new(),
            },
            secs(1),
        ),
        (
            JobRow {
                id: 3,
                pid: 333,
                status: JobStatus::Finished,
                prefix: "p-".into(),
            },
            secs(100),
        ),
    ];
    let mut s = Slave::restore(SlaveConfig::default(), rows, t0);
    let (_, sent) = drain_slave(&mut s);
    assert!(matches!(sent[..], [Message::Hello { .. }]), "a plain HELLO");
    assert_eq!(s.poll_timeout(), Some(t0), "rows are re-checked at once");
    s.handle_timeout(t0);
    let (events, sent) = drain_slave(&mut s);
    assert!(sent.is_empty(), "nothing but HELLO before HELLO_OK");
    assert_eq!(
        events,
        vec![
            SEvent::CheckProcess {
                job_id: 1,
                pid: Some(111)
            },
            SEvent::CheckProcess {
                job_id: 2,
                pid: None
            },
            SEvent::CollectResult {
                job_id: 3,
                prefix: "p-".into()
            },
        ]
    );
    s.process_alive(1, 111);
    s.process_alive(2, 222);
    s.process_exited(
        3,
        JobResult {
            errors: "oops\n".into(),
            description: Some(b"xz3".to_vec()),
        },
        t0,
    );
    let (events, sent) = drain_slave(&mut s);
    assert_eq!(
        events,
        vec![SEvent::SaveJob(JobRow {
            id: 2,
            pid: 222,
            status: JobStatus::Running,
            prefix: String::new()
        })]
    );
    assert!(sent.is_empty(), "END waits for HELLO_OK");
    s.handle_message(&PeerId::master(), Message::HelloOk, t0 + secs(1));
    let (_, sent) = drain_slave(&mut s);
    assert_eq!(
        sent,
        vec![Message::End {
            job_id: 3,
            errors: "oops\n".into(),
            description: b"xz3".to_vec()
        }]
    );
    // The master does not touch jobs on HELLO from a known worker.
    let mut m = online_master(t0);
    m.add_job(1, W, JobPhase::Running, false, t0).unwrap();
    m.handle_message(&peer(), hello(), t0 + secs(70));
    let (events, sent) = drain_master(&mut m);
    assert_eq!(actions(&sent), ["HELLO_OK"]);
    assert!(events.contains(&MEvent::WorkerHello {
        hostname: W.into(),
        lava_version: Some("2020.05".into()),
        restarted: true
    }));
    assert_eq!(m.job_phase(1), Some(&JobPhase::Running));
}

#[test]
fn trap_22_slave_restart_in_the_simulation_loses_nothing() {
    let mut world = World::new(3, 1, Faults::none());
    world.submit(1, 0, payload(1), secs(40));
    world.run_for(secs(10));
    assert_eq!(common::rows(&world, 0), vec![(1, JobStatus::Running)]);
    world.crash_slave(0, secs(5));
    world.run_for(secs(200));
    assert_eq!(world.spawns.get(&(0, 1)).map(Vec::len), Some(1));
    assert_eq!(world.store[&1].ends_recorded, 1);
    assert!(
        !world.store[&1].crashed,
        "the orphaned lava-run's description arrived"
    );
    assert!(common::no_rows_left(&world));
    // The restarted slave sent a plain HELLO and the master only answered HELLO_OK.
    let to_master = world.delivered(Node::Slave(0), Node::Master);
    assert_eq!(
        to_master
            .iter()
            .filter(|m| matches!(m, Message::Hello { .. }))
            .count(),
        2
    );
}

#[test]
fn trap_23_cancel_escalation_term_term_kill_and_end_after_exit() {
    let t0 = Instant::now();
    let mut s = slave_running(t0, 8, 800);
    s.handle_message(&PeerId::master(), Message::Cancel { job_id: 8 }, t0);
    drain_slave(&mut s);
    let mut signals = Vec::new();
    let mut t = t0;
    while t < t0 + secs(130) {
        t = s.poll_timeout().unwrap();
        s.handle_timeout(t);
        let (events, sent) = drain_slave(&mut s);
        assert!(
            !sent.iter().any(|m| matches!(m, Message::End { .. })),
            "no END while lava-run is alive"
        );
        for e in events {
            match e {
                SEvent::Signal { signal, .. } => signals.push((t - t0, signal)),
                SEvent::CheckProcess { job_id, .. } => s.process_alive(job_id, 800),
                _ => {}
            }
        }
    }
    let first_term = signals.iter().find(|(_, s)| *s == Signal::Term).unwrap().0;
    let first_kill = signals.iter().find(|(_, s)| *s == Signal::Kill).unwrap().0;
    assert!(
        first_term >= secs(60) && first_term < secs(66),
        "{first_term:?}"
    );
    assert!(
        first_kill >= secs(120) && first_kill < secs(126),
        "{first_kill:?}"
    );
    s.process_exited(
        8,
        JobResult {
            errors: String::new(),
            description: None,
        },
        t,
    );
    assert_eq!(drain_slave(&mut s).1, vec![end(8, b"")]);
}

#[test]
fn trap_27_prefix_is_kept_in_the_row_and_used_for_cleanup() {
    let t0 = Instant::now();
    let mut s = connected_slave(t0);
    let mut files = payload(12);
    files.dispatcher = "prefix: slave2-\n".into();
    s.handle_message(&PeerId::master(), files.to_message(12), t0);
    let (events, sent) = drain_slave(&mut s);
    assert_eq!(sent, vec![Message::StartOk { job_id: 12 }]);
    assert_eq!(
        events[0],
        SEvent::SaveJob(JobRow {
            id: 12,
            pid: 0,
            status: JobStatus::Running,
            prefix: "slave2-".into()
        }),
        "the row is stored before lava-run is spawned"
    );
    assert!(matches!(&events[1], SEvent::Spawn { prefix, .. } if prefix == "slave2-"));
    s.spawned(12, Ok(1200), t0);
    s.process_exited(
        12,
        JobResult {
            errors: String::new(),
            description: Some(b"d".to_vec()),
        },
        t0 + secs(1),
    );
    drain_slave(&mut s);
    s.handle_message(
        &PeerId::master(),
        Message::EndOk { job_id: 12 },
        t0 + secs(2),
    );
    let (events, _) = drain_slave(&mut s);
    assert!(events.contains(&SEvent::RemoveWorkDir {
        job_id: 12,
        prefix: "slave2-".into()
    }));
}

#[test]
fn trap_29_empty_device_configuration_fails_the_job_at_start() {
    let t0 = Instant::now();
    let mut m = online_master(t0);
    let mut p = payload(20);
    p.device = String::new();
    m.add_job(20, W, JobPhase::Scheduled(p), false, t0).unwrap();
    let (events, sent) = drain_master(&mut m);
    assert!(sent.is_empty(), "never sent");
    assert!(matches!(
        &events[..],
        [MEvent::JobFailedAtStart { job_id: 20, error, .. }] if error.file == PayloadFile::Device
    ));
    assert_eq!(m.job_phase(20), None);
}

#[test]
fn trap_31_env_must_be_a_mapping_on_both_sides() {
    let t0 = Instant::now();
    let mut p = payload(21);
    p.env = "- not\n- a mapping\n".into();
    // The master never sends it.
    let mut m = online_master(t0);
    m.add_job(21, W, JobPhase::Scheduled(p.clone()), false, t0)
        .unwrap();
    let (events, sent) = drain_master(&mut m);
    assert!(sent.is_empty());
    match &events[..] {
        [MEvent::JobFailedAtStart { error, .. }] => {
            assert_eq!(error.file, PayloadFile::Env);
            assert!(error.to_string().contains("env.yaml"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    // A slave that gets it from another master survives and fails the job.
    let mut s = connected_slave(t0);
    s.handle_message(&PeerId::master(), p.to_message(21), t0);
    let (events, sent) = drain_slave(&mut s);
    assert!(!events.iter().any(|e| matches!(e, SEvent::Spawn { .. })));
    assert!(events
        .iter()
        .any(|e| matches!(e, SEvent::JobRejected { .. })));
    match &sent[..] {
        [Message::StartOk { job_id: 21 }, Message::End {
            job_id: 21,
            errors,
            description,
        }] => {
            assert!(errors.contains("env.yaml is a sequence"), "{errors}");
            assert!(description.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn trap_32_spawn_failure_is_reported_in_end() {
    let t0 = Instant::now();
    let mut s = connected_slave(t0);
    s.handle_message(&PeerId::master(), start(30), t0);
    drain_slave(&mut s);
    s.spawned(30, Err("No such file or directory".into()), t0);
    let (events, sent) = drain_slave(&mut s);
    assert_eq!(
        events,
        vec![SEvent::SaveJob(JobRow {
            id: 30,
            pid: 0,
            status: JobStatus::Finished,
            prefix: String::new()
        })]
    );
    match &sent[..] {
        [Message::End {
            job_id: 30,
            errors,
            description,
        }] => {
            assert!(errors.contains("No such file or directory"));
            assert!(description.is_empty());
        }
        other => panic!("{other:?}"),
    }
    // START again: END again, never a second spawn.
    s.handle_message(&PeerId::master(), start(30), t0 + secs(1));
    let (events, sent) = drain_slave(&mut s);
    assert!(events.is_empty());
    assert!(matches!(sent[..], [Message::End { job_id: 30, .. }]));
}

#[test]
fn slave_listens_only_to_master() {
    let t0 = Instant::now();
    let mut s = connected_slave(t0);
    s.handle_message(&PeerId::from("not-master"), start(1), t0);
    let (events, sent) = drain_slave(&mut s);
    assert!(sent.is_empty());
    assert!(matches!(events[..], [SEvent::ProtocolError { .. }]));
}

#[test]
fn start_ok_from_another_worker_changes_nothing() {
    let t0 = Instant::now();
    let mut m = online_master(t0);
    m.add_job(1, "worker-2", JobPhase::Scheduled(payload(1)), false, t0)
        .unwrap();
    m.handle_message(&peer(), Message::StartOk { job_id: 1 }, t0);
    let (events, _) = drain_master(&mut m);
    assert!(matches!(
        events[..],
        [MEvent::ProtocolError {
            error: ProtocolError::WrongWorker { .. },
            ..
        }]
    ));
    assert!(matches!(m.job_phase(1), Some(JobPhase::Scheduled(_))));
}

#[test]
fn restored_canceling_row_keeps_its_escalation_clock() {
    let t0 = Instant::now();
    let row = JobRow {
        id: 4,
        pid: 400,
        status: JobStatus::Canceling,
        prefix: String::new(),
    };
    // Canceled 70 s before the restart: TERM again at the first check, KILL 50 s later.
    let mut s = Slave::restore(SlaveConfig::default(), vec![(row, secs(70))], t0);
    drain_slave(&mut s);
    s.handle_timeout(t0);
    let (events, _) = drain_slave(&mut s);
    assert!(events.contains(&SEvent::Signal {
        job_id: 4,
        pid: 400,
        signal: Signal::Term
    }));
    s.handle_timeout(t0 + secs(50));
    let (events, _) = drain_slave(&mut s);
    assert!(events.contains(&SEvent::Signal {
        job_id: 4,
        pid: 400,
        signal: Signal::Kill
    }));
}

#[test]
fn cancel_before_the_pid_is_known_terms_once_it_is_found() {
    let t0 = Instant::now();
    let row = JobRow {
        id: 5,
        pid: 0,
        status: JobStatus::Running,
        prefix: String::new(),
    };
    let mut s = Slave::restore(SlaveConfig::default(), vec![(row, secs(1))], t0);
    s.handle_message(&PeerId::master(), Message::HelloOk, t0);
    s.handle_message(&PeerId::master(), Message::Cancel { job_id: 5 }, t0);
    let (events, _) = drain_slave(&mut s);
    assert!(!events.iter().any(|e| matches!(e, SEvent::Signal { .. })));
    s.handle_timeout(t0);
    let (events, _) = drain_slave(&mut s);
    assert!(events.contains(&SEvent::CheckProcess {
        job_id: 5,
        pid: None
    }));
    s.process_alive(5, 500);
    let (events, _) = drain_slave(&mut s);
    assert_eq!(
        events,
        vec![
            SEvent::SaveJob(JobRow {
                id: 5,
                pid: 500,
                status: JobStatus::Canceling,
                prefix: String::new()
            }),
            SEvent::Signal {
                job_id: 5,
                pid: 500,
                signal: Signal::Term
            }
        ]
    );
}

#[test]
fn cancel_while_spawning_terms_as_soon_as_spawned() {
    let t0 = Instant::now();
    let mut s = connected_slave(t0);
    s.handle_message(&PeerId::master(), start(6), t0);
    s.handle_message(&PeerId::master(), Message::Cancel { job_id: 6 }, t0);
    drain_slave(&mut s);
    s.spawned(6, Ok(600), t0);
    let (events, _) = drain_slave(&mut s);
    assert!(events.contains(&SEvent::Signal {
        job_id: 6,
        pid: 600,
        signal: Signal::Term
    }));
}

#[test]
fn finished_by_the_log_sink_before_end_still_records_the_end_once() {
    let t0 = Instant::now();
    let mut m = online_master(t0);
    m.add_job(7, W, JobPhase::Running, false, t0).unwrap();
    m.finish_job(7).unwrap();
    assert_eq!(m.job_phase(7), Some(&JobPhase::Finished));
    m.handle_message(&peer(), end(7, b"xz"), t0 + secs(1));
    let (events, sent) = drain_master(&mut m);
    assert!(matches!(events[..], [MEvent::JobEnded { job_id: 7, .. }]));
    assert_eq!(actions(&sent), ["END_OK"]);
    assert_eq!(m.job_phase(7), None);
}

#[test]
fn trap_14_slave_does_not_rerun_a_job_it_saw_end_ok_for() {
    let t0 = Instant::now();
    let mut s = slave_running(t0, 14, 1400);
    let result = JobResult {
        errors: String::new(),
        description: Some(b"xz".to_vec()),
    };
    s.process_exited(14, result, t0 + secs(1));
    s.handle_message(
        &PeerId::master(),
        Message::EndOk { job_id: 14 },
        t0 + secs(2),
    );
    drain_slave(&mut s);
    // A stale START overtaken by END_OK.
    s.handle_message(&PeerId::master(), start(14), t0 + secs(3));
    let (events, sent) = drain_slave(&mut s);
    assert!(!events.iter().any(|e| matches!(e, SEvent::Spawn { .. })));
    assert_eq!(sent, vec![end(14, b"")]);
}

#[test]
fn bootstrap_answers_anything_but_hello_ok_with_a_retry() {
    let t0 = Instant::now();
    let mut s = Slave::new(SlaveConfig::default(), t0);
    drain_slave(&mut s);
    s.handle_malformed(
        FrameError {
            frame: 0,
            reason: FrameFault::UnknownAction {
                action: "FOO".into(),
            },
        },
        t0 + secs(1),
    );
    s.handle_message(
        &PeerId::master(),
        Message::Pong { interval: 20 },
        t0 + secs(2),
    );
    let (_, sent) = drain_slave(&mut s);
    assert!(matches!(
        sent[..],
        [Message::HelloRetry { .. }, Message::HelloRetry { .. }]
    ));
    assert!(!s.is_connected());
    assert_eq!(s.ping_interval(), secs(5), "the PONG was dropped");
    assert_eq!(
        s.poll_timeout(),
        Some(t0 + secs(7)),
        "the retry timer restarts"
    );
}

#[test]
fn trap_20_master_restart_mid_job_resyncs_with_status() {
    let mut world = World::new(5, 1, Faults::none());
    world.submit(1, 0, payload(1), secs(60));
    world.run_for(secs(10));
    assert_eq!(world.store[&1].state, common::StoredState::Running);
    world.crash_master(secs(30));
    world.run_for(secs(300));
    // The new master heard a PING first (no HELLO) and asked about the running job.
    let to_slave = world.delivered(Node::Master, Node::Slave(0));
    assert!(to_slave.contains(&&Message::Status { job_id: 1 }));
    assert_eq!(world.spawns.get(&(0, 1)).map(Vec::len), Some(1));
    assert_eq!(world.store[&1].ends_recorded, 1);
    assert_eq!(world.store[&1].state, common::StoredState::Finished);
    assert!(common::no_rows_left(&world));
    let hellos = world
        .delivered(Node::Slave(0), Node::Master)
        .iter()
        .filter(|m| matches!(m, Message::Hello { .. }))
        .count();
    assert_eq!(
        hellos, 1,
        "the slave does not greet a restarted master again"
    );
}

#[test]
fn trap_27_a_prefix_that_leaves_the_work_dir_is_refused() {
    let t0 = Instant::now();
    let mut s = connected_slave(t0);
    let mut files = payload(13);
    files.dispatcher = "prefix: ../../etc/\n".into();
    s.handle_message(&PeerId::master(), files.to_message(13), t0);
    let (events, sent) = drain_slave(&mut s);
    assert!(!events.iter().any(|e| matches!(e, SEvent::Spawn { .. })));
    assert!(
        matches!(&sent[..], [Message::StartOk { .. }, Message::End { errors, .. }] if errors.contains("prefix"))
    );
}

/// protocol.md §10.3, run `basic`: the stand-in master's script against our slave, with the
/// real slave's answers as the expectation.
#[test]
fn slave_replays_the_basic_run_of_lava_2020_05() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut s = Slave::new(
        SlaveConfig {
            lava_version: Some("2020.05".into()),
            ..SlaveConfig::default()
        },
        at(0),
    );
    let mut log: Vec<(u64, Message)> = Vec::new();
    let script: Vec<(u64, Option<Message>)> = vec![
        (523, Some(Message::HelloOk)),
        (1526, None), // FOO bar: refused by the codec
        (2529, Some(Message::Status { job_id: 4242 })),
        (3537, Some(Message::Cancel { job_id: 4243 })),
        (4542, None), // a 4-frame START: refused by the codec
        (5545, Some(Message::EndOk { job_id: 4242 })),
        (6548, Some(Message::Pong { interval: 3 })),
        (16561, Some(Message::Pong { interval: 20 })),
        (30585, Some(Message::EndOk { job_id: 4243 })),
    ];
    let mut script = script.into_iter().peekable();
    let mut now_ms = 0u64;
    while now_ms < 45_000 {
        let next_timer = s
            .poll_timeout()
            .map(|t| (t - t0).as_millis() as u64)
            .unwrap_or(u64::MAX);
        let next_msg = script.peek().map(|(ms, _)| *ms).unwrap_or(u64::MAX);
        now_ms = next_timer.min(next_msg).max(now_ms);
        if now_ms >= 45_000 {
            break;
        }
        if next_msg <= next_timer {
            let (_, msg) = script.next().unwrap();
            match msg {
                Some(m) => s.handle_message(&PeerId::master(), m, at(now_ms)),
                None => s.handle_malformed(
                    FrameError {
                        frame: 0,
                        reason: FrameFault::Empty,
                    },
                    at(now_ms),
                ),
            }
        } else {
            s.handle_timeout(at(now_ms));
        }
        while s.poll_event().is_some() {}
        while let Some(m) = s.poll_transmit() {
            log.push((now_ms, m));
        }
    }
    let first = |f: &dyn Fn(&Message) -> bool| log.iter().find(|(_, m)| f(m)).map(|(t, _)| *t);
    // END for the unknown job at once on STATUS, and for the unknown CANCEL.
    assert_eq!(first(&|m| *m == end(4242, b"")), Some(2529));
    assert_eq!(first(&|m| *m == end(4243, b"")), Some(3537));
    // END 4242 stops after its END_OK; END 4243 is re-sent about every 5 s until 30.585 s.
    let ends = |id| {
        log.iter()
            .filter(|(_, m)| *m == end(id, b""))
            .map(|(t, _)| *t)
            .collect::<Vec<_>>()
    };
    assert!(ends(4242).iter().all(|t| *t < 5545));
    let e4243 = ends(4243);
    assert!(e4243.len() >= 5, "{e4243:?}");
    assert!(e4243.iter().all(|t| *t < 30585));
    assert!(e4243.windows(2).all(|w| w[1] - w[0] <= 5_000), "{e4243:?}");
    // PINGs: every 5 s while PONG 3 is ignored, every 20 s after PONG 20.
    let pings: Vec<u64> = log
        .iter()
        .filter(|(_, m)| *m == Message::Ping)
        .map(|(t, _)| *t)
        .collect();
    assert!(
        pings.iter().any(|t| (8_000..16_561).contains(t)),
        "{pings:?}"
    );
    let after: Vec<_> = pings.iter().filter(|t| **t > 16_561).collect();
    assert!(after.windows(2).all(|w| w[1] - w[0] >= 20_000), "{pings:?}");
    assert!(!after.is_empty());
    // Nothing but HELLO is ever re-sent at the start: one HELLO, no HELLO_RETRY after HELLO_OK.
    assert_eq!(
        log.iter()
            .filter(|(_, m)| matches!(m, Message::Hello { .. }))
            .count(),
        1
    );
    assert!(!log
        .iter()
        .any(|(t, m)| matches!(m, Message::HelloRetry { .. }) && *t > 523));
}

#[test]
fn trap_19_a_lost_final_result_is_reported_after_the_grace_period() {
    let t0 = Instant::now();
    let mut m = online_master(t0);
    m.add_job(6, W, JobPhase::Running, false, t0).unwrap();
    m.handle_message(&peer(), end(6, b"xz"), t0 + secs(5));
    drain_master(&mut m);
    // Keep the worker online; the log sink never finishes the job.
    for k in 1..6 {
        m.handle_message(&peer(), Message::Ping, t0 + secs(5 + 20 * k));
        m.handle_timeout(t0 + secs(5 + 20 * k));
        assert!(!drain_master(&mut m)
            .0
            .iter()
            .any(|e| matches!(e, MEvent::FinishOverdue { .. })));
    }
    assert_eq!(m.poll_timeout(), Some(t0 + secs(125)));
    m.handle_timeout(t0 + secs(125));
    let (events, _) = drain_master(&mut m);
    assert_eq!(
        events,
        vec![MEvent::FinishOverdue {
            job_id: 6,
            hostname: W.into(),
            was_canceling: false
        }]
    );
    assert_eq!(m.job_phase(6), None);
    // A restarted master restores the job with its END processed: the grace starts again.
    let mut m = Master::new(MasterConfig::default());
    m.add_job(6, W, JobPhase::Canceling, true, t0).unwrap();
    assert_eq!(m.poll_timeout(), Some(t0 + secs(120)));
    // ... and a timely finish by the log sink cancels it.
    m.finish_job(6).unwrap();
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn trap_19_the_grace_runs_from_the_stored_end_across_restarts() {
    let t0 = Instant::now();
    // END processed 90 s before this restart: 30 s are left.
    let mut m = Master::new(MasterConfig::default());
    m.add_restored_job(6, W, JobPhase::Running, Some(secs(90)), t0)
        .unwrap();
    assert_eq!(m.poll_timeout(), Some(t0 + secs(30)));
    // Restarted again 200 s after that END: overdue at once.
    let mut m = Master::new(MasterConfig::default());
    m.add_restored_job(6, W, JobPhase::Running, Some(secs(200)), t0)
        .unwrap();
    assert_eq!(m.poll_timeout(), Some(t0));
    m.handle_timeout(t0);
    let (events, _) = drain_master(&mut m);
    assert_eq!(
        events,
        vec![MEvent::FinishOverdue {
            job_id: 6,
            hostname: W.into(),
            was_canceling: false
        }]
    );
    // No END processed: no grace, whatever the phase.
    let mut m = Master::new(MasterConfig::default());
    m.add_restored_job(7, W, JobPhase::Running, None, t0)
        .unwrap();
    assert_eq!(m.poll_timeout(), None);
    // A job finished by the log sink waits for its END only.
    m.add_restored_job(8, W, JobPhase::Finished, Some(secs(1)), t0)
        .unwrap();
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn network_partition_takes_the_worker_offline_and_back_without_status() {
    let mut world = World::new(9, 1, Faults::none());
    world.submit(1, 0, payload(1), secs(200));
    world.run_for(secs(10));
    world.partition(0, secs(90));
    world.run_for(secs(100));
    let offline = world
        .master_events
        .iter()
        .position(|e| matches!(e, MEvent::WorkerOffline { .. }))
        .expect("offline during the partition");
    assert!(world.master_events[offline..]
        .iter()
        .any(|e| matches!(e, MEvent::WorkerOnline { .. })));
    world.run_for(secs(400));
    let statuses = world
        .delivered(Node::Master, Node::Slave(0))
        .iter()
        .filter(|m| matches!(m, Message::Status { .. }))
        .count();
    assert_eq!(statuses, 0, "a partition is no restart: no STATUS");
    assert_eq!(world.store[&1].ends_recorded, 1);
    assert!(common::no_rows_left(&world));
}
