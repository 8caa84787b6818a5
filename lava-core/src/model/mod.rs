//! The lab model: jobs, devices, device types, workers and tags, with LAVA's integer codes.
//!
//! The integer codes are what LAVA 2020.05's database stores (`lava_scheduler_app/models.py`);
//! the PostgreSQL store and the Python bindings use them as they are. Names are LAVA's own,
//! as its UI and API print them.

pub mod transitions;

pub use names::{check_worker_name, WorkerNameError};
pub use outcome::{ErrorType, TestResult};
pub use transitions::Changes;

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// Declares a LAVA enum with its database code and its display name.
macro_rules! lava_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* $variant = $code),+
        }

        impl $name {
            /// Every value, in code order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The integer LAVA stores in its database.
            pub const fn code(self) -> i32 {
                self as i32
            }

            /// The value for a database code, if there is one.
            pub fn from_code(code: i32) -> Option<Self> {
                match code {
                    $($code => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The name LAVA prints for this value.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value for a name as LAVA prints it (case-insensitive).
            pub fn from_name(name: &str) -> Option<Self> {
                $(if name.eq_ignore_ascii_case($text) { return Some($name::$variant); })+
                None
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

mod names;
mod outcome;

lava_enum! {
    /// A job's progress (`TestJob.state`).
    JobState {
        Submitted = 0 => "Submitted",
        /// Multinode only: part of the group has devices.
        Scheduling = 1 => "Scheduling",
        Scheduled = 2 => "Scheduled",
        Running = 3 => "Running",
        Canceling = 4 => "Canceling",
        Finished = 5 => "Finished",
    }
}

lava_enum! {
    /// How a job ended (`TestJob.health`).
    JobHealth {
        Unknown = 0 => "Unknown",
        Complete = 1 => "Complete",
        Incomplete = 2 => "Incomplete",
        Canceled = 3 => "Canceled",
    }
}

lava_enum! {
    /// A device's occupation (`Device.state`), derived from the job it holds.
    DeviceState {
        Idle = 0 => "Idle",
        Reserved = 1 => "Reserved",
        Running = 2 => "Running",
    }
}

lava_enum! {
    /// A device's health (`Device.health`).
    DeviceHealth {
        Good = 0 => "Good",
        Unknown = 1 => "Unknown",
        Looping = 2 => "Looping",
        Bad = 3 => "Bad",
        Maintenance = 4 => "Maintenance",
        Retired = 5 => "Retired",
    }
}

lava_enum! {
    /// Whether the master hears from a worker (`Worker.state`), managed by the master.
    WorkerState {
        Online = 0 => "Online",
        Offline = 1 => "Offline",
    }
}

lava_enum! {
    /// A worker's administrative health (`Worker.health`), set by admins.
    WorkerHealth {
        Active = 0 => "Active",
        Maintenance = 1 => "Maintenance",
        Retired = 2 => "Retired",
    }
}

lava_enum! {
    /// The unit of a device type's health-check frequency (`DeviceType.health_denominator`).
    HealthDenominator {
        Hours = 0 => "hours",
        Jobs = 1 => "jobs",
    }
}

/// A job's priority: 0 (low) to 100 (high).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Priority(u8);

impl Priority {
    /// `low` in a job definition.
    pub const LOW: Priority = Priority(0);
    /// `medium` in a job definition, and the default.
    pub const MEDIUM: Priority = Priority(50);
    /// `high` in a job definition.
    pub const HIGH: Priority = Priority(100);

    /// A priority from a number, if it is within 0..=100.
    pub fn new(value: i64) -> Option<Self> {
        u8::try_from(value).ok().filter(|v| *v <= 100).map(Priority)
    }

    /// A priority from its name (`low`, `medium`, `high`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "low" => Some(Self::LOW),
            "medium" => Some(Self::MEDIUM),
            "high" => Some(Self::HIGH),
            _ => None,
        }
    }

    /// The number, 0..=100.
    pub const fn value(self) -> u8 {
        self.0
    }
}

impl Default for Priority {
    fn default() -> Self {
        Self::MEDIUM
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A job's database id.
pub type JobId = i64;

/// Where a multinode sub-job belongs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MultinodeMembership {
    /// The group id shared by every sub-job (`TestJob.target_group`).
    pub group: String,
    /// The role of this sub-job in the `lava-multinode` protocol.
    pub role: String,
}

/// A test job (`TestJob`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Database id.
    pub id: JobId,
    /// Who submitted it.
    pub submitter: String,
    /// The definition as submitted (YAML text; for multinode, the sub-job's definition).
    pub definition: String,
    /// Progress.
    pub state: JobState,
    /// Outcome.
    pub health: JobHealth,
    /// 0..=100.
    pub priority: Priority,
    /// When it was submitted.
    pub submit_time: Timestamp,
    /// When it started running (START_OK).
    pub start_time: Option<Timestamp>,
    /// When it finished.
    pub end_time: Option<Timestamp>,
    /// The device type it asked for; `None` for multinode sub-jobs without a device
    /// (dynamic connections).
    pub requested_device_type: Option<String>,
    /// Tags every device it runs on must carry.
    pub tags: BTreeSet<String>,
    /// Its multinode group and role, if any.
    pub multinode: Option<MultinodeMembership>,
    /// Whether this is a health check created by the scheduler.
    pub health_check: bool,
    /// The device it was given.
    pub actual_device: Option<String>,
    /// Why it failed, for people to read.
    pub failure_comment: Option<String>,
    /// Whether anyone may see it.
    pub is_public: bool,
}

impl Job {
    /// Whether this is a multinode sub-job that needs no device of its own (a "dynamic
    /// connection", e.g. an ssh guest): it follows its host role's job.
    pub fn is_dynamic_connection(&self) -> bool {
        self.multinode.is_some() && self.requested_device_type.is_none()
    }

    /// The multinode group id, if the job belongs to one.
    pub fn target_group(&self) -> Option<&str> {
        self.multinode.as_ref().map(|m| m.group.as_str())
    }
}

/// A device (`Device`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Unique hostname; its dictionary is `devices/<hostname>.jinja2`.
    pub hostname: String,
    /// Its device type's name.
    pub device_type: String,
    /// Occupation.
    pub state: DeviceState,
    /// Health.
    pub health: DeviceHealth,
    /// The worker it is attached to.
    pub worker: Option<String>,
    /// Tags a job may require.
    pub tags: BTreeSet<String>,
    /// The last health-check job that ran on it.
    pub last_health_report_job: Option<JobId>,
    /// Free text for admins.
    pub description: String,
}

/// A device type (`DeviceType`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceType {
    /// Unique name, matching `device-types/<name>.jinja2`.
    pub name: String,
    /// The health-check job definition, if the type has one.
    pub health_check_definition: Option<String>,
    /// How often a health check is due, in `health_denominator` units (LAVA default 24).
    pub health_frequency: u32,
    /// The unit of `health_frequency`.
    pub health_denominator: HealthDenominator,
    /// Health checks turned off for the whole type.
    pub disable_health_check: bool,
    /// Shown in lists.
    pub display: bool,
    /// Free text for admins.
    pub description: String,
}

/// A worker (`Worker`): a slave that connects to the master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Worker {
    /// Its hostname, which is also its ZeroMQ identity.
    pub hostname: String,
    /// Managed by the master from the protocol.
    pub state: WorkerState,
    /// Set by admins.
    pub health: WorkerHealth,
    /// Free text for admins.
    pub description: String,
    /// 0 = unlimited; else the most devices Reserved or Running on it at once.
    pub job_limit: u32,
    /// When the master last heard from it.
    pub last_ping: Option<Timestamp>,
    /// The LAVA version its HELLO announced, if any.
    pub version: Option<String>,
}

