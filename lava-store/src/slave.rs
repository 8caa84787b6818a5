//! The slave's job table: `db.sqlite3`, table `jobs`, exactly as LAVA's `lava-slave` keeps it.
//!
//! A Python lava-slave and a lava-rs slave can take over from each other on the same host:
//! both read and write the same columns with the same meanings.
//!
//! | column | meaning |
//! |---|---|
//! | `id` | the job id (INTEGER PRIMARY KEY) |
//! | `pid` | lava-run's pid, 0 while unknown |
//! | `status` | [`JobStatus`]: Running 0, Canceling 1, Finished 2 |
//! | `last_update` | seconds since the epoch of the last status change |
//! | `prefix` | the dispatcher's job-directory prefix (`VARCHAR(100) DEFAULT ''`), added by migration to tables of older slaves |
//!
//! The file keeps SQLite's default rollback journal (LAVA's slave never switches it), so a
//! Python slave opening it afterwards finds it as it left it; every change is its own
//! synchronous commit.

use crate::error::{Result, StoreError};
use lava_core::model::JobId;
use lava_core::slave::{JobRow, JobStatus};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One stored row: the machine's [`JobRow`] and when its status last changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredJob {
    /// The row as the slave machine knows it.
    pub row: JobRow,
    /// Seconds since the epoch of the last status change (LAVA's `last_update`).
    pub last_update: i64,
}

/// The slave's job table (synchronous: the slave driver calls it between protocol steps).
#[derive(Debug)]
pub struct SlaveJobTable {
    conn: Connection,
    path: PathBuf,
}

/// The table as LAVA's slave creates it (same text, so `sqlite_master.sql` matches too).
const CREATE: &str = "CREATE TABLE IF NOT EXISTS jobs(id INTEGER PRIMARY KEY, pid INTEGER, \
    status INTEGER, last_update INTEGER, prefix VARCHAR(100) DEFAULT '')";

impl SlaveJobTable {
    /// Opens or creates the table in the SQLite file at `path` (LAVA names it `db.sqlite3`),
    /// adding the `prefix` column if an older slave created the table without it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_owned();
        let conn = Connection::open(&path).map_err(|e| sqlite(&path, e))?;
        let table = SlaveJobTable { conn, path };
        table
            .conn
            .busy_timeout(Duration::from_secs(10))
            .map_err(|e| table.err(e))?;
        table.conn.execute(CREATE, []).map_err(|e| table.err(e))?;
        let has_prefix = table
            .conn
            .prepare("SELECT name FROM pragma_table_info('jobs')")
            .and_then(|mut stmt| {
                let names = stmt.query_map([], |row| row.get::<_, String>(0))?;
                names.collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| table.err(e))?
            .iter()
            .any(|name| name == "prefix");
        if !has_prefix {
            table
                .conn
                .execute(
                    "ALTER TABLE jobs ADD COLUMN prefix VARCHAR(100) DEFAULT ''",
                    [],
                )
                .map_err(|e| table.err(e))?;
        }
        Ok(table)
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        sqlite(&self.path, e)
    }

    fn row(&self, row: &Row<'_>) -> rusqlite::Result<Result<StoredJob>> {
        let id: JobId = row.get(0)?;
        let status: i64 = row.get(2)?;
        let status = match JobStatus::from_code(status) {
            Ok(status) => status,
            Err(unknown) => {
                return Ok(Err(StoreError::BadValue(format!(
                    "{}: job {id}: {unknown}",
                    self.path.display()
                ))))
            }
        };
        // A Python slave writes str() values; a pid that cannot be a process id reads as 0,
        // which makes the slave look the job's lava-run up by job id instead.
        let pid = row.get::<_, Option<i64>>(1)?.unwrap_or(0);
        Ok(Ok(StoredJob {
            row: JobRow {
                id,
                pid: u32::try_from(pid).unwrap_or(0),
                status,
                prefix: row.get::<_, Option<String>>(4)?.unwrap_or_default(),
            },
            last_update: row.get::<_, Option<i64>>(3)?.unwrap_or(0),
        }))
    }

