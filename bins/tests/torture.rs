//! The torture test: kill -9 of the master and of the slave at random points of jobs' lives
//! (submission over the API, scheduling, START, running, the final result, END), with jobs
//! flowing all the while, then a count of what went wrong. Every count must be 0:
//!
//! * **lost**: a submission that was answered with an id and is not in the store, or a job
//!   that finished without lava-run ever running it;
//! * **run twice**: a job lava-run started more than once (the lava-run test double traces
//!   every start to a file, where no lost log record can hide one);
//! * **stuck**: a job not Finished once everything settled;
//! * **lost results**: a job (every one passes) that did not end Complete with its final
//!   result stored exactly once, or whose END was never acknowledged. Those whose final
//!   result is in `output.yaml` are the master's fault (it wrote the result and lost it);
//!   the others are reported apart: a record still in ZeroMQ's or the kernel's buffers when
//!   the master is killed is lost by LAVA's log protocol itself (PUSH/PULL has no
//!   acknowledgement), and the job then ends Incomplete 120 s after its END.
//!
//! Knobs: `LAVA_TORTURE_KILLS` (kill points; default 30, which keeps `scripts/test.sh`
//! within its budget; run with 200 or more for a real figure), `LAVA_TORTURE_SEED` (replays
//! a run: the kill times and victims), `LAVA_TORTURE_REAL_KILLS` (kill points for LAVA
//! 2020.05's own slave; default 10). The counts and the phases hit are printed (run with
//! `--nocapture` to see them).

mod common;
mod faults;
mod slave_support;

use common::{Lab, Proc};
use faults::{double_job, eventually, start_master, start_slave};
use lava_core::model::{JobHealth, JobState};
use lava_http::auth::basic_header;
use lava_http::codec::{parse_response, write_method_call};
use lava_http::Value;
use lava_store::{JobFilter, Store};
use slave_support::lava_run_double;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WORKER: &str = "torture-worker";
const DEVICES: usize = 4;
/// The queue is kept about this deep, so that every device has work.
const QUEUE_DEPTH: usize = 6;

/// xorshift64*: reproducible from the seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from))
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Which slave runs the jobs.
#[derive(Clone)]
enum SlaveKind {
    /// lava-rs's own.
    LavaRs,
    /// LAVA 2020.05's, from `shared/reference`, with the test double as its lava-run.
    Real { python: PathBuf, script: PathBuf },
}

impl SlaveKind {
    fn start(&self, lab: &Lab, trace: &Path) -> Proc {
        match self {
            SlaveKind::LavaRs => start_slave(lab, WORKER, lava_run_double(), trace),
            SlaveKind::Real { python, script } => {
                let mut command = Command::new(python);
                command
                    .args(["-W", "ignore"])
                    .arg(script)
                    .args(["--hostname", WORKER, "--master", &lab.master_url()])
                    .args(["--socket-addr", &lab.log_url()])
                    .arg("--slave-dir")
                    .arg(lab.data_dir().join("slave"))
                    .args(["--log-file", "-", "--level", "DEBUG"])
                    .env("LAVA_RUN_DOUBLE_TRACE", trace);
                Proc::start(
                    "real lava-slave",
                    command,
                    &lab.data_dir().join("slave.log"),
                )
            }
        }
    }
}

/// LAVA's slave runs the `lava-run` beside its script: a copy of the script beside a
/// `lava-run` that is the test double.
fn real_slave_with_double(lab: &Lab) -> Option<SlaveKind> {
    let (python, script) = common::real_lava_slave()?;
    let dir = lab.data_dir().join("real-slave-bin");
    std::fs::create_dir_all(&dir).expect("cannot create the real slave's dir");
    let copy = dir.join("lava-slave");
    std::fs::copy(&script, &copy).expect("cannot copy the real lava-slave");
    std::os::unix::fs::symlink(lava_run_double(), dir.join("lava-run"))
        .expect("cannot link the lava-run test double");
    Some(SlaveKind::Real {
        python,
        script: copy,
    })
}

/// What the API submitter got answered, and whether a call is in flight.
#[derive(Default)]
struct Submissions {
    acked: Mutex<BTreeSet<i64>>,
    in_flight: AtomicBool,
}

