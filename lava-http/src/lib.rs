//! lava-master's HTTP side: LAVA's XML-RPC API at `/RPC2`, so that lavacli works against
//! lava-rs.
//!
//! - [`codec`]: the XML-RPC wire format ([`Value`], method calls, responses, faults).
//! - [`server`]: the HTTP side (axum), body limit and authentication ([`auth`]).
//! - [`methods`]: LAVA 2020.05's methods, by namespace, and the dispatcher. Each method reads
//!   and checks its arguments, asks the [`Lab`](lava_lab::Lab) and shapes LAVA's answer: the
//!   lab's rules (who may see or cancel a job, what a worker's name may be, how a health
//!   change moves devices) are the lab layer's, not this crate's.
//!
//! - [`worker_api`]: lava-worker's HTTP API under `/scheduler/internal/v1/` (LAVA 2020.09+),
//!   whose requests the master daemon answers.
//! - [`web`]: the lab's web pages at LAVA's URLs under `/scheduler/`, and `/metrics`.
//!
//! `system.version` answers [`methods::LAVA_VERSION`] (2020.05), which lavacli reads to
//! decide which commands and arguments to use. See `docs/api.md` for the method list,
//! permissions and fault codes.

#![warn(missing_docs)]

pub mod auth;
pub mod codec;
pub mod fault;
pub mod limits;
pub mod methods;
pub mod server;
pub mod value;
pub mod web;
pub mod worker_api;

pub use fault::Fault;
pub use limits::Limits;
pub use server::{Api, DEFAULT_BIND, DEFAULT_BODY_LIMIT};
pub use value::Value;
pub use worker_api::{WorkerApi, WorkerRequest};