    /// Records a new job; fails if the id is already there (as LAVA's slave, which then
    /// keeps the existing row).
    pub fn create(&self, job: &JobRow, now_secs: i64) -> Result<()> {
        if self.get(job.id)?.is_some() {
            return Err(StoreError::AlreadyExists(format!(
                "job {} in {}",
                job.id,
                self.path.display()
            )));
        }
        self.conn
            .execute(
                "INSERT INTO jobs (id, pid, status, last_update, prefix) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![job.id, job.pid, job.status.code(), now_secs, job.prefix],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// One job, if the table has it.
    pub fn get(&self, id: JobId) -> Result<Option<StoredJob>> {
        self.conn
            .query_row(
                "SELECT id, pid, status, last_update, prefix FROM jobs WHERE id = ?1",
                [id],
                |row| self.row(row),
            )
            .optional()
            .map_err(|e| self.err(e))?
            .transpose()
    }

    /// Every job, by id.
    pub fn all(&self) -> Result<Vec<StoredJob>> {
        self.select(
            "SELECT id, pid, status, last_update, prefix FROM jobs ORDER BY id",
            None,
        )
    }

    /// The jobs with this status, by id.
    pub fn with_status(&self, status: JobStatus) -> Result<Vec<StoredJob>> {
        self.select(
            "SELECT id, pid, status, last_update, prefix FROM jobs WHERE status = ?1 ORDER BY id",
            Some(status.code()),
        )
    }

    fn select(&self, sql: &str, status: Option<i64>) -> Result<Vec<StoredJob>> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(status), |row| self.row(row))
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.map_err(|e| self.err(e))??);
        }
        Ok(out)
    }

    /// Changes a job's status and stamps `last_update`; fails if the job is not there.
    pub fn set_status(&self, id: JobId, status: JobStatus, now_secs: i64) -> Result<()> {
        self.update(
            "UPDATE jobs SET status = ?1, last_update = ?2 WHERE id = ?3",
            params![status.code(), now_secs, id],
            id,
        )
    }

    /// Records lava-run's pid once it is known.
    pub fn set_pid(&self, id: JobId, pid: u32) -> Result<()> {
        self.update(
            "UPDATE jobs SET pid = ?1 WHERE id = ?2",
            params![pid, id],
            id,
        )
    }

    fn update(&self, sql: &str, params: &[&dyn rusqlite::ToSql], id: JobId) -> Result<()> {
        let n = self.conn.execute(sql, params).map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "job {id} in {}",
                self.path.display()
            )));
        }
        Ok(())
    }

    /// Forgets a job (after END_OK); forgetting an unknown job is not an error, as in LAVA.
    pub fn delete(&self, id: JobId) -> Result<()> {
        self.conn
            .execute("DELETE FROM jobs WHERE id = ?1", [id])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn sqlite(path: &Path, source: rusqlite::Error) -> StoreError {
    match source.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) | Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
            StoreError::NotAStore {
                location: path.display().to_string(),
                reason: source.to_string(),
            }
        }
        _ => StoreError::Sqlite {
            location: path.display().to_string(),
            source,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(dir: &tempfile::TempDir) -> SlaveJobTable {
        SlaveJobTable::open(dir.path().join("db.sqlite3")).unwrap()
    }

    const STAMP: i64 = 1_588_334_400;

    fn row(id: JobId, status: JobStatus) -> JobRow {
        JobRow {
            id,
            pid: 4242,
            status,
            prefix: "lava-".into(),
        }
    }

    fn job(id: JobId, status: JobStatus) -> StoredJob {
        StoredJob {
            row: row(id, status),
            last_update: STAMP,
        }
    }

    #[test]
    fn creates_the_table_as_lava_does() {
        let dir = tempfile::tempdir().unwrap();
        let t = table(&dir);
        let sql: String = t
            .conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'jobs'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            format!(
                "CREATE TABLE IF NOT EXISTS {}",
                &sql["CREATE TABLE ".len()..]
            ),
            CREATE
        );
    }

    #[test]
    fn create_get_update_delete() {
        let dir = tempfile::tempdir().unwrap();
        let t = table(&dir);
        t.create(&row(7, JobStatus::Running), STAMP).unwrap();
        t.create(&row(3, JobStatus::Finished), STAMP).unwrap();
        assert!(matches!(
            t.create(&row(7, JobStatus::Finished), STAMP),
            Err(StoreError::AlreadyExists(_))
        ));
        assert_eq!(t.get(7).unwrap(), Some(job(7, JobStatus::Running)));
        t.set_pid(7, 99).unwrap();
        t.set_status(7, JobStatus::Canceling, 1_600_000_000)
            .unwrap();
        let got = t.get(7).unwrap().unwrap();
        assert_eq!(
            (got.row.pid, got.row.status, got.last_update),
            (99, JobStatus::Canceling, 1_600_000_000)
        );
        assert_eq!(
            t.all()
                .unwrap()
                .iter()
                .map(|j| j.row.id)
                .collect::<Vec<_>>(),
            [3, 7]
        );
        assert_eq!(
            t.with_status(JobStatus::Finished).unwrap(),
            vec![job(3, JobStatus::Finished)]
        );
        assert!(matches!(
            t.set_status(8, JobStatus::Finished, 0),
            Err(StoreError::NotFound(_))
        ));
        t.delete(7).unwrap();
        t.delete(7).unwrap();
        assert_eq!(t.get(7).unwrap(), None);
        drop(t);
        // Survives reopening.
        assert_eq!(
            table(&dir).all().unwrap(),
            vec![job(3, JobStatus::Finished)]
        );
    }

    #[test]
    fn reads_rows_written_by_python_lava_slave() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        {
            // What LAVA's slave does: the same CREATE, and INSERT of str() values.
            let conn = Connection::open(&path).unwrap();
            conn.execute(CREATE, []).unwrap();
            conn.execute(
                "INSERT INTO jobs VALUES(?, ?, ?, ?, ?)",
                params!["12", "345", "1", "1588334400", "pfx-"],
            )
            .unwrap();
        }
        let t = SlaveJobTable::open(&path).unwrap();
        assert_eq!(
            t.get(12).unwrap(),
            Some(StoredJob {
                row: JobRow {
                    id: 12,
                    pid: 345,
                    status: JobStatus::Canceling,
                    prefix: "pfx-".into(),
                },
                last_update: 1_588_334_400,
            })
        );
        // And what we write reads back the way Python's `SELECT *` sees it.
        t.create(&row(13, JobStatus::Running), STAMP).unwrap();
        let conn = Connection::open(&path).unwrap();
        let row: (i64, i64, i64, i64, String) = conn
            .query_row("SELECT * FROM jobs WHERE id=?", ["13"], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap();
        assert_eq!(row, (13, 4242, 0, 1_588_334_400, "lava-".to_owned()));
    }

    #[test]
    fn adds_prefix_to_an_old_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute(
                "CREATE TABLE jobs(id INTEGER PRIMARY KEY, pid INTEGER, status INTEGER, last_update INTEGER)",
                [],
            )
            .unwrap();
            conn.execute("INSERT INTO jobs VALUES(1, 10, 2, 5)", [])
                .unwrap();
        }
        let t = SlaveJobTable::open(&path).unwrap();
        let old = t.get(1).unwrap().unwrap();
        assert_eq!(old.row.prefix, "");
        assert_eq!(old.row.status, JobStatus::Finished);
        drop(t);
        // Opening again does not try to add it twice.
        assert!(SlaveJobTable::open(&path).is_ok());
    }

    #[test]
    fn unknown_status_is_an_error_naming_the_job() {
        let dir = tempfile::tempdir().unwrap();
        let t = table(&dir);
        t.conn
            .execute("INSERT INTO jobs VALUES(5, 1, 9, 0, '')", [])
            .unwrap();
        let err = t.get(5).unwrap_err();
        assert!(
            err.to_string()
                .contains("job 5: job table: status 9 is not RUNNING"),
            "{err}"
        );
        assert!(t.all().is_err());
    }

    #[test]
    fn a_pid_that_cannot_be_a_process_id_reads_as_zero() {
        let dir = tempfile::tempdir().unwrap();
        let t = table(&dir);
        t.conn
            .execute("INSERT INTO jobs VALUES(6, -3, 0, 0, '')", [])
            .unwrap();
        assert_eq!(t.get(6).unwrap().unwrap().row.pid, 0);
    }

    #[test]
    fn a_corrupt_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        std::fs::write(&path, vec![0x5a; 4096]).unwrap();
        let err = SlaveJobTable::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
        assert!(err.to_string().contains("db.sqlite3"), "{err}");
    }
}
