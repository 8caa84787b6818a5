//! Shared wiring for the lava-rs binaries (`lava-master`, `lava-slave`, `lava-admin`).
pub mod api;
