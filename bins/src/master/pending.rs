//! The master's pending lab operations: what the store or the disk refused, kept in order
//! and tried again with backoff until it works.
//!
//! Every change the daemon makes through the [`Lab`](lava_lab::Lab) is an [`Operation`].
//! One that fails with a transient error (a full or read-only disk, a store that is down,
//! full or busy) waits here instead of stopping the master. Operations on one object (one
//! job, one worker) keep their order: while one waits, those behind it for the same object
//! wait too, so a job's log lines, its results and its end are never reordered; other
//! objects go on.
//!
//! Nothing here was acknowledged to anyone while it waits (see `docs/state-machines.md`,
//! "Disk and store errors"): an END stays un-acknowledged until it is stored, log records
//! are not acknowledged by LAVA's log protocol at all (and the log socket is not read while
//! too many wait), and the rest is what the master derives again after a restart.
//!
//! The queue itself is plain data: the daemon carries the operations out.

use lava_core::model::JobId;
use lava_core::worker_http::FinishedReport;
use lava_lab::{EndReport, FinalResult, JobEnding, LoggedResult};
use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

/// The first wait after a failure; it doubles after every pass that makes no progress.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between two passes.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What an operation is about: operations with the same key are carried out in order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// A worker's row.
    Worker(String),
    /// A job's state: START_OK, END, a START that cannot be built.
    Job(JobId),
    /// A job's log and results, and what must come after them (finishing a job whose
    /// final result is overdue). Kept apart from [`Key::Job`], so that a disk that refuses
    /// the log does not hold back the job's END, and the other way round.
    JobLog(JobId),
}

/// A change the master makes to the lab.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// Record a worker's HELLO (its version; a new worker for an unknown name).
    WorkerHello {
        /// The worker.
        hostname: String,
        /// The LAVA version it announced.
        version: Option<String>,
    },
    /// Store the worker's state (Online or Offline) as the protocol machine has it when
    /// this runs: a later state supersedes an earlier one that could not be stored.
    WorkerState {
        /// The worker.
        hostname: String,
    },
    /// START_OK: the job goes Running.
    JobRunning {
        /// The job.
        job_id: JobId,
    },
    /// END: recorded as processed (and a crashed job finished); its END_OK waits for it.
    JobEnded {
        /// The job.
        job_id: JobId,
        /// Its worker, where the END_OK goes.
        hostname: String,
        /// What END said.
        end: EndReport,
    },
    /// Finish the job this way (lost final result, START that cannot be built).
    FinishJob {
        /// The job.
        job_id: JobId,
        /// How.
        ending: JobEnding,
    },
    /// A record lava-run sent, to append to the job's `output.yaml`.
    LogRecord {
        /// The job.
        job_id: JobId,
        /// The record as received.
        line: String,
    },
    /// A result that is in the job's log, to store (and, from the ZeroMQ log sink, the
    /// final one finishes the job).
    StoreResult(Box<LoggedResult>, FinalResult),
    /// lava-worker reported the version it runs (HTTP): recorded with the protocol, and
    /// why it is refused if it is.
    WorkerVersion {
        /// The worker.
        hostname: String,
        /// Its version.
        version: String,
        /// The version the master requires, when it refuses this one.
        refused_for: Option<String>,
    },
    /// lava-worker's FINISHED: the job finishes as it says, with its description.
    WorkerFinished {
        /// The job.
        job_id: JobId,
        /// What the worker reported.
        report: FinishedReport,
    },
    /// Read back the results the job's log holds and the store does not (a previous master
    /// wrote them and was stopped before storing them), to store them.
    RecoverResults {
        /// The job.
        job_id: JobId,
    },
}

impl Operation {
    /// The object the operation is about.
    pub fn key(&self) -> Key {
        match self {
            Operation::WorkerHello { hostname, .. }
            | Operation::WorkerState { hostname }
            | Operation::WorkerVersion { hostname, .. } => Key::Worker(hostname.clone()),
            // An overdue final result may still wait among the log's operations.
            Operation::FinishJob {
                job_id,
                ending: JobEnding::ResultMissing,
            } => Key::JobLog(*job_id),
            Operation::JobRunning { job_id }
            | Operation::JobEnded { job_id, .. }
            | Operation::FinishJob { job_id, .. }
            | Operation::WorkerFinished { job_id, .. } => Key::Job(*job_id),
            Operation::LogRecord { job_id, .. } | Operation::RecoverResults { job_id } => {
                Key::JobLog(*job_id)
            }
            Operation::StoreResult(result, _) => Key::JobLog(result.job),
        }
    }

