//! The slave daemon (`lava-slave`): the slave state machine wired to its ZeroMQ socket, its
//! job table (`db.sqlite3`) and the lava-run processes. See `docs/slave.md`.

pub mod daemon;
pub mod executor;
pub mod host;
pub mod lava_run;
pub mod options;
pub mod process;
