//! lava-master: its options and its daemon (the event loop, a library function so that a
//! test can run a whole master in-process).

pub mod daemon;
pub mod options;
pub mod pending;

pub use daemon::{MasterDaemon, MasterDaemonError};
pub use options::MasterOptions;
