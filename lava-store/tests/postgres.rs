//! What only the PostgreSQL store does: its advisory lock and its migrations.

mod common;

use common::*;
use lava_store::{PostgresStore, Store, StoreError, SCHEMA_VERSION};

#[tokio::test]
async fn a_second_master_is_refused_naming_the_first() {
    let Some(config) = postgres_schema().await else {
        return;
    };
    let master = PostgresStore::connect_with(config.clone(), true)
        .await
        .unwrap();
    assert!(master.is_master());
    let err = PostgresStore::connect_with(config.clone(), true)
        .await
        .err()
        .unwrap();
    match &err {
        StoreError::Locked { holder, .. } => {
            assert!(
                holder.contains(&format!("lava-rs master pid {}", std::process::id())),
                "{err}"
            );
        }
        other => panic!("expected Locked, got {other}"),
    }
    // Clients run beside the master.
    let client = PostgresStore::connect_with(config, false).await.unwrap();
    master.add_worker(&worker("w1")).await.unwrap();
    assert_eq!(client.worker("w1").await.unwrap(), Some(worker("w1")));
}

#[tokio::test]
async fn another_schema_has_its_own_master() {
    let (Some(a), Some(b)) = (postgres_schema().await, postgres_schema().await) else {
        return;
    };
    let _first = PostgresStore::connect_with(a, true).await.unwrap();
    assert!(PostgresStore::connect_with(b, true).await.is_ok());
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let Some(config) = postgres_schema().await else {
        return;
    };
    drop(
        PostgresStore::connect_with(config.clone(), false)
            .await
            .unwrap(),
    );
    let bump = config.clone();
    tokio::task::spawn_blocking(move || {
        let mut client = bump.connect(postgres::NoTls).unwrap();
        client
            .batch_execute("UPDATE lava_schema SET version = version + 1")
            .unwrap();
    })
    .await
    .unwrap();
    let err = PostgresStore::connect_with(config, false)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1),
        "{err}"
    );
}

#[tokio::test]
async fn a_bad_connection_string_is_named() {
    let err = PostgresStore::connect("postgresql://[broken")
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("connection string"), "{err}");
}

/// Ends the server backend that holds the master lock of `config`'s schema, as a server
/// restart or a dropped network connection would.
async fn terminate_master_backend(config: &lava_store::PostgresConfig) {
    let config = config.clone();
    tokio::task::spawn_blocking(move || {
        let mut client = config.connect(postgres::NoTls).unwrap();
        let rows = client
            .query(
                // With a timeout, it returns once the backend is gone.
                "SELECT pg_terminate_backend(l.pid, 10000) FROM pg_locks l \
                 WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::oid \
                 AND l.objid = hashtext(current_database() || '.' || current_schema())::oid \
                 AND l.objsubid = 2",
                &[&0x6c61_7661_u32],
            )
            .unwrap();
        assert_eq!(rows.len(), 1, "one backend holds the master lock");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_lost_connection_is_replaced_and_the_master_lock_taken_again() {
    let Some(config) = postgres_schema().await else {
        return;
    };
    let master = PostgresStore::connect_with(config.clone(), true)
        .await
        .unwrap();
    master.add_worker(&worker("w1")).await.unwrap();
    terminate_master_backend(&config).await;
    // The next call finds the connection dead at BEGIN and runs on a new one.
    assert_eq!(master.worker("w1").await.unwrap(), Some(worker("w1")));
    master.add_worker(&worker("w2")).await.unwrap();
    // The new connection holds the lock again: a second master is refused.
    assert!(matches!(
        PostgresStore::connect_with(config.clone(), true).await,
        Err(StoreError::Locked { .. })
    ));

    // Someone else takes the lock while the connection is down: this master is refused
    // (it must not write beside another), and comes back once the other has gone.
    terminate_master_backend(&config).await;
    let other = PostgresStore::connect_with(config.clone(), true)
        .await
        .unwrap();
    let err = master.worker("w1").await.unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    drop(other);
    let mut back = None;
    for _ in 0..50 {
        match master.worker("w2").await {
            Ok(w) => {
                back = w;
                break;
            }
            // The other connection's backend may take a moment to let go of the lock.
            Err(StoreError::Locked { .. }) => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(back, Some(worker("w2")));
}
