//! Helpers shared by the criterion benchmarks (lab loaders and payload generators).
//!
//! [`load_lab`] reads one of the scheduler's benchmark labs (`lava-rs scheduler anchor lab
//! v1`, gzipped JSON, kept outside the repository in `../shared/bench-labs/`) into a
//! [`LabSnapshot`], together with what LAVA 2020.05's own scheduler did on it.
//! [`typical_jobs`] reads the typical job definitions the job-validation benchmarks judge.

use flate2::read::GzDecoder;
use lava_core::model::{
    Device, DeviceHealth, DeviceState, DeviceType, HealthDenominator, Job, JobHealth, JobState,
    MultinodeMembership, Priority, Worker, WorkerHealth, WorkerState,
};
use lava_core::scheduler::{LabSnapshot, LastHealthCheck};
use lava_core::time::Timestamp;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The format string the loader understands.
pub const LAB_FORMAT: &str = "lava-rs scheduler anchor lab v1";

/// The benchmark labs, by file name, with what LAVA 2020.05 did on each (from the labs'
/// README): jobs it moved out of Submitted in one pass, health checks included, and how many
/// of those were health checks.
pub const LABS: &[LabReference] = &[
    LabReference {
        file: "lab-50-100.json.gz",
        lava_assigned: 19,
        lava_health_checks: 1,
        lava_seconds: 0.28,
    },
    LabReference {
        file: "lab-500-1000.json.gz",
        lava_assigned: 298,
        lava_health_checks: 56,
        lava_seconds: 4.13,
    },
    LabReference {
        file: "lab-2000-10000.json.gz",
        lava_assigned: 1028,
        lava_health_checks: 168,
        lava_seconds: 25.3,
    },
];

/// What LAVA's scheduler did on one lab.
#[derive(Debug, Clone, Copy)]
pub struct LabReference {
    /// The lab's file name in the labs directory.
    pub file: &'static str,
    /// Jobs assigned in one pass, health checks included (a multinode sub-job counts once).
    pub lava_assigned: usize,
    /// Health checks among them.
    pub lava_health_checks: usize,
    /// LAVA's time for the pass (median of 3), in seconds.
    pub lava_seconds: f64,
}

