//! The names the lab accepts: the one rule for each kind of name.
//!
//! A worker's hostname is its ZeroMQ identity (lava-slave) and part of the HTTP worker API's
//! paths (lava-worker, `[-_a-zA-Z0-9.]+`), so a name outside that set could never connect:
//! it is refused wherever a worker comes into being — `lava-admin workers add`, the API, a
//! slave's `--hostname`, a HELLO from an unknown identity, HTTP registration.

use crate::protocol::LAVA_LOGS_IDENTITY;

/// LAVA's `Worker.hostname` column holds at most 200 characters.
const MAX_WORKER_NAME: usize = 200;

/// Why a name cannot be a worker's hostname.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerNameError {
    /// The name is empty.
    #[error("a worker name cannot be empty")]
    Empty,
    /// Characters outside `[-_a-zA-Z0-9.]`.
    #[error("invalid worker name {0:?}: only letters, digits, '-', '_' and '.' are allowed")]
    BadCharacters(String),
    /// Longer than LAVA's column.
    #[error("worker name of {0} characters: at most 200 are allowed")]
    TooLong(usize),
    /// `lava-logs` is the identity of LAVA's log daemon on the master's socket.
    #[error("the worker name 'lava-logs' is reserved for LAVA's log daemon")]
    Reserved,
}

/// Checks a worker's hostname (see the module docs for why the rule is this one).
pub fn check_worker_name(name: &str) -> Result<(), WorkerNameError> {
    if name.is_empty() {
        return Err(WorkerNameError::Empty);
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(WorkerNameError::BadCharacters(name.to_owned()));
    }
    if name.len() > MAX_WORKER_NAME {
        return Err(WorkerNameError::TooLong(name.len()));
    }
    if name == LAVA_LOGS_IDENTITY {
        return Err(WorkerNameError::Reserved);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_names() {
        assert_eq!(check_worker_name("worker-01.example_com"), Ok(()));
        assert_eq!(check_worker_name(""), Err(WorkerNameError::Empty));
        assert_eq!(
            check_worker_name("lava-logs"),
            Err(WorkerNameError::Reserved)
        );
        for bad in ["bad name", "é", "a/b", "w\0", "w@lab"] {
            assert_eq!(
                check_worker_name(bad),
                Err(WorkerNameError::BadCharacters(bad.to_owned())),
                "{bad:?}"
            );
        }
        assert_eq!(check_worker_name(&"w".repeat(200)), Ok(()));
        assert_eq!(
            check_worker_name(&"w".repeat(201)),
            Err(WorkerNameError::TooLong(201))
        );
    }
}
