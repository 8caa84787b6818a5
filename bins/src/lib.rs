//! Shared wiring for the lava-rs binaries (`lava-master`, `lava-slave`, `lava-admin`).
//!
//! The core (`lava-core`) decides; this crate does the I/O around it: processes, files,
//! sockets and the store.

pub mod admin;
pub mod api;
pub mod lab;
pub mod logging;
pub mod master;
pub mod slave;
