//! Fixtures and store factories shared by the integration tests.
#![allow(dead_code)]

pub mod cases;

use lava_core::model::{
    Device, DeviceHealth, DeviceState, DeviceType, HealthDenominator, Job, JobHealth, JobState,
    MultinodeMembership, Priority, Tag, Worker, WorkerHealth, WorkerState,
};
use lava_core::time::Timestamp;
use lava_store::{MemoryStore, PostgresConfig, PostgresStore, SqliteStore};
use std::any::Any;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};

pub fn device_type(name: &str) -> DeviceType {
    DeviceType {
        name: name.to_owned(),
        health_check_definition: None,
        health_frequency: 24,
        health_denominator: HealthDenominator::Hours,
        disable_health_check: false,
        display: true,
        description: String::new(),
    }
}

pub fn worker(hostname: &str) -> Worker {
    Worker {
        hostname: hostname.to_owned(),
        state: WorkerState::Offline,
        health: WorkerHealth::Active,
        description: String::new(),
        job_limit: 0,
        last_ping: None,
        version: None,
    }
}

pub fn tag(name: &str) -> Tag {
    Tag {
        name: name.to_owned(),
        description: format!("the {name} tag"),
    }
}

pub fn device(hostname: &str, device_type: &str, worker: &str) -> Device {
    Device {
        hostname: hostname.to_owned(),
        device_type: device_type.to_owned(),
        state: DeviceState::Idle,
        health: DeviceHealth::Good,
        worker: Some(worker.to_owned()),
        tags: BTreeSet::new(),
        last_health_report_job: None,
        description: String::new(),
    }
}

pub fn job(device_type: &str, submit_secs: i64) -> Job {
    Job {
        id: 0,
        submitter: "alice".to_owned(),
        definition: format!("device_type: {device_type}\njob_name: test\n"),
        state: JobState::Submitted,
        health: JobHealth::Unknown,
        priority: Priority::MEDIUM,
        submit_time: Timestamp::from_secs(submit_secs),
        start_time: None,
        end_time: None,
        requested_device_type: Some(device_type.to_owned()),
        tags: BTreeSet::new(),
        multinode: None,
        health_check: false,
        actual_device: None,
        failure_comment: None,
        is_public: true,
    }
}

pub fn multinode(device_type: &str, group: &str, role: &str) -> Job {
    Job {
        multinode: Some(MultinodeMembership {
            group: group.to_owned(),
            role: role.to_owned(),
        }),
        ..job(device_type, 1_000)
    }
}

/// Keeps a test's resources (temp dirs) alive as long as its store.
pub type Guard = Box<dyn Any + Send>;

pub async fn memory() -> Option<(MemoryStore, Guard)> {
    Some((MemoryStore::new(), Box::new(())))
}

pub async fn sqlite() -> Option<(SqliteStore, Guard)> {
    let dir = tempfile::tempdir().expect("a temp dir for the test database");
    let store = SqliteStore::open_master(dir.path().join("lava.sqlite3")).expect("open SQLite");
    Some((store, Box::new(dir)))
}

/// The PostgreSQL server for tests, or `None` when the run explicitly skips PostgreSQL.
pub fn postgres_url() -> Option<String> {
    match std::env::var("LAVA_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => match std::env::var("LAVA_TEST_POSTGRES").as_deref() {
            Ok("skip") => {
                eprintln!("PostgreSQL tests skipped (LAVA_TEST_POSTGRES=skip)");
                None
            }
            _ => panic!(
                "LAVA_TEST_POSTGRES_URL is not set: start a throw-away cluster with \
                 `eval \"$(scripts/pg-test-cluster.sh start)\"`, or set LAVA_TEST_POSTGRES=skip \
                 to skip the PostgreSQL tests on purpose"
            ),
        },
    }
}

static SCHEMA: AtomicU32 = AtomicU32::new(0);

/// A fresh, empty schema on the test server; returns a config whose connections use it.
pub async fn postgres_schema() -> Option<PostgresConfig> {
    let url = postgres_url()?;
    let name = format!(
        "t_{}_{}",
        std::process::id(),
        SCHEMA.fetch_add(1, Ordering::SeqCst)
    );
    let config = tokio::task::spawn_blocking(move || {
        let mut config: PostgresConfig = url.parse().expect("LAVA_TEST_POSTGRES_URL parses");
        let mut client = config.connect(postgres::NoTls).unwrap_or_else(|e| {
            panic!("LAVA_TEST_POSTGRES_URL is set but the server is unreachable: {e}")
        });
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
            ))
            .expect("create a test schema");
        config.options(&format!("-c search_path={name}"));
        config
    })
    .await
    .expect("schema setup thread");
    Some(config)
}

pub async fn postgres() -> Option<(PostgresStore, Guard)> {
    let config = postgres_schema().await?;
    let store = PostgresStore::connect_with(config, true)
        .await
        .expect("connect to the test PostgreSQL server");
    Some((store, Box::new(())))
}
