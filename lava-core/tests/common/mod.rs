//! A simulated lab for the sans-IO machines: one master, several slaves, a fake store for
//! each, fake lava-run processes, a lossy network and a simulated clock.
//!
//! Everything is deterministic for a given seed: the network draws from a small
//! splitmix64 generator, and time only moves when the simulation says so.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lava_core::master::{self, JobPhase, Master, MasterConfig, StartPayload};
use lava_core::model::JobId;
use lava_core::protocol::Message;
use lava_core::protocol::PeerId;
use lava_core::slave::{self, JobResult, JobRow, JobStatus, Signal, Slave, SlaveConfig};

/// splitmix64: tiny, seedable, good enough to schedule faults.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }

    /// Uniform in `lo..=hi` milliseconds.
    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next_u64() % (hi - lo + 1))
    }
}

/// What the links do to messages.
#[derive(Debug, Clone, Copy)]
pub struct Faults {
    pub drop: f64,
    pub duplicate: f64,
    /// Delays are uniform in 1 ms ..= max_delay (so messages reorder).
    pub max_delay: Duration,
    /// Chance that a node crashes right after carrying out one of its events.
    pub crash_per_event: f64,
    /// Chance that a lava-run ignores TERM (only KILL stops it).
    pub stubborn_lava_run: f64,
    /// Chance that the final `lava`/`job` result never reaches the log sink.
    pub lost_final_result: f64,
    /// Chance that spawning lava-run fails.
    pub spawn_failure: f64,
    /// Each direction of each link delivers in order (like one ZeroMQ/TCP connection);
    /// otherwise delays reorder messages freely.
    pub fifo: bool,
}

