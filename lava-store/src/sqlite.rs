//! The SQLite store: one file, WAL, every commit synced (`synchronous=FULL`).
//!
//! Two connections: one for writes (transactions start `IMMEDIATE`, so writers queue instead
//! of failing half-way) and one for reads, so the scheduler's snapshot never waits behind a
//! write of this process. Other processes (admin commands) may open the same file with
//! [`SqliteStore::open`] while the master runs; WAL lets them read while the master writes.

use crate::error::{Result, StoreError};
use crate::lock::MasterLock;
use crate::sql::schema;
use crate::sql::{Backend, Dialect, Param, SqlStore, SqlTx, TxFn, TxMode, Value};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The SQLite connections behind a [`SqliteStore`].
pub struct SqliteBackend {
    location: String,
    path: PathBuf,
    write: Mutex<Connection>,
    read: Mutex<Connection>,
    lock: Option<MasterLock>,
}

impl std::fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("location", &self.location)
            .field("master", &self.lock.is_some())
            .finish()
    }
}

/// The embedded store: a single SQLite file.
pub type SqliteStore = SqlStore<SqliteBackend>;

/// How long a connection waits for another process's write before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

fn map_err(location: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => StoreError::NotAStore {
            location: location.to_owned(),
            reason: source.to_string(),
        },
        _ => StoreError::Sqlite {
            location: location.to_owned(),
            source,
        },
    }
}

fn connect(path: &Path, location: &str) -> Result<Connection> {
    let err = map_err(location);
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(&err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(&err)?;
    // journal_mode answers with a row; this is also the first read of the file, where a
    // corrupt or foreign file is detected.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(&err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NotAStore {
            location: location.to_owned(),
            reason: format!("cannot switch it to WAL (journal mode stays {mode})"),
        });
    }
    // FULL: a commit that returned is on disk, which is what "acknowledged" means to the
    // master (it sends the message that depends on a change only after the commit).
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
        .map_err(&err)?;
    // The scheduler re-reads every queued job each pass: keep the hot pages in memory
    // (64 MiB of cache instead of SQLite's 2 MiB) and read the file through mmap instead of
    // a read(2) per page.
    conn.execute_batch("PRAGMA cache_size = -65536; PRAGMA mmap_size = 268435456;")
        .map_err(&err)?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

impl SqlStore<SqliteBackend> {
    /// Opens (creating or migrating) the store at `path` for the master: takes the
    /// single-master lock `<path>.lock` first, and fails naming the holder if another master
    /// has it.
    pub fn open_master(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock = MasterLock::acquire(&PathBuf::from(lock_path))?;
        Self::open_inner(path, Some(lock))
    }

    /// Opens (creating or migrating) the store at `path` without the master lock: for admin
    /// commands, the API and tools that run beside the master.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_inner(path.as_ref(), None)
    }

    fn open_inner(path: &Path, lock: Option<MasterLock>) -> Result<Self> {
        let location = path.display().to_string();
        let write = connect(path, &location)?;
        let backend = SqliteBackend {
            read: Mutex::new(connect(path, &location)?),
            write: Mutex::new(write),
            location,
            path: path.to_path_buf(),
            lock,
        };
        // A read first: an up-to-date store opens without queueing behind the master's
        // writes, which matters for admin commands run beside a busy master.
        let location = backend.location.clone();
        let current = backend.transaction(
            TxMode::Read,
            Box::new(move |tx: &mut dyn SqlTx| schema::version(tx, &location)),
        )?;
        if current != schema::LATEST {
            let location = backend.location.clone();
            backend.transaction(
                TxMode::Write,
                Box::new(move |tx: &mut dyn SqlTx| schema::migrate(tx, &location)),
            )?;
        }
        Ok(SqlStore::from_backend(backend))
    }

    /// The database file, as given.
    pub fn location(&self) -> &str {
        &self.backend.location
    }

    /// Whether this store holds the master lock.
    pub fn is_master(&self) -> bool {
        self.backend.lock.is_some()
    }
}

/// The schema version of the SQLite file at `path` (0 if it is empty), without migrating.
pub fn sqlite_schema_version(path: impl AsRef<Path>) -> Result<i64> {
    let path = path.as_ref();
    let location = path.display().to_string();
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(map_err(&location))?;
    let mut tx = SqliteTx {
        conn: &conn,
        location: &location,
    };
    schema::version(&mut tx, &location)
}

impl Backend for SqliteBackend {
    #[allow(private_interfaces)]
    fn transaction<T>(&self, mode: TxMode, f: TxFn<'_, T>) -> Result<T> {
        let (conn, behavior) = match mode {
            TxMode::Read => (&self.read, TransactionBehavior::Deferred),
            TxMode::Write => (&self.write, TransactionBehavior::Immediate),
        };
        let mut conn = conn
            .lock()
            .map_err(|_| StoreError::Worker("a previous query panicked".into()))?;
        let result = run_and_commit(&mut conn, behavior, &self.location, f);
        if mode == TxMode::Write && is_read_only(&result) {
            // SQLite opened the file read-only (it was write-protected then) and never
            // tries again by itself: a new connection sees the file as it is now, so
            // the writes work again once the admin has fixed it.
            match connect(&self.path, &self.location) {
                Ok(fresh) => *conn = fresh,
                Err(e) => tracing::debug!(store = %self.location, "cannot reopen: {e}"),
            }
        }
        result
    }
}

fn run_and_commit<T>(
    conn: &mut Connection,
    behavior: TransactionBehavior,
    location: &str,
    f: TxFn<'_, T>,
) -> Result<T> {
    let err = map_err(location);
    let tx = conn.transaction_with_behavior(behavior).map_err(&err)?;
    let result = f(&mut SqliteTx {
        conn: &tx,
        location,
    })?;
    // Dropping `tx` on the error path above rolls back.
    tx.commit().map_err(&err)?;
    Ok(result)
}

/// Whether SQLite refused a write because its connection is read-only.
fn is_read_only<T>(result: &Result<T>) -> bool {
    matches!(
        result,
        Err(StoreError::Sqlite { source, .. })
            if source.sqlite_error_code() == Some(ErrorCode::ReadOnly)
    )
}

struct SqliteTx<'c> {
    conn: &'c Connection,
    location: &'c str,
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Param::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Param::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(v)),
            Param::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Param::Bool(b) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(b))),
        })
    }
}

impl SqlTx for SqliteTx<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        let err = map_err(self.location);
        let mut stmt = self.conn.prepare_cached(sql).map_err(&err)?;
        let n = stmt
            .execute(rusqlite::params_from_iter(params.iter()))
            .map_err(&err)?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Vec<Value>>> {
        let err = map_err(self.location);
        let mut stmt = self.conn.prepare_cached(sql).map_err(&err)?;
        let width = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(&err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(&err)? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(match row.get_ref(i).map_err(&err)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Text(t) => {
                        Value::Text(String::from_utf8(t.to_vec()).map_err(|_| {
                            StoreError::BadValue(format!(
                                "{}: text that is not UTF-8",
                                self.location
                            ))
                        })?)
                    }
                    ValueRef::Real(r) => {
                        return Err(StoreError::BadValue(format!(
                            "{}: unexpected floating-point value {r}",
                            self.location
                        )))
                    }
                    ValueRef::Blob(_) => {
                        return Err(StoreError::BadValue(format!(
                            "{}: unexpected binary value",
                            self.location
                        )))
                    }
                });
            }
            out.push(values);
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        self.conn.execute_batch(sql).map_err(map_err(self.location))
    }
}
