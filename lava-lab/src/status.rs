//! The master's own health, as the API, the web pages and metrics show it: which part of the
//! lab is failing (the store, the files), since when and why, and how much work waits for
//! it to come back.
//!
//! The master's daemon keeps a [`LabStatus`] as it carries out operations and publishes it
//! to the [`Lab`] ([`Lab::publish_status`]); readers take a copy with [`Lab::status`].

use crate::error::{LabError, LabPart};
use crate::lab::Lab;
use lava_core::time::Timestamp;

/// A part of the lab that is failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failing {
    /// The first failure of this spell.
    pub since: Timestamp,
    /// The latest failure.
    pub last: Timestamp,
    /// Failures in this spell.
    pub failures: u64,
    /// The latest error, in the lab's words (names the file or the store).
    pub error: String,
}

/// What the master reports about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabStatus {
    /// The store is failing (down, full, read-only), if it is.
    pub store: Option<Failing>,
    /// The lab's files are failing (job output on a full or read-only disk), if they are.
    pub files: Option<Failing>,
    /// Changes the master must still make once the store or the disk is back (none of
    /// them was acknowledged to anyone yet, or all can be redone).
    pub pending_operations: usize,
    /// Log records received and waiting to be written.
    pub pending_log_records: usize,
}

impl LabStatus {
    /// Whether nothing is failing and nothing waits.
    pub fn is_healthy(&self) -> bool {
        self.store.is_none()
            && self.files.is_none()
            && self.pending_operations == 0
            && self.pending_log_records == 0
    }

    /// Records `error` at `now`. Returns the part that failed if this starts a new spell of
    /// failures (worth a louder report), `None` otherwise or for errors that are answers,
    /// not failures.
    pub fn failed(&mut self, error: &LabError, now: Timestamp) -> Option<LabPart> {
        let part = error.failing_part()?;
        let slot = self.slot(part);
        match slot {
            Some(failing) => {
                failing.last = now;
                failing.failures += 1;
                failing.error = error.to_string();
                None
            }
            None => {
                *slot = Some(Failing {
                    since: now,
                    last: now,
                    failures: 1,
                    error: error.to_string(),
                });
                Some(part)
            }
        }
    }

    /// `part` worked again. Returns how long it had been failing, if it had.
    pub fn recovered(&mut self, part: LabPart) -> Option<Failing> {
        self.slot(part).take()
    }

    fn slot(&mut self, part: LabPart) -> &mut Option<Failing> {
        match part {
            LabPart::Store => &mut self.store,
            LabPart::Files => &mut self.files,
        }
    }
}

impl Lab {
    /// The master's health as last published (all clear in a process that is not the
    /// master).
    pub fn status(&self) -> LabStatus {
        match self.status.lock() {
            Ok(status) => status.clone(),
            // A panic while publishing left a status behind: still the best there is.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Publishes the master's health for readers of [`Lab::status`].
    pub fn publish_status(&self, status: &LabStatus) {
        match self.status.lock() {
            Ok(mut slot) => *slot = status.clone(),
            Err(poisoned) => *poisoned.into_inner() = status.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn disk_full() -> LabError {
        LabError::io(
            PathBuf::from("/m/job-output/1/output.yaml"),
            std::io::Error::from_raw_os_error(28),
        )
    }

    #[test]
    fn a_spell_of_failures_starts_once_and_ends_on_recovery() {
        let mut status = LabStatus::default();
        assert!(status.is_healthy());
        assert_eq!(
            status.failed(&disk_full(), Timestamp::from_secs(1)),
            Some(LabPart::Files)
        );
        assert_eq!(status.failed(&disk_full(), Timestamp::from_secs(5)), None);
        let files = status.files.clone().unwrap();
        assert_eq!((files.since.as_secs(), files.last.as_secs()), (1, 5));
        assert_eq!(files.failures, 2);
        assert!(files.error.contains("output.yaml"), "{}", files.error);
        assert!(status.store.is_none() && !status.is_healthy());
        // Answers are not failures.
        let answer = LabError::NotFound("job 4".into());
        assert_eq!(status.failed(&answer, Timestamp::from_secs(6)), None);
        assert!(status.store.is_none());
        assert_eq!(status.recovered(LabPart::Files).unwrap().failures, 2);
        assert!(status.recovered(LabPart::Files).is_none());
        assert!(status.is_healthy());
    }
}