impl Faults {
    pub fn none() -> Self {
        Faults {
            drop: 0.0,
            duplicate: 0.0,
            max_delay: Duration::from_millis(5),
            crash_per_event: 0.0,
            stubborn_lava_run: 0.0,
            lost_final_result: 0.0,
            spawn_failure: 0.0,
            fifo: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Node {
    Master,
    Slave(usize),
}

#[derive(Debug, Clone)]
struct Packet {
    at: Instant,
    seq: u64,
    to: Node,
    from: Node,
    message: Message,
}

/// The master's store: what the master driver persists from events.
#[derive(Debug, Clone, PartialEq, Eq, Copy)]
pub enum StoredState {
    Scheduled,
    Running,
    Canceling,
    Finished,
}

#[derive(Debug, Clone)]
pub struct StoredJob {
    pub worker: usize,
    pub payload: StartPayload,
    pub state: StoredState,
    pub end_processed: bool,
    pub crashed: bool,
    pub canceled: bool,
    pub failed_at_start: bool,
    /// Finished by the master's grace timer, the final result never reached the log sink.
    pub final_result_lost: bool,
    /// How many JobEnded events were persisted for this job (must end at 1).
    pub ends_recorded: u32,
}

/// A fake lava-run.
#[derive(Debug, Clone)]
pub struct Process {
    pub pid: u32,
    pub ends_at: Instant,
    pub result: JobResult,
    pub stubborn: bool,
    pub canceled: bool,
    pub files_removed: bool,
    pub final_result_reported: bool,
}

pub struct SlaveNode {
    pub name: String,
    pub machine: Option<Slave>,
    pub down_until: Option<Instant>,
    /// Until when the link between this slave and the master loses everything.
    pub partitioned_until: Option<Instant>,
    /// The persisted job table, with each row's last_update.
    pub db: BTreeMap<JobId, (JobRow, Instant)>,
    pub lifetimes: u32,
}

pub struct World {
    pub rng: Rng,
    pub faults: Faults,
    pub now: Instant,
    pub base: Instant,
    pub master: Option<Master>,
    pub master_down_until: Option<Instant>,
    pub master_lifetimes: u32,
    pub store: BTreeMap<JobId, StoredJob>,
    pub slaves: Vec<SlaveNode>,
    /// lava-run processes by (slave, job); they outlive slave restarts.
    pub processes: BTreeMap<(usize, JobId), Process>,
    /// The lifetimes of each slave in which each job was spawned there (one entry per spawn).
    pub spawns: BTreeMap<(usize, JobId), Vec<u32>>,
    /// Every message delivered, for scripted assertions: (time, from, to, message).
    pub trace: Vec<(Instant, Node, Node, Message)>,
    pub master_events: Vec<master::Event>,
    pub slave_events: Vec<(usize, slave::Event)>,
    in_flight: Vec<Packet>,
    /// Last delivery time per link direction (for FIFO links).
    link_clock: BTreeMap<(Node, Node), Instant>,
    seq: u64,
    next_pid: u32,
    /// Job durations chosen at submission.
    durations: BTreeMap<JobId, Duration>,
}

pub fn payload(job_id: JobId) -> StartPayload {
    StartPayload {
        job: format!("job_name: job {job_id}\nactions: []\n"),
        device: "device_type: qemu\nhostname: qemu01\n".into(),
        dispatcher: String::new(),
        env: String::new(),
        env_dut: String::new(),
    }
}

impl World {
    pub fn new(seed: u64, slaves: usize, faults: Faults) -> Self {
        // Only a base for simulated time: the machines see base + simulated durations.
        let base = Instant::now();
        let mut world = World {
            rng: Rng::new(seed),
            faults,
            now: base,
            base,
            master: Some(Master::new(MasterConfig::default())),
            master_down_until: None,
            master_lifetimes: 1,
            store: BTreeMap::new(),
            slaves: Vec::new(),
            processes: BTreeMap::new(),
            spawns: BTreeMap::new(),
            trace: Vec::new(),
            master_events: Vec::new(),
            slave_events: Vec::new(),
            in_flight: Vec::new(),
            link_clock: BTreeMap::new(),
            seq: 0,
            next_pid: 1000,
            durations: BTreeMap::new(),
        };
        for i in 0..slaves {
            world.slaves.push(SlaveNode {
                name: format!("worker-{i}"),
                machine: Some(Slave::new(slave_config(), base)),
                down_until: None,
                partitioned_until: None,
                db: BTreeMap::new(),
                lifetimes: 1,
            });
            world.pump(Node::Slave(i));
        }
        world
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.base
    }

    /// Submits a job to `worker` (the scheduler's decision), lasting `duration` once started.
    pub fn submit(
        &mut self,
        job_id: JobId,
        worker: usize,
        payload: StartPayload,
        duration: Duration,
    ) {
        self.durations.insert(job_id, duration);
        self.store.insert(
            job_id,
            StoredJob {
                worker,
                payload: payload.clone(),
                state: StoredState::Scheduled,
                end_processed: false,
                crashed: false,
                canceled: false,
                failed_at_start: false,
                final_result_lost: false,
                ends_recorded: 0,
            },
        );
        let name = self.slaves[worker].name.clone();
        let now = self.now;
        if let Some(m) = &mut self.master {
            m.add_job(job_id, &name, JobPhase::Scheduled(payload), false, now)
                .expect("new job id");
            self.pump(Node::Master);
        }
    }

    /// A user cancels the job.
    pub fn cancel(&mut self, job_id: JobId) {
        let Some(job) = self.store.get_mut(&job_id) else {
            return;
        };
        if matches!(job.state, StoredState::Scheduled | StoredState::Running) {
            job.state = StoredState::Canceling;
            let now = self.now;
            if let Some(m) = &mut self.master {
                let _ = m.cancel_job(job_id, now);
                self.pump(Node::Master);
            }
        }
    }

    pub fn crash_master(&mut self, down_for: Duration) {
        self.master = None;
        self.master_down_until = Some(self.now + down_for);
    }

    pub fn crash_slave(&mut self, i: usize, down_for: Duration) {
        self.slaves[i].machine = None;
        self.slaves[i].down_until = Some(self.now + down_for);
    }

    fn restart_master(&mut self) {
        let now = self.now;
        let mut m = Master::new(MasterConfig::default());
        for (job_id, job) in &self.store {
            if job.failed_at_start || (job.state == StoredState::Finished && job.end_processed) {
                continue;
            }
            let phase = match job.state {
                StoredState::Scheduled => JobPhase::Scheduled(job.payload.clone()),
                StoredState::Running => JobPhase::Running,
                StoredState::Canceling => JobPhase::Canceling,
                StoredState::Finished => JobPhase::Finished,
            };
            m.add_job(
                *job_id,
                &self.slaves[job.worker].name,
                phase,
                job.end_processed,
                now,
            )
            .expect("store ids are unique");
        }
        self.master = Some(m);
        self.master_down_until = None;
        self.master_lifetimes += 1;
        self.pump(Node::Master);
    }

    fn restart_slave(&mut self, i: usize) {
        let now = self.now;
        let rows: Vec<(JobRow, Duration)> = self.slaves[i]
            .db
            .values()
            .map(|(row, at)| (row.clone(), now.saturating_duration_since(*at)))
            .collect();
        self.slaves[i].machine = Some(Slave::restore(slave_config(), rows, now));
        self.slaves[i].down_until = None;
        self.slaves[i].lifetimes += 1;
        self.pump(Node::Slave(i));
    }

    /// Cuts the link between slave `i` and the master for `d` (both directions).
    pub fn partition(&mut self, i: usize, d: Duration) {
        self.slaves[i].partitioned_until = Some(self.now + d);
    }

    fn send(&mut self, from: Node, to: Node, message: Message) {
        let slave = match (from, to) {
            (Node::Slave(i), _) | (_, Node::Slave(i)) => i,
            _ => return,
        };
        if self.slaves[slave]
            .partitioned_until
            .is_some_and(|t| t > self.now)
        {
            return;
        }
        if self.rng.chance(self.faults.drop) {
            return;
        }
        let copies = if self.rng.chance(self.faults.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = self
                .rng
                .millis(1, self.faults.max_delay.as_millis().max(1) as u64);
            let mut at = self.now + delay;
            if self.faults.fifo {
                let last = self.link_clock.entry((from, to)).or_insert(at);
                at = at.max(*last);
                *last = at;
            }
            self.seq += 1;
            self.in_flight.push(Packet {
                at,
                seq: self.seq,
                to,
                from,
                message: message.clone(),
            });
        }
    }

    /// Drains a node: events first (each carried out, possibly crashing the node right
    /// after), then transmits. This is the driver contract of both machines.
    pub fn pump(&mut self, node: Node) {
        match node {
            Node::Master => self.pump_master(),
            Node::Slave(i) => self.pump_slave(i),
        }
    }

    fn pump_master(&mut self) {
        loop {
            let Some(m) = &mut self.master else { return };
            let Some(event) = m.poll_event() else { break };
            self.apply_master_event(event.clone());
            self.master_events.push(event);
            if self.rng.chance(self.faults.crash_per_event) {
                let d = self.rng.millis(0, 90_000);
                self.crash_master(d);
                return;
            }
        }
        while let Some((peer, message)) = self.master.as_mut().and_then(|m| m.poll_transmit()) {
            if let Some(i) = self
                .slaves
                .iter()
                .position(|s| s.name.as_bytes() == peer.as_bytes())
            {
                self.send(Node::Master, Node::Slave(i), message);
            }
        }
    }

    fn apply_master_event(&mut self, event: master::Event) {
        use master::Event as E;
        match event {
            E::JobStarted { job_id, .. } => {
                if let Some(job) = self.store.get_mut(&job_id) {
                    if job.state == StoredState::Scheduled {
                        job.state = StoredState::Running;
                    }
                }
            }
            E::JobEnded {
                job_id,
                crashed,
                was_canceling,
                ..
            } => {
                let job = self.store.get_mut(&job_id).expect("ended job is stored");
                job.ends_recorded += 1;
                job.end_processed = true;
                if crashed && job.state != StoredState::Finished {
                    job.state = StoredState::Finished;
                    job.crashed = true;
                    job.canceled = was_canceling;
                }
            }
            E::FinishOverdue {
                job_id,
                was_canceling,
                ..
            } => {
                let job = self.store.get_mut(&job_id).expect("overdue job is stored");
                assert!(job.end_processed, "job {job_id} overdue before its END");
                if job.state != StoredState::Finished {
                    job.state = StoredState::Finished;
                    job.canceled = was_canceling;
                    job.final_result_lost = true;
                }
            }
            E::JobFailedAtStart { job_id, .. } => {
                let job = self.store.get_mut(&job_id).expect("failed job is stored");
                job.state = StoredState::Finished;
                job.failed_at_start = true;
            }
            _ => {}
        }
    }

    fn pump_slave(&mut self, i: usize) {
        loop {
            let Some(s) = &mut self.slaves[i].machine else {
                return;
            };
            let Some(event) = s.poll_event() else { break };
            self.apply_slave_event(i, event.clone());
            self.slave_events.push((i, event));
            if self.rng.chance(self.faults.crash_per_event) {
                let d = self.rng.millis(0, 60_000);
                self.crash_slave(i, d);
                return;
            }
        }
        while let Some(message) = self.slaves[i]
            .machine
            .as_mut()
            .and_then(|s| s.poll_transmit())
        {
            self.send(Node::Slave(i), Node::Master, message);
        }
    }

    fn apply_slave_event(&mut self, i: usize, event: slave::Event) {
        use slave::Event as E;
        let now = self.now;
        match event {
            E::SaveJob(row) => {
                self.slaves[i].db.insert(row.id, (row, now));
            }
            E::DeleteJob { job_id } => {
                self.slaves[i].db.remove(&job_id);
            }
            E::Spawn { job_id, .. } => {
                let outcome = if self.rng.chance(self.faults.spawn_failure) {
                    Err("nice: lava-run: No such file or directory".to_owned())
                } else {
                    let lifetime = self.slaves[i].lifetimes;
                    self.spawns.entry((i, job_id)).or_default().push(lifetime);
                    let pid = self.next_pid;
                    self.next_pid += 1;
                    let duration = self
                        .durations
                        .get(&job_id)
                        .copied()
                        .unwrap_or(Duration::from_secs(30));
                    let stubborn = self.rng.chance(self.faults.stubborn_lava_run);
                    self.processes.insert(
                        (i, job_id),
                        Process {
                            pid,
                            ends_at: now + duration,
                            result: JobResult {
                                errors: String::new(),
                                description: Some(format!("xz of job {job_id}").into_bytes()),
                            },
                            stubborn,
                            canceled: false,
                            files_removed: false,
                            final_result_reported: false,
                        },
                    );
                    Ok(pid)
                };
                if let Some(s) = &mut self.slaves[i].machine {
                    s.spawned(job_id, outcome, now);
                }
            }
            E::CheckProcess { job_id, pid } => {
                let answer = match self.processes.get(&(i, job_id)) {
                    Some(p) if pid.is_none_or(|pid| pid == p.pid) && now < p.ends_at => Ok(p.pid),
                    Some(p) if !p.files_removed => Err(p.result.clone()),
                    _ => Err(crashed_result()),
                };
                if let Some(s) = &mut self.slaves[i].machine {
                    match answer {
                        Ok(pid) => s.process_alive(job_id, pid),
                        Err(result) => s.process_exited(job_id, result, now),
                    }
                }
            }
            E::CollectResult { job_id, .. } => {
                let result = match self.processes.get(&(i, job_id)) {
                    Some(p) if now >= p.ends_at && !p.files_removed => p.result.clone(),
                    _ => crashed_result(),
                };
                if let Some(s) = &mut self.slaves[i].machine {
                    s.process_exited(job_id, result, now);
                }
            }
            E::Signal {
                job_id,
                pid,
                signal,
            } => {
                if let Some(p) = self.processes.get_mut(&(i, job_id)) {
                    assert_eq!(p.pid, pid, "signal for job {job_id} sent to another pid");
                    if now < p.ends_at {
                        match signal {
                            Signal::Term if !p.stubborn => {
                                p.canceled = true;
                                p.ends_at = p.ends_at.min(now + Duration::from_secs(2));
                            }
                            Signal::Term => {}
                            Signal::Kill => {
                                p.ends_at = now;
                                p.result.description = None;
                                p.result.errors = "Killed\n".into();
                            }
                        }
                    }
                }
            }
            E::RemoveWorkDir { job_id, .. } => {
                if let Some(p) = self.processes.get_mut(&(i, job_id)) {
                    p.files_removed = true;
                }
            }
            _ => {}
        }
    }

    /// The log sink sees a lava-run's final `lava`/`job` result when it exits.
    fn report_final_results(&mut self) {
        let now = self.now;
        let mut finished = Vec::new();
        for ((_, job_id), p) in &mut self.processes {
            if !p.final_result_reported && p.ends_at <= now && p.result.description.is_some() {
                p.final_result_reported = true;
                finished.push(*job_id);
            }
        }
        for job_id in finished {
            if self.rng.chance(self.faults.lost_final_result) {
                continue;
            }
            if let Some(job) = self.store.get_mut(&job_id) {
                if job.state != StoredState::Finished {
                    job.canceled = job.state == StoredState::Canceling;
                    job.state = StoredState::Finished;
                }
            }
            if let Some(m) = &mut self.master {
                let _ = m.finish_job(job_id);
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let packets = self.in_flight.iter().map(|p| p.at);
        let master = self.master.as_ref().and_then(|m| m.poll_timeout());
        let master_up = self.master_down_until;
        let slaves = self.slaves.iter().flat_map(|s| {
            [
                s.machine.as_ref().and_then(|m| m.poll_timeout()),
                s.down_until,
            ]
        });
        let ends = self
            .processes
            .values()
            .filter(|p| !p.final_result_reported && p.result.description.is_some())
            .map(|p| p.ends_at);
        packets
            .chain(master)
            .chain(master_up)
            .chain(slaves.flatten())
            .chain(ends)
            .min()
    }

    /// Runs the world until `until` (simulated), handling everything that falls due.
    pub fn run_until(&mut self, until: Instant) {
        let mut steps = 0u32;
        while let Some(next) = self.next_deadline() {
            if next > until {
                break;
            }
            steps += 1;
            assert!(
                steps < 1_000_000,
                "the simulation does not progress at {:?}",
                self.elapsed()
            );
            self.now = self.now.max(next);
            self.step();
        }
        self.now = self.now.max(until);
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    fn step(&mut self) {
        let now = self.now;
        if self.master_down_until.is_some_and(|t| t <= now) {
            self.restart_master();
        }
        for i in 0..self.slaves.len() {
            if self.slaves[i].down_until.is_some_and(|t| t <= now) {
                self.restart_slave(i);
            }
        }
        self.report_final_results();
        // Deliver due packets in order.
        self.in_flight.sort_by_key(|p| (p.at, p.seq));
        let due = self.in_flight.iter().take_while(|p| p.at <= now).count();
        let packets: Vec<Packet> = self.in_flight.drain(..due).collect();
        for p in packets {
            self.deliver(p);
        }
        if self
            .master
            .as_ref()
            .and_then(|m| m.poll_timeout())
            .is_some_and(|t| t <= now)
        {
            if let Some(m) = &mut self.master {
                m.handle_timeout(now);
            }
            self.pump(Node::Master);
        }
        for i in 0..self.slaves.len() {
            let due = self.slaves[i]
                .machine
                .as_ref()
                .and_then(|s| s.poll_timeout())
                .is_some_and(|t| t <= now);
            if due {
                if let Some(s) = &mut self.slaves[i].machine {
                    s.handle_timeout(now);
                }
                self.pump(Node::Slave(i));
            }
        }
    }

    fn deliver(&mut self, p: Packet) {
        let now = self.now;
        match p.to {
            Node::Master => {
                let Some(m) = &mut self.master else { return };
                let Node::Slave(i) = p.from else { return };
                self.trace.push((now, p.from, p.to, p.message.clone()));
                m.handle_message(&PeerId::from_hostname(&self.slaves[i].name), p.message, now);
                self.pump(Node::Master);
            }
            Node::Slave(i) => {
                let Some(s) = &mut self.slaves[i].machine else {
                    return;
                };
                self.trace.push((now, p.from, p.to, p.message.clone()));
                s.handle_message(&PeerId::master(), p.message, now);
                self.pump(Node::Slave(i));
            }
        }
    }

    /// Messages delivered from `from` to `to`, in order.
    pub fn delivered(&self, from: Node, to: Node) -> Vec<&Message> {
        self.trace
            .iter()
            .filter(|(_, f, t, _)| *f == from && *t == to)
            .map(|(_, _, _, m)| m)
            .collect()
    }
}

fn crashed_result() -> JobResult {
    JobResult {
        errors: String::new(),
        description: None,
    }
}

pub fn slave_config() -> SlaveConfig {
    SlaveConfig {
        lava_version: Some("2020.05".into()),
        ..SlaveConfig::default()
    }
}

/// True when the job left no row on any slave (its END was acknowledged).
pub fn no_rows_left(world: &World) -> bool {
    world.slaves.iter().all(|s| s.db.is_empty())
}

/// Rows of a slave, for assertions.
pub fn rows(world: &World, i: usize) -> Vec<(JobId, JobStatus)> {
    world.slaves[i]
        .db
        .values()
        .map(|(r, _)| (r.id, r.status))
        .collect()
}
