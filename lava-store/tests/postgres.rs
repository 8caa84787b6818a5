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
