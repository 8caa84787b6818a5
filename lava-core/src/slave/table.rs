//! The slave's job table: the rows the driver persists, with LAVA's columns and codes.

use std::fmt;

use crate::model::JobId;

/// A job's status in the table (LAVA's integer codes, `jobs.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// lava-run was started (or is being started: pid 0).
    Running,
    /// CANCEL received, lava-run signalled, not yet exited.
    Canceling,
    /// lava-run exited (or never ran): END is sent until END_OK.
    Finished,
}

impl JobStatus {
    /// LAVA's code: RUNNING=0, CANCELING=1, FINISHED=2.
    pub const fn code(self) -> i64 {
        match self {
            JobStatus::Running => 0,
            JobStatus::Canceling => 1,
            JobStatus::Finished => 2,
        }
    }

    /// The status for LAVA's code.
    pub fn from_code(code: i64) -> Result<Self, UnknownStatus> {
        match code {
            0 => Ok(JobStatus::Running),
            1 => Ok(JobStatus::Canceling),
            2 => Ok(JobStatus::Finished),
            other => Err(UnknownStatus(other)),
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JobStatus::Running => "RUNNING",
            JobStatus::Canceling => "CANCELING",
            JobStatus::Finished => "FINISHED",
        })
    }
}

/// A `jobs.status` value that is not one of LAVA's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("job table: status {0} is not RUNNING (0), CANCELING (1) or FINISHED (2)")]
pub struct UnknownStatus(pub i64);

/// One row of the job table (`jobs(id, pid, status, last_update, prefix)`).
///
/// `last_update` is not here: the machine never reads the wall clock, so the driver stamps
/// the row when it writes it and, on restart, passes the row's age to
/// [`Slave::restore`](super::Slave::restore).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    /// The job id.
    pub id: JobId,
    /// lava-run's pid; 0 while it is being started or when it never ran.
    pub pid: u32,
    /// Where the job stands.
    pub status: JobStatus,
    /// The `prefix` of the job's dispatcher configuration (per-job directory names).
    pub prefix: String,
}

impl JobRow {
    /// The per-job directory name, `<prefix><id>`.
    pub fn dir_name(&self) -> String {
        format!("{}{}", self.prefix, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for status in [
            JobStatus::Running,
            JobStatus::Canceling,
            JobStatus::Finished,
        ] {
            assert_eq!(JobStatus::from_code(status.code()), Ok(status));
        }
        assert_eq!(JobStatus::from_code(3), Err(UnknownStatus(3)));
        assert_eq!(JobStatus::Canceling.code(), 1);
    }

    #[test]
    fn dir_name_uses_prefix() {
        let row = JobRow {
            id: 42,
            pid: 0,
            status: JobStatus::Running,
            prefix: "a-".into(),
        };
        assert_eq!(row.dir_name(), "a-42");
    }
}
