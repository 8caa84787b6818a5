//! The store's error type: every variant names the object or the file it is about.

use std::path::PathBuf;
use thiserror::Error;

/// Everything a store can refuse or fail to do.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The object does not exist, e.g. `device qemu01` or `job 42`.
    #[error("{0} does not exist")]
    NotFound(String),
    /// An object with that name or id exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The object cannot be removed while others refer to it.
    #[error("{what} is still in use by {by}")]
    InUse {
        /// The object that was to be removed.
        what: String,
        /// What still refers to it.
        by: String,
    },
    /// A precondition of a change set no longer holds: someone else changed the row first.
    /// Nothing of the change set was applied.
    #[error("conflict: {0}; nothing was changed")]
    Conflict(String),
    /// An argument that the store cannot accept (names the field).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field, e.g. `job 42 priority`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A row holds a value this version cannot read (an unknown state code, a negative count).
    #[error("the store holds an invalid value: {0}")]
    BadValue(String),
    /// The database was written by a newer lava-rs.
    #[error(
        "{location} has schema version {found}, newer than this lava-rs supports ({supported}); \
         upgrade lava-rs or point it at another store"
    )]
    NewerSchema {
        /// The file or connection.
        location: String,
        /// The version found in the database.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// The file or database is not a lava-rs store (corrupt, or someone else's).
    #[error("{location} is not a usable lava-rs store: {reason}")]
    NotAStore {
        /// The file or connection.
        location: String,
        /// Why.
        reason: String,
    },
    /// Another master holds the store.
    #[error("{location} is in use by another master ({holder}); stop it first")]
    Locked {
        /// The file or connection.
        location: String,
        /// Who holds it, as far as the store can tell (pid, host).
        holder: String,
    },
    /// An error from SQLite.
    #[error("SQLite error on {location}: {source}")]
    Sqlite {
        /// The database file.
        location: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// An error from PostgreSQL.
    #[error("PostgreSQL error on {location}: {}", postgres_detail(source))]
    Postgres {
        /// The connection (without password).
        location: String,
        /// The driver's error.
        #[source]
        source: postgres::Error,
    },
    /// A file-system error.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The blocking task running the query died (a bug, reported instead of panicking).
    #[error("store worker thread failed: {0}")]
    Worker(String),
}

/// The driver's error with what the server or the system said: its own text is often just
/// "db error" or "error communicating with the server".
fn postgres_detail(error: &postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    }
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// `Result` with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A short list for messages: "a, b, c and 12 more".
pub(crate) fn short_list(items: &[String]) -> String {
    const SHOWN: usize = 5;
    if items.len() <= SHOWN {
        items.join(", ")
    } else {
        format!(
            "{} and {} more",
            items[..SHOWN].join(", "),
            items.len() - SHOWN
        )
    }
}
