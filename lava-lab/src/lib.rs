//! The lab layer of lava-rs: every operation that changes the lab, in one place.
//!
//! A [`Lab`] holds the store, the lab's directories ([`LabPaths`]), the renderer over the
//! lab's template search path ([`SearchPath`]), the clock and the one seeded random source
//! ([`Random`]). Its methods are the lab's rules: what a submission becomes, who may cancel
//! or see a job, the health a finished job gets ([`finished_health`]), how an admin's health
//! change moves devices, what a worker's name may be, where templates are searched, what
//! START carries. The decisions themselves are `lava-core`'s pure functions; the `Lab` reads
//! their inputs, writes their outputs with the preconditions they were computed on, and
//! retries when someone else changed the same rows meanwhile.
//!
//! lava-master's daemon, the XML-RPC API, lava-admin and the Python harness all call it;
//! none of them changes the store or the lab's files by itself. `docs/architecture.md` has
//! the table of which rule lives where.
//!
//! ```no_run
//! # async fn example() -> Result<(), lava_lab::LabError> {
//! use lava_lab::{open_store, Lab, LabConfig, LabPaths};
//! let store = open_store("/var/lib/lava-rs/lava.sqlite3", false).await?;
//! let lab = Lab::new(store, LabConfig::new(LabPaths::under("/var/lib/lava-rs".as_ref())))?;
//! let submitted = lab.submit(&std::fs::read_to_string("job.yaml").unwrap(), "admin").await?;
//! println!("{:?}", submitted.ids);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod clock;
mod config;
mod device_types;
mod devices;
mod dictionaries;
mod error;
mod files;
mod job_output;
mod jobs;
mod lab;
mod logs;
mod metrics;
mod permissions;
mod random;
mod run;
mod schedule;
mod status;
mod store;
mod templates;
mod users;
mod why;
mod worker_api;
mod worker_files;
mod workers;

#[cfg(test)]
mod testing;

pub use clock::{Clock, SystemClock};
pub use config::{LabConfig, LabPaths};
pub use device_types::{check_device_type_name, NewDeviceType};
pub use devices::{check_file_name, DeviceUpdate, NewDevice};
pub use error::{LabError, LabPart, Result};
pub use job_output::{for_each_line_from, job_output_dir, read_lines, JobLog};
pub use jobs::{can_cancel, can_view, can_view_as, Canceled, JobQuery, Submitted, Viewer};
pub use lab::Lab;
pub use lava_store::User;
pub use logs::{Appended, BatchWritten, FinalResult, JobLogs, LoggedResult, Written};
pub use metrics::{Direction, LabMetrics};
pub use permissions::parse_permission;
pub use random::Random;
pub use run::{finished_health, EndReport, JobEnding, JobStart};
pub use schedule::HEALTH_CHECK_SUBMITTER;
pub use status::{Failing, LabStatus};
pub use store::open_store;
pub use templates::SearchPath;
pub use why::{Explanations, JobWait, QueuedJob, EXPLANATIONS_MAX_AGE_SECS};
pub use worker_api::{AutoRegistration, Registration, RegistrationRefusal, TokenRefusal};
pub use worker_files::{WorkerFile, WorkerFiles};
pub use workers::{NewWorker, WorkerUpdate};
