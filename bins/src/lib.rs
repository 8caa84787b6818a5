//! The lava-rs binaries' wiring: options, event loops, the slave driver and printing.
//!
//! The lab's rules are `lava-lab`'s, the decisions `lava-core`'s, the API `lava-http`'s;
//! this crate parses options, runs the loops that feed them and prints what they answer.

pub mod admin;
pub mod lab_options;
pub mod logging;
pub mod master;
pub mod signals;
pub mod slave;
