//! The slave's job table: `db.sqlite3`, table `jobs`, exactly as LAVA's `lava-slave` keeps it.
//!
//! A Python lava-slave and a lava-rs slave can take over from each other on the same host:
//! both read and write the same columns with the same meanings.
//!
//! | column | meaning |
//! |---|---|
//! | `id` | the job id (INTEGER PRIMARY KEY) |
//! | `pid` | lava-run's pid, 0 while unknown |
//! | `status` | [`SlaveJobStatus`]: Running 0, Canceling 1, Finished 2 |
//! | `last_update` | seconds since the epoch of the last status change |
//! | `prefix` | the dispatcher's job-directory prefix (`VARCHAR(100) DEFAULT ''`), added by migration to tables of older slaves |
//!
//! The file keeps SQLite's default rollback journal (LAVA's slave never switches it), so a
//! Python slave opening it afterwards finds it as it left it; every change is its own
//! synchronous commit.

use crate::error::{Result, StoreError};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What lava-slave knows about a job's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlaveJobStatus {
    /// lava-run was started and has not been seen to end.
    Running = 0,
    /// A cancel was asked for; the process is being signalled.
    Canceling = 1,
    /// lava-run has ended; END is (re)sent until END_OK.
    Finished = 2,
}

impl SlaveJobStatus {
    /// The integer stored in `status`.
    pub const fn code(self) -> i64 {
        self as i64
    }

    /// The value for a stored code.
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            0 => Some(Self::Running),
            1 => Some(Self::Canceling),
            2 => Some(Self::Finished),
            _ => None,
        }
    }
}

/// One row of the slave's job table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaveJob {
    /// The job id.
    pub id: i64,
    /// lava-run's pid; 0 while unknown.
    pub pid: i64,
    /// Running, Canceling or Finished.
    pub status: SlaveJobStatus,
    /// Seconds since the epoch of the last change.
    pub last_update: i64,
    /// The job-directory prefix from the dispatcher configuration.
    pub prefix: String,
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

    fn row(&self, row: &Row<'_>) -> rusqlite::Result<Result<SlaveJob>> {
        let id: i64 = row.get(0)?;
        let status: i64 = row.get(2)?;
        let Some(status) = SlaveJobStatus::from_code(status) else {
            return Ok(Err(StoreError::BadValue(format!(
                "{}: job {id} has unknown status {status}",
                self.path.display()
            ))));
        };
        Ok(Ok(SlaveJob {
            id,
            pid: row.get::<_, Option<i64>>(1)?.unwrap_or(0),
            status,
            last_update: row.get::<_, Option<i64>>(3)?.unwrap_or(0),
            prefix: row.get::<_, Option<String>>(4)?.unwrap_or_default(),
        }))
    }

    /// Records a new job; fails if the id is already there (as LAVA's slave, which then
    /// keeps the existing row).
    pub fn create(&self, job: &SlaveJob) -> Result<()> {
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
                params![job.id, job.pid, job.status.code(), job.last_update, job.prefix],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// One job, if the table has it.
    pub fn get(&self, id: i64) -> Result<Option<SlaveJob>> {
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
    pub fn all(&self) -> Result<Vec<SlaveJob>> {
        self.select(
            "SELECT id, pid, status, last_update, prefix FROM jobs ORDER BY id",
            None,
        )
    }

    /// The jobs with this status, by id.
    pub fn with_status(&self, status: SlaveJobStatus) -> Result<Vec<SlaveJob>> {
        self.select(
            "SELECT id, pid, status, last_update, prefix FROM jobs WHERE status = ?1 ORDER BY id",
            Some(status.code()),
        )
    }

    fn select(&self, sql: &str, status: Option<i64>) -> Result<Vec<SlaveJob>> {
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
    pub fn set_status(&self, id: i64, status: SlaveJobStatus, now_secs: i64) -> Result<()> {
        self.update(
            "UPDATE jobs SET status = ?1, last_update = ?2 WHERE id = ?3",
            params![status.code(), now_secs, id],
            id,
        )
    }

    /// Records lava-run's pid once it is known.
    pub fn set_pid(&self, id: i64, pid: i64) -> Result<()> {
        self.update(
            "UPDATE jobs SET pid = ?1 WHERE id = ?2",
            params![pid, id],
            id,
        )
    }

    fn update(&self, sql: &str, params: &[&dyn rusqlite::ToSql], id: i64) -> Result<()> {
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
    pub fn delete(&self, id: i64) -> Result<()> {
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

    fn job(id: i64, status: SlaveJobStatus) -> SlaveJob {
        SlaveJob {
            id,
            pid: 4242,
            status,
            last_update: 1_588_334_400,
            prefix: "lava-".into(),
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
        t.create(&job(7, SlaveJobStatus::Running)).unwrap();
        t.create(&job(3, SlaveJobStatus::Finished)).unwrap();
        assert!(matches!(
            t.create(&job(7, SlaveJobStatus::Finished)),
            Err(StoreError::AlreadyExists(_))
        ));
        assert_eq!(t.get(7).unwrap(), Some(job(7, SlaveJobStatus::Running)));
        t.set_pid(7, 99).unwrap();
        t.set_status(7, SlaveJobStatus::Canceling, 1_600_000_000)
            .unwrap();
        let got = t.get(7).unwrap().unwrap();
        assert_eq!(
            (got.pid, got.status, got.last_update),
            (99, SlaveJobStatus::Canceling, 1_600_000_000)
        );
        assert_eq!(
            t.all().unwrap().iter().map(|j| j.id).collect::<Vec<_>>(),
            [3, 7]
        );
        assert_eq!(
            t.with_status(SlaveJobStatus::Finished).unwrap(),
            vec![job(3, SlaveJobStatus::Finished)]
        );
        assert!(matches!(
            t.set_status(8, SlaveJobStatus::Finished, 0),
            Err(StoreError::NotFound(_))
        ));
        t.delete(7).unwrap();
        t.delete(7).unwrap();
        assert_eq!(t.get(7).unwrap(), None);
        drop(t);
        // Survives reopening.
        assert_eq!(
            table(&dir).all().unwrap(),
            vec![job(3, SlaveJobStatus::Finished)]
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
            Some(SlaveJob {
                id: 12,
                pid: 345,
                status: SlaveJobStatus::Canceling,
                last_update: 1_588_334_400,
                prefix: "pfx-".into(),
            })
        );
        // And what we write reads back the way Python's `SELECT *` sees it.
        t.create(&job(13, SlaveJobStatus::Running)).unwrap();
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
        assert_eq!(old.prefix, "");
        assert_eq!(old.status, SlaveJobStatus::Finished);
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
            err.to_string().contains("job 5 has unknown status 9"),
            "{err}"
        );
        assert!(t.all().is_err());
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
