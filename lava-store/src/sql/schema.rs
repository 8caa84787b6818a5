//! Schema migrations, shared by SQLite and PostgreSQL.
//!
//! Migration N takes a database from version N-1 to N. The version lives in the one-row
//! table `lava_schema`; a database newer than [`LATEST`] is refused rather than guessed at.
//! Column types are written as `{id}` (the auto-incremented key) and `{bool}` so one text
//! serves both dialects.

use super::{Dialect, Param, SqlTx};
use crate::error::{Result, StoreError};

/// The migrations, oldest first. Never edit one that has shipped: add another.
const MIGRATIONS: &[&str] = &[
    // 1: the lab, the jobs and their records.
    r#"
CREATE TABLE device_types (
    name TEXT PRIMARY KEY,
    health_check_definition TEXT,
    health_frequency BIGINT NOT NULL,
    health_denominator INTEGER NOT NULL,
    disable_health_check {bool} NOT NULL,
    display {bool} NOT NULL,
    description TEXT NOT NULL
);
CREATE TABLE workers (
    hostname TEXT PRIMARY KEY,
    state INTEGER NOT NULL,
    health INTEGER NOT NULL,
    description TEXT NOT NULL,
    job_limit BIGINT NOT NULL,
    last_ping BIGINT,
    version TEXT
);
CREATE TABLE tags (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL
);
CREATE TABLE devices (
    hostname TEXT PRIMARY KEY,
    device_type TEXT NOT NULL REFERENCES device_types(name),
    state INTEGER NOT NULL,
    health INTEGER NOT NULL,
    worker TEXT REFERENCES workers(hostname),
    last_health_report_job BIGINT,
    description TEXT NOT NULL
);
CREATE TABLE device_tags (
    device TEXT NOT NULL REFERENCES devices(hostname) ON DELETE CASCADE,
    tag TEXT NOT NULL REFERENCES tags(name) ON DELETE CASCADE,
    PRIMARY KEY (device, tag)
);
CREATE TABLE jobs (
    id {id},
    submitter TEXT NOT NULL,
    definition TEXT NOT NULL,
    state INTEGER NOT NULL,
    health INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    submit_time BIGINT NOT NULL,
    start_time BIGINT,
    end_time BIGINT,
    requested_device_type TEXT REFERENCES device_types(name),
    target_group TEXT,
    role TEXT,
    health_check {bool} NOT NULL,
    actual_device TEXT,
    failure_comment TEXT,
    is_public {bool} NOT NULL,
    end_processed {bool} NOT NULL DEFAULT FALSE,
    end_description TEXT,
    log_dir TEXT,
    log_lines BIGINT
);
CREATE INDEX jobs_state ON jobs (state);
CREATE INDEX jobs_device ON jobs (actual_device, start_time);
CREATE INDEX jobs_group ON jobs (target_group);
CREATE TABLE job_tags (
    job BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    tag TEXT NOT NULL REFERENCES tags(name) ON DELETE CASCADE,
    PRIMARY KEY (job, tag)
);
CREATE TABLE test_cases (
    id {id},
    job BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    suite TEXT NOT NULL,
    test_set TEXT,
    name TEXT NOT NULL,
    result INTEGER NOT NULL,
    measurement TEXT,
    units TEXT NOT NULL,
    metadata TEXT,
    logged BIGINT NOT NULL,
    start_log_line BIGINT,
    end_log_line BIGINT
);
CREATE INDEX test_cases_job ON test_cases (job);
CREATE TABLE users (
    username TEXT PRIMARY KEY,
    is_admin {bool} NOT NULL,
    email TEXT NOT NULL
);
CREATE TABLE tokens (
    id {id},
    username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    digest TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    created BIGINT NOT NULL
);
"#,
    // 2: when END was processed, so that the final result's grace survives a restart.
    r#"
ALTER TABLE jobs ADD COLUMN end_processed_at BIGINT;
"#,
    // 3: lava-worker (HTTP): worker and job tokens, how each worker connects, and why the
    // master refuses a worker.
    r#"
ALTER TABLE workers ADD COLUMN token TEXT;
ALTER TABLE workers ADD COLUMN protocol TEXT;
ALTER TABLE workers ADD COLUMN refusal TEXT;
ALTER TABLE jobs ADD COLUMN token TEXT;
"#,
    // 4: groups of users and the permissions granted to them on devices and device types
    // (LAVA's Django groups, GroupDevicePermission and GroupDeviceTypePermission). A
    // grant's object is a device or a device type (`kind`), dropped with it by the store.
    r#"
CREATE TABLE lab_groups (
    name TEXT PRIMARY KEY
);
CREATE TABLE group_members (
    group_name TEXT NOT NULL REFERENCES lab_groups(name) ON DELETE CASCADE,
    username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    PRIMARY KEY (group_name, username)
);
CREATE TABLE grants (
    kind TEXT NOT NULL,
    object TEXT NOT NULL,
    group_name TEXT NOT NULL REFERENCES lab_groups(name) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (kind, object, group_name, permission)
);
"#,
];