/// A lab that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The labs directory or file is not there.
    #[error(
        "{path}: cannot read the benchmark lab ({source}); the labs are not in the repository: \
         put the project's shared/ directory (with bench-labs/) beside the clone, or set \
         LAVA_BENCH_LABS to the directory holding them"
    )]
    Missing {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not gzipped JSON of the expected shape.
    #[error("{path}: not a benchmark lab: {source}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// A field holds a value the model does not know.
    #[error("{path}: {what}")]
    Value {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

/// The directory of the benchmark labs: `$LAVA_BENCH_LABS` if set, else `shared/bench-labs`
/// beside the repository (`../shared/bench-labs` from its root), or beside one of the
/// directories above it (a worktree nested in a checkout). When none exists, the path beside
/// the repository is returned, so that the error names where the labs are expected.
pub fn labs_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LAVA_BENCH_LABS") {
        return PathBuf::from(dir);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let beside = root.join("../shared/bench-labs");
    root.ancestors()
        .skip(1)
        .map(|dir| dir.join("shared/bench-labs"))
        .find(|dir| dir.is_dir())
        .unwrap_or(beside)
}

/// The moment of the pass: the labs give every time as seconds before it.
pub const LAB_NOW: Timestamp = Timestamp::from_secs(1_600_000_000);

#[derive(Deserialize)]
struct RawLab {
    format: String,
    device_types: Vec<RawDeviceType>,
    workers: Vec<RawWorker>,
    devices: Vec<RawDevice>,
    queued_jobs: Vec<RawJob>,
}

#[derive(Deserialize)]
struct RawDeviceType {
    name: String,
    health_check: bool,
    health_check_definition: Option<serde_json::Value>,
    health_frequency: u32,
    health_denominator: String,
    disable_health_check: bool,
    display: bool,
}

#[derive(Deserialize)]
struct RawWorker {
    hostname: String,
    state: String,
    health: String,
    job_limit: u32,
}

#[derive(Deserialize)]
struct RawLastCheck {
    job: i64,
    submit_ago_s: i64,
}

#[derive(Deserialize)]
struct RawDevice {
    hostname: String,
    device_type: String,
    worker: Option<String>,
    state: String,
    health: String,
    tags: Vec<String>,
    last_health_check: Option<RawLastCheck>,
    jobs_since_health_check: u32,
}

#[derive(Deserialize)]
struct RawMultinode {
    group: String,
    role: String,
}

#[derive(Deserialize)]
struct RawJob {
    id: i64,
    device_type: Option<String>,
    priority: i64,
    tags: Vec<String>,
    submit_ago_s: i64,
    submitter: String,
    multinode: Option<RawMultinode>,
    definition: serde_json::Value,
    state: String,
}

/// Loads the lab at `path`.
pub fn load_lab(path: &Path) -> Result<LabSnapshot, LabError> {
    let file = std::fs::File::open(path).map_err(|source| LabError::Missing {
        path: path.to_owned(),
        source,
    })?;
    let raw: RawLab = serde_json::from_reader(std::io::BufReader::new(GzDecoder::new(file)))
        .map_err(|source| LabError::Format {
            path: path.to_owned(),
            source,
        })?;
    convert(raw).map_err(|what| LabError::Value {
        path: path.to_owned(),
        what,
    })
}

fn parse<T>(kind: &str, value: &str, from: fn(&str) -> Option<T>) -> Result<T, String> {
    from(value).ok_or_else(|| format!("unknown {kind} {value:?}"))
}

fn convert(raw: RawLab) -> Result<LabSnapshot, String> {
    if raw.format != LAB_FORMAT {
        return Err(format!("format {:?}, expected {LAB_FORMAT:?}", raw.format));
    }
    let ago = |secs: i64| LAB_NOW.add_secs(-secs);
    let mut lab = LabSnapshot {
        now: LAB_NOW,
        ..LabSnapshot::default()
    };
    for t in raw.device_types {
        lab.device_types.push(DeviceType {
            health_check_definition: match (t.health_check, t.health_check_definition) {
                // JSON is YAML: the definition text parses the same.
                (true, Some(def)) => Some(def.to_string()),
                _ => None,
            },
            health_frequency: t.health_frequency,
            health_denominator: parse(
                "health denominator",
                &t.health_denominator,
                HealthDenominator::from_name,
            )?,
            disable_health_check: t.disable_health_check,
            display: t.display,
            description: String::new(),
            name: t.name,
        });
    }
    for w in raw.workers {
        lab.workers.push(Worker {
            state: parse("worker state", &w.state, WorkerState::from_name)?,
            health: parse("worker health", &w.health, WorkerHealth::from_name)?,
            description: String::new(),
            job_limit: w.job_limit,
            last_ping: None,
            version: None,
            hostname: w.hostname,
        });
    }
    for d in raw.devices {
        if let Some(last) = &d.last_health_check {
            lab.last_health_checks.insert(
                d.hostname.clone(),
                LastHealthCheck {
                    job: last.job,
                    submit_time: ago(last.submit_ago_s),
                    jobs_since: d.jobs_since_health_check,
                },
            );
        }
        // Every device of a lab uses a dictionary that renders in LAVA's tree.
        lab.valid_dictionaries.insert(d.hostname.clone());
        lab.devices.push(Device {
            state: parse("device state", &d.state, DeviceState::from_name)?,
            health: parse("device health", &d.health, DeviceHealth::from_name)?,
            worker: d.worker,
            tags: d.tags.into_iter().collect(),
            last_health_report_job: d.last_health_check.map(|l| l.job),
            description: String::new(),
            device_type: d.device_type,
            hostname: d.hostname,
        });
    }
    for j in raw.queued_jobs {
        lab.jobs.push(Job {
            id: j.id,
            submitter: j.submitter,
            definition: j.definition.to_string(),
            state: parse("job state", &j.state, JobState::from_name)?,
            health: JobHealth::Unknown,
            priority: Priority::new(j.priority)
                .ok_or_else(|| format!("job {}: priority {} out of 0..100", j.id, j.priority))?,
            submit_time: ago(j.submit_ago_s),
            start_time: None,
            end_time: None,
            requested_device_type: j.device_type,
            tags: j.tags.into_iter().collect::<BTreeSet<_>>(),
            multinode: j.multinode.map(|m| MultinodeMembership {
                group: m.group,
                role: m.role,
            }),
            health_check: false,
            actual_device: None,
            failure_comment: None,
            is_public: true,
        });
    }
    Ok(lab)
}

/// How many Submitted jobs one pass started, and how many health checks it created.
pub fn started(lab: &LabSnapshot, decisions: &lava_core::scheduler::Decisions) -> (usize, usize) {
    (decisions.started_jobs(lab), decisions.health_checks.len())
}

/// The typical job definitions of the job-validation benchmarks: lava-rs' own conformance
/// bases (single-node qemu with deploy/boot/test, multinode client-server, an interactive
/// test, a tftp deploy, notify, a dynamic connection), in
/// `lava-core/tests/fixtures/job-verdicts/mutations/`.
pub const TYPICAL_JOBS: &[&str] = &[
    "base-single.yaml",
    "base-multinode.yaml",
    "test-interactive-ok.yaml",
    "deploy-tftp-ok.yaml",
    "notify-email-ok.yaml",
    "mn-dynamic-with-actions.yaml",
];

/// The texts of [`TYPICAL_JOBS`].
pub fn typical_jobs() -> std::io::Result<Vec<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../lava-core/tests/fixtures/job-verdicts/mutations");
    TYPICAL_JOBS
        .iter()
        .map(|f| std::fs::read_to_string(dir.join(f)))
        .collect()
}

/// Adds a device of `device_type` in Maintenance, attached to no worker: it lets jobs of
/// the type be submitted (LAVA refuses a type with no device that is not Retired) and
/// keeps them Submitted, so that a benchmark can feed them logs without a worker.
pub async fn add_idle_device(
    lab: &lava_lab::Lab,
    hostname: &str,
    device_type: &str,
) -> Result<(), lava_lab::LabError> {
    let device = lava_lab::NewDevice {
        hostname: hostname.to_owned(),
        device_type: device_type.to_owned(),
        worker: None,
        health: lava_core::model::DeviceHealth::Maintenance,
        tags: BTreeSet::new(),
        description: String::new(),
    };
    lab.add_device(&device, None).await.map(|_| ())
}