    /// What it does, for the log.
    pub fn describe(&self) -> String {
        match self {
            Operation::WorkerHello { hostname, .. } => format!("record HELLO of worker {hostname}"),
            Operation::WorkerState { hostname } => format!("record the state of worker {hostname}"),
            Operation::JobRunning { job_id } => format!("record job {job_id} as Running"),
            Operation::JobEnded { job_id, .. } => format!("record the END of job {job_id}"),
            Operation::FinishJob { job_id, .. } => format!("finish job {job_id}"),
            Operation::LogRecord { job_id, .. } => format!("write a log record of job {job_id}"),
            Operation::RecoverResults { job_id } => {
                format!("read back the unstored results of job {job_id}'s log")
            }
            Operation::WorkerVersion { hostname, .. } => {
                format!("record the version of worker {hostname}")
            }
            Operation::WorkerFinished { job_id, .. } => {
                format!("record lava-worker's FINISHED of job {job_id}")
            }
            Operation::StoreResult(result, _) => format!(
                "store result {}/{} of job {} (log line {})",
                result.report.definition, result.report.case, result.job, result.line
            ),
        }
    }

    /// The bytes of log text it holds (the daemon stops reading the log socket when too
    /// much waits).
    pub fn log_bytes(&self) -> usize {
        match self {
            Operation::LogRecord { line, .. } => line.len(),
            _ => 0,
        }
    }
}

/// An operation and how often it was tried.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The operation.
    pub operation: Operation,
    /// Failed attempts so far.
    pub attempts: u32,
}

impl Entry {
    /// A new operation, not tried yet.
    pub fn new(operation: Operation) -> Self {
        Entry {
            operation,
            attempts: 0,
        }
    }
}

/// The operations that wait, in the order they were made.
#[derive(Debug)]
pub struct Pending {
    entries: VecDeque<Entry>,
    backoff: Duration,
    next_pass: Option<Instant>,
    log_records: usize,
    log_bytes: usize,
}

impl Default for Pending {
    fn default() -> Self {
        Pending {
            entries: VecDeque::new(),
            backoff: FIRST_BACKOFF,
            next_pass: None,
            log_records: 0,
            log_bytes: 0,
        }
    }
}

impl Pending {
    /// Nothing waits.
    pub fn new() -> Self {
        Pending::default()
    }

    /// How many operations wait.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many log records wait to be written.
    pub fn log_records(&self) -> usize {
        self.log_records
    }

    /// How many bytes of log records wait to be written.
    pub fn log_bytes(&self) -> usize {
        self.log_bytes
    }

    /// Whether an operation on `key` waits: a new one must queue behind it.
    pub fn holds(&self, key: &Key) -> bool {
        self.entries.iter().any(|e| &e.operation.key() == key)
    }

    /// Queues entries that failed (or could not run yet) behind everything that waits;
    /// the next pass is due after the current backoff.
    pub fn push(&mut self, entry: Entry, now: Instant) {
        self.count(&entry);
        self.entries.push_back(entry);
        if self.next_pass.is_none() {
            self.next_pass = Some(now + self.backoff);
        }
    }

    /// When the next retry pass is due, if anything waits.
    pub fn next_pass(&self) -> Option<Instant> {
        self.next_pass
    }

    /// Takes every waiting entry, in order, for a retry pass; give back what still fails
    /// with [`Pending::end_pass`].
    pub fn start_pass(&mut self) -> VecDeque<Entry> {
        self.next_pass = None;
        self.log_records = 0;
        self.log_bytes = 0;
        std::mem::take(&mut self.entries)
    }

    /// Ends a retry pass: `failed` waits again (in front of anything queued meanwhile).
    /// A pass that got something done retries soon; one that did not waits twice as long
    /// as the last time, up to [`MAX_BACKOFF`].
    pub fn end_pass(&mut self, failed: VecDeque<Entry>, progressed: bool, now: Instant) {
        self.backoff = if progressed {
            FIRST_BACKOFF
        } else {
            (self.backoff * 2).min(MAX_BACKOFF)
        };
        let queued_meanwhile = std::mem::replace(&mut self.entries, failed);
        self.entries.extend(queued_meanwhile);
        (self.log_records, self.log_bytes) = self
            .entries
            .iter()
            .map(Self::weight)
            .fold((0, 0), |(r, b), (er, eb)| (r + er, b + eb));
        self.next_pass = (!self.entries.is_empty()).then(|| now + self.backoff);
    }

