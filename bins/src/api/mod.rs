//! LAVA's XML-RPC API at `/RPC2`, so that lavacli works against lava-rs.
//!
//! - [`codec`]: the XML-RPC wire format ([`value::Value`], method calls, responses, faults).
//! - [`server`]: the HTTP side (axum), body limit and authentication ([`auth`]).
//! - [`methods`]: LAVA 2020.05's methods, by namespace, and the dispatcher.
//! - [`backend`]: the [`Backend`] trait the methods call; the master implements it over
//!   lava-store, [`fake::FakeBackend`] in memory for tests.
//!
//! `system.version` answers [`methods::LAVA_VERSION`] (2020.05), which lavacli reads to
//! decide which commands and arguments to use. See `docs/api.md` for the method list,
//! permissions and fault codes.

pub mod auth;
pub mod backend;
pub mod codec;
pub mod fake;
pub mod fault;
pub mod methods;
pub mod server;
pub mod value;

pub use backend::{Backend, BackendError, User};
pub use fake::FakeBackend;
pub use fault::Fault;
pub use server::{Api, DEFAULT_BIND, DEFAULT_BODY_LIMIT};
pub use value::Value;
