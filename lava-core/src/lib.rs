//! The sans-IO core of lava-rs.
//!
//! Everything here is pure logic: no sockets, no threads, no clock reads and no filesystem.
//! State machines take the current time as an argument and hand back what to send, what to
//! store and when to wake up; the drivers in `lava-transport`, `lava-store` and `bins/` do
//! the I/O. That is what makes every timeout and restart testable without sleeping.

pub mod device;
pub mod error;
pub mod job;
pub mod master;
pub mod model;
pub mod protocol;
mod python;
pub mod scheduler;
pub mod slave;
pub mod templates;
pub mod time;
pub mod worker_http;

pub use error::{Error, Result};
