//! What only the SQLite store does: the file, its lock, its migrations, its damage reports.

mod common;

use common::*;
use lava_store::{sqlite_schema_version, SqliteStore, Store, StoreError, SCHEMA_VERSION};

#[tokio::test]
async fn a_second_master_is_refused_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lava.sqlite3");
    let master = SqliteStore::open_master(&path).unwrap();
    assert!(master.is_master());
    let err = SqliteStore::open_master(&path).unwrap_err();
    match &err {
        StoreError::Locked { holder, location } => {
            assert!(
                holder.contains(&format!("pid {}", std::process::id())),
                "{err}"
            );
            assert!(location.ends_with("lava.sqlite3.lock"), "{err}");
        }
        other => panic!("expected Locked, got {other}"),
    }
    // Readers and admin commands run beside the master and see its commits.
    let reader = SqliteStore::open(&path).unwrap();
    assert!(!reader.is_master());
    master.add_worker(&worker("w1")).await.unwrap();
    assert_eq!(reader.worker("w1").await.unwrap(), Some(worker("w1")));
    reader.add_device_type(&device_type("qemu")).await.unwrap();
    assert!(master.device_type("qemu").await.unwrap().is_some());
    drop(master);
    // The lock goes with its holder.
    assert!(SqliteStore::open_master(&path).is_ok());
}

#[tokio::test]
async fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lava.sqlite3");
    let id = {
        let store = SqliteStore::open_master(&path).unwrap();
        store.add_device_type(&device_type("qemu")).await.unwrap();
        store.submit(&[job("qemu", 1)]).await.unwrap()[0]
    };
    let store = SqliteStore::open_master(&path).unwrap();
    assert_eq!(store.job(id).await.unwrap().map(|j| j.id), Some(id));
    assert_eq!(sqlite_schema_version(&path).unwrap(), SCHEMA_VERSION);
    // Ids are never reused.
    let next = store.submit(&[job("qemu", 2)]).await.unwrap()[0];
    assert!(next > id);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lava.sqlite3");
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE lava_schema SET version = version + 1", [])
        .unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).err().unwrap();
    match &err {
        StoreError::NewerSchema {
            found, supported, ..
        } => {
            assert_eq!(*found, SCHEMA_VERSION + 1);
            assert_eq!(*supported, SCHEMA_VERSION);
        }
        other => panic!("expected NewerSchema, got {other}"),
    }
    assert!(err.to_string().contains("lava.sqlite3"), "{err}");
}

#[test]
fn a_corrupt_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lava.sqlite3");
    std::fs::write(
        &path,
        b"this is not a database, it is a text file\n".repeat(200),
    )
    .unwrap();
    let err = SqliteStore::open(&path).err().unwrap();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    assert!(err.to_string().contains("lava.sqlite3"), "{err}");
}

#[test]
fn someone_elses_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.sqlite3");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("CREATE TABLE accounts (id INTEGER)", [])
        .unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).err().unwrap();
    match &err {
        StoreError::NotAStore { reason, .. } => assert!(reason.contains("accounts"), "{err}"),
        other => panic!("expected NotAStore, got {other}"),
    }
}

#[test]
fn a_missing_directory_is_named() {
    let err = SqliteStore::open("/nonexistent/dir/lava.sqlite3")
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("/nonexistent/dir/lava.sqlite3"),
        "{err}"
    );
}

#[test]
fn tokens_are_not_stored_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lava.sqlite3");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let secret = "correct-horse-battery-staple";
    rt.block_on(async {
        let store = SqliteStore::open(&path).unwrap();
        store
            .add_user(&lava_store::User {
                username: "alice".into(),
                is_admin: false,
                email: String::new(),
            })
            .await
            .unwrap();
        store
            .add_token("alice", secret, "", lava_core::time::Timestamp(0))
            .await
            .unwrap();
    });
    let conn = rusqlite::Connection::open(&path).unwrap();
    let digest: String = conn
        .query_row("SELECT digest FROM tokens", [], |r| r.get(0))
        .unwrap();
    assert_eq!(digest, lava_store::token_digest(secret));
    assert!(!digest.contains(secret));
}

#[tokio::test]
async fn readers_and_new_clients_do_not_wait_for_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lava.sqlite3");
    let master = SqliteStore::open_master(&path).unwrap();
    master.add_tag(&tag("a")).await.unwrap();
    // Another process in the middle of a write transaction.
    let writer = rusqlite::Connection::open(&path).unwrap();
    writer
        .execute_batch("BEGIN IMMEDIATE; INSERT INTO tags (name, description) VALUES ('b', '');")
        .unwrap();
    assert_eq!(master.tags().await.unwrap(), vec![tag("a")]);
    let admin = SqliteStore::open(&path).unwrap();
    assert_eq!(admin.tags().await.unwrap(), vec![tag("a")]);
    assert!(admin.scheduler_snapshot().await.is_ok());
    writer.execute_batch("COMMIT").unwrap();
    assert_eq!(admin.tags().await.unwrap().len(), 2);
}