/// POSTs one XML-RPC call; `None` when the master does not answer (down, killed mid-call).
fn rpc(addr: &str, user: &str, token: &str, method: &str, params: &[Value]) -> Option<Value> {
    let body = write_method_call(method, params);
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let head = format!(
        "POST /RPC2 HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nAuthorization: {}\r\n\r\n",
        body.len(),
        basic_header(user, token)
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body.as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let raw = String::from_utf8_lossy(&raw);
    let (_, body) = raw.split_once("\r\n\r\n")?;
    parse_response(body.as_bytes()).ok()?.ok()
}

/// What a kill point aims at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aim {
    /// A random time.
    Random,
    /// An API submission in flight.
    Submission,
    /// A job Scheduled: its START on the wire, its START_OK not stored.
    Start,
    /// Just after lava-run sends its final result.
    FinalResult,
    /// Just after lava-run exits: the slave's END on the wire.
    End,
}

impl Aim {
    fn name(self) -> &'static str {
        match self {
            Aim::Random => "random time",
            Aim::Submission => "API submission",
            Aim::Start => "START",
            Aim::FinalResult => "final result",
            Aim::End => "END",
        }
    }
}

/// Polls `check` every `every` for at most `limit`.
fn poll(limit: Duration, every: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(every);
    }
    false
}

/// Where each job is in its life at a kill.
#[derive(Debug, Default, Clone)]
struct Phases {
    /// Submitted or Scheduling: waiting for a device.
    queued: usize,
    /// Scheduled: START sent or about to be, START_OK not stored.
    scheduled: usize,
    /// Running, lava-run running.
    running: usize,
    /// Running, lava-run exited: its final result and END in flight.
    final_result: usize,
    /// Finished, its END not acknowledged yet (the slave still has the job).
    end: usize,
}

struct Torture {
    lab: Lab,
    trace: PathBuf,
    store: Arc<dyn Store>,
    runtime: tokio::runtime::Runtime,
}

impl Torture {
    fn jobs(&self) -> Vec<lava_core::model::Job> {
        self.runtime
            .block_on(self.store.jobs(&JobFilter::default()))
            .expect("cannot read the jobs")
    }

    fn exited(&self) -> BTreeSet<String> {
        std::fs::read_to_string(&self.trace)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("exit-"))
            .filter_map(|l| l.split(' ').nth(1).map(str::to_owned))
            .collect()
    }

    /// When lava-run sent `job`'s final result and when it exited (µs), from the trace.
    fn final_window(&self, job: i64) -> Option<(u128, u128)> {
        let text = std::fs::read_to_string(&self.trace).unwrap_or_default();
        let time = |word: &str| {
            text.lines().find_map(|l| {
                let parts: Vec<&str> = l.split(' ').collect();
                (parts.first()?.starts_with(word) && parts.get(1)? == &job.to_string())
                    .then(|| parts.get(3)?.parse().ok())?
            })
        };
        Some((time("final")?, time("exit-")?))
    }

    /// How many trace lines start with `word`.
    fn traced(&self, word: &str) -> usize {
        std::fs::read_to_string(&self.trace)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(word))
            .count()
    }

    /// Whether the slave still has the job in its table (`db.sqlite3`, the same for both
    /// slaves): it forgets a job when END_OK arrives.
    fn slave_has(&self, job: i64) -> bool {
        let path = self.lab.data_dir().join("slave/db.sqlite3");
        let Ok(conn) = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        ) else {
            return false;
        };
        if conn.busy_timeout(Duration::from_secs(5)).is_err() {
            return true;
        }
        conn.query_row("SELECT COUNT(*) FROM jobs WHERE id = ?1", [job], |row| {
            row.get::<_, i64>(0)
        })
        .map_or(true, |n| n > 0)
    }

    fn phases(&self) -> Phases {
        let exited = self.exited();
        let mut phases = Phases::default();
        for job in self.jobs() {
            match job.state {
                JobState::Submitted | JobState::Scheduling => phases.queued += 1,
                JobState::Scheduled => phases.scheduled += 1,
                JobState::Running | JobState::Canceling => {
                    if exited.contains(&job.id.to_string()) {
                        phases.final_result += 1;
                    } else {
                        phases.running += 1;
                    }
                }
                JobState::Finished => {
                    if self.slave_has(job.id) {
                        phases.end += 1;
                    }
                }
            }
        }
        phases
    }
}

