//! How a job or a test case ended, as the dispatcher reports it: [`TestResult`] (a test
//! case's `result`) and [`ErrorType`] (a failed job's `error_type`).
//!
//! These are the one definition of each concept: the log-record parser reads them, the
//! transitions decide device health from them, the stores keep their codes.

use serde::{Deserialize, Serialize};
use std::fmt;

lava_enum! {
    /// The outcome of a test case (`TestCase.result` in `lava_results_app`, with LAVA's codes).
    TestResult {
        Pass = 0 => "pass",
        Fail = 1 => "fail",
        Skip = 2 => "skip",
        Unknown = 3 => "unknown",
    }
}

impl TestResult {
    /// The value for the word a `results` log record carries. lava-logs looks the word up
    /// as written (lower case), so `PASS` is not a result.
    pub fn from_record(word: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.name() == word)
    }
}

/// The class of a job failure (`error_type`, from the dispatcher's `lava_common.exceptions`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum ErrorType {
    /// No error (a passing job, or a report without `error_type`).
    #[default]
    None,
    /// The lab's infrastructure failed (network, power, serial).
    Infrastructure,
    /// The device or its dictionary is misconfigured.
    Configuration,
    /// A bug in LAVA itself.
    Bug,
    /// The job definition is at fault.
    Job,
    /// The test itself failed.
    Test,
    /// The job was canceled.
    Canceled,
    /// An action timed out.
    LavaTimeout,
    /// A multinode synchronisation timed out.
    MultinodeTimeout,
    /// Any other text (kept as sent; it does not blame the device).
    Other(String),
}

impl ErrorType {
    /// The type as written in `error_type`.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorType::None => "None",
            ErrorType::Infrastructure => "Infrastructure",
            ErrorType::Configuration => "Configuration",
            ErrorType::Bug => "Bug",
            ErrorType::Job => "Job",
            ErrorType::Test => "Test",
            ErrorType::Canceled => "Canceled",
            ErrorType::LavaTimeout => "LAVATimeout",
            ErrorType::MultinodeTimeout => "MultinodeTimeout",
            ErrorType::Other(other) => other,
        }
    }

    /// The type named `name`; an empty name (lava-worker's FINISHED of a passing job) and
    /// `None` are no error.
    pub fn from_name(name: &str) -> ErrorType {
        match name {
            "" | "None" => ErrorType::None,
            "Infrastructure" => ErrorType::Infrastructure,
            "Configuration" => ErrorType::Configuration,
            "Bug" => ErrorType::Bug,
            "Job" => ErrorType::Job,
            "Test" => ErrorType::Test,
            "Canceled" => ErrorType::Canceled,
            "LAVATimeout" => ErrorType::LavaTimeout,
            "MultinodeTimeout" => ErrorType::MultinodeTimeout,
            other => ErrorType::Other(other.to_owned()),
        }
    }

    /// Whether the error says more about the device than about the job: LAVA then sends the
    /// device back to Unknown health so that a health check runs before the next job.
    pub fn blames_device(&self) -> bool {
        matches!(
            self,
            ErrorType::Infrastructure | ErrorType::Configuration | ErrorType::Bug
        )
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_type_names_round_trip() {
        for name in [
            "Infrastructure",
            "Configuration",
            "Bug",
            "Job",
            "Test",
            "Canceled",
            "LAVATimeout",
            "MultinodeTimeout",
            "None",
            "Something new",
        ] {
            assert_eq!(ErrorType::from_name(name).as_str(), name);
        }
        assert_eq!(ErrorType::from_name(""), ErrorType::None);
    }

    #[test]
    fn only_infrastructure_configuration_and_bug_blame_the_device() {
        assert!(ErrorType::from_name("Infrastructure").blames_device());
        assert!(ErrorType::from_name("Configuration").blames_device());
        assert!(ErrorType::from_name("Bug").blames_device());
        assert!(!ErrorType::from_name("Test").blames_device());
        assert!(!ErrorType::from_name("whatever").blames_device());
    }

    #[test]
    fn test_results_keep_lava_codes_and_words() {
        assert_eq!(TestResult::Skip.code(), 2);
        assert_eq!(
            TestResult::from_record("unknown"),
            Some(TestResult::Unknown)
        );
        assert_eq!(TestResult::from_record("PASS"), None);
        assert_eq!(TestResult::from_code(1), Some(TestResult::Fail));
    }
}