/// How a worker talks to the master: a worker is one or the other by how it connects, and
/// one master serves both generations at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WorkerProtocol {
    /// LAVA's ZeroMQ master/slave protocol v3 (`lava-slave`, LAVA 2018.2 to 2020.05).
    Zmq,
    /// LAVA's HTTP worker API (`lava-worker`, LAVA 2020.09 and later).
    Http,
}

impl WorkerProtocol {
    /// The name stored and shown: `zmq` or `http`.
    pub fn name(self) -> &'static str {
        match self {
            WorkerProtocol::Zmq => "zmq",
            WorkerProtocol::Http => "http",
        }
    }

    /// The protocol named `name` (as [`WorkerProtocol::name`] writes it).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "zmq" => Some(WorkerProtocol::Zmq),
            "http" => Some(WorkerProtocol::Http),
            _ => None,
        }
    }
}

impl fmt::Display for WorkerProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A tag (`Tag`): a name a job can require and a device can carry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Tag {
    /// Unique name.
    pub name: String,
    /// Free text for admins.
    pub description: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_lavas() {
        assert_eq!(JobState::Finished.code(), 5);
        assert_eq!(JobHealth::Canceled.code(), 3);
        assert_eq!(DeviceHealth::Maintenance.code(), 4);
        assert_eq!(DeviceHealth::from_code(5), Some(DeviceHealth::Retired));
        assert_eq!(DeviceHealth::from_code(6), None);
        assert_eq!(WorkerState::Offline.code(), 1);
        assert_eq!(
            WorkerHealth::from_name("retired"),
            Some(WorkerHealth::Retired)
        );
        assert_eq!(HealthDenominator::Jobs.code(), 1);
    }

    #[test]
    fn priorities() {
        assert_eq!(Priority::from_name("HIGH"), Some(Priority::HIGH));
        assert_eq!(Priority::new(101), None);
        assert_eq!(Priority::new(-1), None);
        assert_eq!(Priority::default().value(), 50);
    }
}

/// A state change that is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}: cannot go from {from} to {to}")]
pub struct TransitionError {
    /// The object, e.g. `job 42` or `device qemu01`.
    pub object: String,
    /// Its current state or health.
    pub from: String,
    /// The state or health that was asked for.
    pub to: String,
}
