//! The master daemon's I/O: job output files, the per-worker files START carries, and the
//! XML-RPC API's backend over the real lab.

pub mod api_backend;
pub mod daemon;
pub mod job_output;
pub mod options;
pub mod worker_files;