/// The schema version this build writes.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

fn dialect_text(dialect: Dialect, sql: &str) -> String {
    let (id, boolean) = match dialect {
        // AUTOINCREMENT: a job id is never handed out twice, even after the newest is deleted.
        Dialect::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "BOOLEAN"),
        Dialect::Postgres => ("BIGSERIAL PRIMARY KEY", "BOOLEAN"),
    };
    sql.replace("{id}", id).replace("{bool}", boolean)
}

fn table_names(tx: &mut dyn SqlTx) -> Result<Vec<String>> {
    let sql = match tx.dialect() {
        Dialect::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        Dialect::Postgres => {
            "SELECT table_name::TEXT FROM information_schema.tables \
             WHERE table_schema = current_schema()"
        }
    };
    let rows = tx.query(sql, &[])?;
    Ok(rows
        .into_iter()
        .filter_map(|row| match row.into_iter().next() {
            Some(super::Value::Text(name)) => Some(name),
            _ => None,
        })
        .collect())
}

/// The database's schema version: 0 for an empty database.
pub(crate) fn version(tx: &mut dyn SqlTx, location: &str) -> Result<i64> {
    let tables = table_names(tx)?;
    if !tables.iter().any(|t| t == "lava_schema") {
        if tables.is_empty() {
            return Ok(0);
        }
        return Err(StoreError::NotAStore {
            location: location.to_owned(),
            reason: format!(
                "it has tables ({}) but no lava_schema table",
                tables.join(", ")
            ),
        });
    }
    let rows = tx.query("SELECT version FROM lava_schema", &[])?;
    match rows.as_slice() {
        [row] => match row.first() {
            Some(super::Value::Int(v)) => Ok(*v),
            other => Err(StoreError::NotAStore {
                location: location.to_owned(),
                reason: format!("lava_schema holds {other:?} instead of a version number"),
            }),
        },
        _ => Err(StoreError::NotAStore {
            location: location.to_owned(),
            reason: format!("lava_schema has {} rows instead of one", rows.len()),
        }),
    }
}

/// Brings the schema to [`LATEST`] inside the caller's transaction.
pub(crate) fn migrate(tx: &mut dyn SqlTx, location: &str) -> Result<()> {
    let found = version(tx, location)?;
    if found > LATEST {
        return Err(StoreError::NewerSchema {
            location: location.to_owned(),
            found,
            supported: LATEST,
        });
    }
    if found < 0 {
        return Err(StoreError::NotAStore {
            location: location.to_owned(),
            reason: format!("negative schema version {found}"),
        });
    }
    if found == 0 {
        tx.batch("CREATE TABLE lava_schema (version BIGINT NOT NULL)")?;
        tx.execute("INSERT INTO lava_schema (version) VALUES (0)", &[])?;
    }
    let dialect = tx.dialect();
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.batch(&dialect_text(dialect, migration))?;
        let version = index as i64 + 1;
        tx.execute("UPDATE lava_schema SET version = ?", &[Param::Int(version)])?;
    }
    Ok(())
}