    /// The current wait between passes.
    pub fn backoff(&self) -> Duration {
        self.backoff
    }

    /// The keys that wait, for reports.
    pub fn keys(&self) -> BTreeSet<Key> {
        self.entries.iter().map(|e| e.operation.key()).collect()
    }

    fn count(&mut self, entry: &Entry) {
        let (records, bytes) = Self::weight(entry);
        self.log_records += records;
        self.log_bytes += bytes;
    }

    /// The log records and bytes an entry holds.
    fn weight(entry: &Entry) -> (usize, usize) {
        match entry.operation {
            Operation::LogRecord { .. } => (1, entry.operation.log_bytes()),
            _ => (0, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(job_id: JobId, line: &str) -> Entry {
        Entry::new(Operation::LogRecord {
            job_id,
            line: line.into(),
        })
    }

    #[test]
    fn operations_on_one_object_share_a_key() {
        let running = Operation::JobRunning { job_id: 4 };
        let not_started = Operation::FinishJob {
            job_id: 4,
            ending: JobEnding::NotStarted { reason: "x".into() },
        };
        assert_eq!(running.key(), not_started.key());
        // Finishing a job whose final result is overdue waits for its log's operations.
        let overdue = Operation::FinishJob {
            job_id: 4,
            ending: JobEnding::ResultMissing,
        };
        let record = Operation::LogRecord {
            job_id: 4,
            line: "{}".into(),
        };
        assert_eq!(overdue.key(), record.key());
        assert_ne!(record.key(), running.key());
        assert_eq!(
            Operation::WorkerState {
                hostname: "w1".into()
            }
            .key(),
            Key::Worker("w1".into())
        );
        assert!(running.describe().contains("job 4"));
    }

    #[test]
    fn a_key_is_held_while_anything_for_it_waits() {
        let t0 = Instant::now();
        let mut pending = Pending::new();
        assert!(pending.is_empty() && pending.next_pass().is_none());
        pending.push(record(1, "abc"), t0);
        pending.push(record(1, "de"), t0);
        assert!(pending.holds(&Key::JobLog(1)));
        assert!(!pending.holds(&Key::JobLog(2)));
        assert!(!pending.holds(&Key::Job(1)));
        assert_eq!((pending.log_records(), pending.log_bytes()), (2, 5));
        assert_eq!(pending.next_pass(), Some(t0 + FIRST_BACKOFF));
        assert_eq!(pending.keys().len(), 1);
    }

    #[test]
    fn passes_keep_the_order_and_back_off_until_something_works() {
        let t0 = Instant::now();
        let mut pending = Pending::new();
        pending.push(record(1, "a"), t0);
        pending.push(record(2, "b"), t0);
        // A pass where everything fails: the same order, twice the wait.
        let taken = pending.start_pass();
        assert!(pending.is_empty() && pending.next_pass().is_none());
        assert_eq!(pending.log_records(), 0);
        pending.push(record(1, "c"), t0);
        pending.end_pass(taken, false, t0);
        let lines: Vec<_> = pending
            .start_pass()
            .into_iter()
            .map(|e| match e.operation {
                Operation::LogRecord { line, .. } => line,
                _ => String::new(),
            })
            .collect();
        assert_eq!(lines, ["a", "b", "c"], "what failed stays in front");
        assert_eq!(pending.backoff(), FIRST_BACKOFF * 2);
        for _ in 0..20 {
            pending.end_pass(VecDeque::from([record(1, "a")]), false, t0);
            pending.start_pass();
        }
        assert_eq!(pending.backoff(), MAX_BACKOFF);
        // Progress: back to a quick retry.
        pending.end_pass(VecDeque::from([record(1, "a")]), true, t0);
        assert_eq!(pending.backoff(), FIRST_BACKOFF);
        assert_eq!(pending.next_pass(), Some(t0 + FIRST_BACKOFF));
        assert_eq!((pending.log_records(), pending.log_bytes()), (1, 1));
        // Nothing left: no pass due.
        pending.start_pass();
        pending.end_pass(VecDeque::new(), true, t0);
        assert!(pending.next_pass().is_none());
    }
}