/// The counts the test asserts on, and what it saw.
#[derive(Debug, Default)]
struct Counts {
    jobs: usize,
    lost: Vec<i64>,
    run_twice: Vec<i64>,
    stuck: Vec<i64>,
    /// Not Complete although the final result is in output.yaml, or stored other than once,
    /// or END never acknowledged: the master's fault.
    lost_results: Vec<i64>,
    /// Incomplete because the final result never reached output.yaml (in flight at a kill).
    results_in_flight: Vec<i64>,
    /// Incomplete without running: the lava-rs slave was killed after recording the job
    /// (pid 0) and before lava-run started, and its restart reported lava-run as crashed
    /// (the slave runs a job at most once; LAVA's slave, which spawns first, would run it
    /// twice).
    never_spawned: Vec<i64>,
    master_exits: usize,
}

fn run_torture(kind: SlaveKind, kills: u64, seed: u64, lab: Lab) -> Counts {
    let trace = lab.data_dir().join("runs.trace");
    for n in 2..=DEVICES {
        let dictionaries = lab.data_dir().join("dispatcher-config/devices");
        std::fs::copy(
            dictionaries.join("shell-01.jinja2"),
            dictionaries.join(format!("shell-{n:02}.jinja2")),
        )
        .expect("cannot copy a dictionary");
    }
    lab.add_example_devices(WORKER);
    for n in 2..=DEVICES {
        lab.admin_ok(&[
            "devices",
            "add",
            &format!("shell-{n:02}"),
            "--device-type",
            "shell",
            "--worker",
            WORKER,
        ]);
    }
    lab.admin_ok(&["users", "add", "torturer", "--admin"]);
    let token = lab
        .admin_ok(&["tokens", "add", "torturer"])
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let url = lab.data_dir().join("lava.sqlite3").display().to_string();
    let store = runtime
        .block_on(lava_lab::open_store(&url, false))
        .expect("cannot open the store");
    let torture = Torture {
        lab,
        trace,
        store,
        runtime,
    };
    let lab = &torture.lab;
    let mut master = start_master(lab, &[]);
    let mut slave = kind.start(lab, &torture.trace);
    let submissions = Submissions::default();
    let stop = AtomicBool::new(false);
    let mut rng = Rng(seed | 1);
    let mut counts = Counts::default();
    let mut hit: BTreeMap<&str, usize> = BTreeMap::new();
    let mut aimed: BTreeMap<&str, usize> = BTreeMap::new();
    let mut victims: BTreeMap<&str, usize> = BTreeMap::new();
    let mut master_kills: Vec<u128> = Vec::new();
    let started = Instant::now();

    std::thread::scope(|scope| {
        // The submitter: over the API (killed mid-call sometimes) or with lava-admin,
        // keeping the queue about QUEUE_DEPTH deep.
        let submitter_seed = rng.next();
        let submissions = &submissions;
        let stop = &stop;
        let token = token.as_str();
        scope.spawn(move || {
            let mut rng = Rng(submitter_seed | 1);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            let store = runtime
                .block_on(lava_lab::open_store(&url, false))
                .expect("cannot open the store");
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(rng.millis(100, 600));
                let queued = runtime
                    .block_on(store.jobs(&JobFilter {
                        states: vec![JobState::Submitted, JobState::Scheduling],
                        ..JobFilter::default()
                    }))
                    .map_or(QUEUE_DEPTH, |jobs| jobs.len());
                if queued >= QUEUE_DEPTH {
                    continue;
                }
                let definition = double_job(&format!("pass:{}", rng.below(5)));
                if rng.below(10) < 7 {
                    submissions.in_flight.store(true, Ordering::SeqCst);
                    let answer = rpc(
                        &lab.http_addr(),
                        "torturer",
                        token,
                        "scheduler.submit_job",
                        &[Value::String(definition)],
                    );
                    submissions.in_flight.store(false, Ordering::SeqCst);
                    if let Some(Value::Int(id)) = answer {
                        if let Ok(mut acked) = submissions.acked.lock() {
                            acked.insert(id);
                        }
                    }
                } else {
                    let out = lab.admin(&["jobs", "submit", &write_job(lab, &definition)]);
                    if out.status.success() {
                        let id = String::from_utf8_lossy(&out.stdout).trim().parse().ok();
                        if let (Some(id), Ok(mut acked)) = (id, submissions.acked.lock()) {
                            acked.insert(id);
                        }
                    }
                }
            }
        });

        for _ in 0..kills {
            // Half the kill points at a random time; the others aimed at the short moments
            // of a job's life, which random times seldom hit.
            let aim = match rng.below(10) {
                0..=4 => Aim::Random,
                5 => Aim::Submission,
                6 => Aim::Start,
                7 | 8 => Aim::FinalResult,
                _ => Aim::End,
            };
            let found = match aim {
                Aim::Random => {
                    std::thread::sleep(rng.millis(200, 2500));
                    true
                }
                Aim::Submission => poll(Duration::from_secs(5), Duration::from_millis(1), || {
                    submissions.in_flight.load(Ordering::SeqCst)
                }),
                Aim::Start => poll(Duration::from_secs(5), Duration::from_millis(10), || {
                    torture.phases().scheduled > 0
                }),
                Aim::FinalResult | Aim::End => {
                    let word = if aim == Aim::End { "exit-" } else { "final " };
                    let seen = torture.traced(word);
                    let found = poll(Duration::from_secs(8), Duration::from_millis(2), || {
                        torture.traced(word) > seen
                    });
                    // The record (or END) is on its way or being stored.
                    std::thread::sleep(rng.millis(0, if aim == Aim::End { 80 } else { 25 }));
                    found
                }
            };
            if found {
                *aimed.entry(aim.name()).or_default() += 1;
            }
            if let Ok(Some(status)) = master.child.try_wait() {
                counts.master_exits += 1;
                eprintln!("lava-master exited on its own ({status}): restarted");
                master = start_master(lab, &[]);
            }
            let phases = torture.phases();
            for (name, n) in [
                ("queued", phases.queued),
                ("scheduled (START)", phases.scheduled),
                ("running", phases.running),
                ("final result", phases.final_result),
                ("END", phases.end),
            ] {
                if n > 0 {
                    *hit.entry(name).or_default() += 1;
                }
            }
            if rng.below(10) < 6 {
                if submissions.in_flight.load(Ordering::SeqCst) {
                    *hit.entry("API submission in flight").or_default() += 1;
                }
                master.kill9();
                master_kills.push(now_micros());
                *victims.entry("master").or_default() += 1;
                std::thread::sleep(rng.millis(0, 1200));
                master = start_master(lab, &[]);
            } else {
                slave.kill9();
                *victims.entry("slave").or_default() += 1;
                std::thread::sleep(rng.millis(0, 1200));
                slave = kind.start(lab, &torture.trace);
            }
        }
        stop.store(true, Ordering::SeqCst);
    });

    // Settle: every job Finished (a final result lost in flight takes the 120 s grace),
    // every END acknowledged.
    let settled = eventually(Duration::from_secs(300), || {
        torture.jobs().iter().all(|j| j.state == JobState::Finished)
    });
    let all = torture.jobs();
    let acked_ends = eventually(Duration::from_secs(60), || {
        all.iter().all(|j| !torture.slave_has(j.id))
    });
    if let Ok(Some(status)) = master.child.try_wait() {
        counts.master_exits += 1;
        eprintln!("lava-master exited on its own ({status})");
    }

    let runs = faults::runs(&torture.trace);
    let ids: BTreeSet<i64> = all.iter().map(|j| j.id).collect();
    counts.jobs = all.len();
    if let Ok(acked) = submissions.acked.lock() {
        counts
            .lost
            .extend(acked.iter().filter(|id| !ids.contains(id)));
    }
    // The logs as text (colour codes, where the logger writes them, removed).
    let logs = strip_ansi(&lab.logs());
    for job in &all {
        let ran = runs.get(&job.id.to_string()).copied().unwrap_or(0);
        if ran > 1 {
            counts.run_twice.push(job.id);
        }
        if job.state != JobState::Finished {
            counts.stuck.push(job.id);
            continue;
        }
        if ran == 0 {
            let restored_unspawned = logs.contains(&format!(
                "job restored from the table job={} pid=0 ",
                job.id
            ));
            if restored_unspawned && job.health == JobHealth::Incomplete {
                counts.never_spawned.push(job.id);
            } else {
                counts.lost.push(job.id);
            }
            continue;
        }
        let finals = torture
            .runtime
            .block_on(torture.store.test_cases(job.id))
            .map(|cases| {
                cases
                    .iter()
                    .filter(|c| c.suite == "lava" && c.name == "job")
                    .count()
            })
            .unwrap_or(0);
        let in_log = faults::job_log(lab, &job.id.to_string())
            .iter()
            .any(|l| l.contains(r#""case": "job", "definition": "lava""#));
        let complete = job.health == JobHealth::Complete && finals == 1;
        if !complete || torture.slave_has(job.id) {
            // In flight: the master was killed between lava-run sending its final result
            // and a moment after lava-run exited (its records handed to the kernel).
            let window = torture.final_window(job.id);
            let in_flight = window.is_some_and(|(sent, exited)| {
                master_kills
                    .iter()
                    .any(|&kill| kill + 5_000 >= sent && kill <= exited + 500_000)
            });
            let nearest = window.and_then(|(sent, _)| {
                master_kills
                    .iter()
                    .map(|&kill| kill as i128 - sent as i128)
                    .min_by_key(|d| d.abs())
            });
            eprintln!(
                "job {}: {} with {finals} final result(s) stored, final result in output.yaml: \
                 {in_log}, END acknowledged: {}, nearest master kill {:?} µs after it was sent",
                job.id,
                job.health,
                !torture.slave_has(job.id),
                nearest
            );
            if in_flight && !in_log && job.health == JobHealth::Incomplete && finals == 0 {
                counts.results_in_flight.push(job.id);
            } else {
                counts.lost_results.push(job.id);
            }
        }
    }
    eprintln!(
        "torture ({}): seed {seed}, {kills} kill points in {:.0} s ({victims:?}), {} jobs; \
         kill points aimed at (and found): {aimed:?}; \
         kill points with jobs in each phase: {hit:?}; lost {:?}, run twice {:?}, stuck {:?}, \
         lost results {:?}, results lost in flight (LAVA's log protocol) {:?}, \
         never spawned (slave killed between its row and lava-run's start) {:?}, \
         master exits {}; settled {settled}, ENDs acknowledged {acked_ends}",
        match kind {
            SlaveKind::LavaRs => "lava-rs slave",
            SlaveKind::Real { .. } => "LAVA 2020.05 slave",
        },
        started.elapsed().as_secs_f64(),
        counts.jobs,
        counts.lost,
        counts.run_twice,
        counts.stuck,
        counts.lost_results,
        counts.results_in_flight,
        counts.never_spawned,
        counts.master_exits,
    );
    if !(counts.lost.is_empty()
        && counts.run_twice.is_empty()
        && counts.stuck.is_empty()
        && counts.lost_results.is_empty()
        && counts.master_exits == 0)
    {
        eprintln!("{}", lab.logs());
    }
    counts
}

/// Writes a job definition beside the lab for lava-admin; returns its path.
fn write_job(lab: &Lab, definition: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let file = lab
        .data_dir()
        .join(format!("job-{}.yaml", NEXT.fetch_add(1, Ordering::SeqCst)));
    std::fs::write(&file, definition).expect("cannot write the job");
    file.display().to_string()
}

/// `text` without ANSI escape sequences (`ESC [ … letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn now_micros() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

fn seed() -> u64 {
    std::env::var("LAVA_TORTURE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
}

fn assert_nothing_lost(counts: &Counts) {
    assert!(counts.jobs > 0, "no job ran");
    assert_eq!(counts.lost, Vec::<i64>::new(), "lost jobs");
    assert_eq!(counts.run_twice, Vec::<i64>::new(), "jobs run twice");
    assert_eq!(counts.stuck, Vec::<i64>::new(), "stuck jobs");
    assert_eq!(counts.lost_results, Vec::<i64>::new(), "lost results");
    assert_eq!(counts.master_exits, 0, "the master exited on its own");
}

#[test]
fn kill_9_of_master_and_slave_at_random_points_loses_nothing() {
    let kills = env_number("LAVA_TORTURE_KILLS", 30);
    let counts = run_torture(SlaveKind::LavaRs, kills, seed(), Lab::new());
    assert_nothing_lost(&counts);
}

#[test]
fn kill_9_with_lava_2020_05_slave_loses_nothing() {
    let lab = Lab::new();
    let Some(kind) = real_slave_with_double(&lab) else {
        return;
    };
    let kills = env_number("LAVA_TORTURE_REAL_KILLS", 10);
    let counts = run_torture(kind, kills, seed(), lab);
    assert_nothing_lost(&counts);
}
