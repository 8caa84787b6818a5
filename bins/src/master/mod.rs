//! The master daemon's I/O: job output files and the per-worker files START carries.

pub mod daemon;
pub mod job_output;
pub mod options;
pub mod worker_files;
