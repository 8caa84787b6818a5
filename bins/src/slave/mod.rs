//! The slave daemon's I/O: lava-run processes and their work directories.

pub mod lava_run;
pub mod options;
