//! LAVA's ZeroMQ master/slave protocol, version 3: messages, frames and log records.

use crate::model::JobId;

/// The protocol version lava-rs speaks (LAVA 2018.2 to 2020.05).
pub const PROTOCOL_VERSION: i64 = 3;

/// The ping interval, in seconds, that the master announces in PONG.
pub const PING_INTERVAL_SECS: i64 = 20;

/// One control message, without the routing frame.
///
/// On the wire a message is a list of frames: the action name, then its arguments
/// (decimal job ids, UTF-8 text, and for END an xz stream or an empty frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// `HELLO | version [| lava_version]`: a slave announces itself when it starts.
    Hello {
        /// The protocol version the slave speaks (must be 3).
        protocol_version: i64,
        /// The LAVA package version (2020.04+); absent from 2018.x slaves.
        lava_version: Option<String>,
    },
    /// `HELLO_RETRY | version [| lava_version]`: HELLO again, every 5 s until HELLO_OK.
    HelloRetry {
        /// The protocol version the slave speaks (must be 3).
        protocol_version: i64,
        /// The LAVA package version (2020.04+); absent from 2018.x slaves.
        lava_version: Option<String>,
    },
    /// `HELLO_OK`: the master accepts the slave.
    HelloOk,
    /// `PING`: keep-alive from a slave (or lava-logs).
    Ping,
    /// `PONG | interval`: the master's answer; the slave adopts the interval (seconds).
    Pong {
        /// Seconds between PINGs that the master asks for.
        interval: i64,
    },
    /// `START | id | job | device | dispatcher | env | env_dut`: run a job.
    Start {
        /// The job.
        job_id: JobId,
        /// The job definition (YAML text).
        job: String,
        /// The rendered device configuration (YAML text).
        device: String,
        /// The worker's dispatcher configuration (YAML text, may be empty).
        dispatcher: String,
        /// The environment for lava-run (YAML text, may be empty).
        env: String,
        /// The environment for the device under test (YAML text, may be empty).
        env_dut: String,
    },
    /// `START_OK | id`: the job is running (or was already known).
    StartOk {
        /// The job.
        job_id: JobId,
    },
    /// `CANCEL | id`: stop a job.
    Cancel {
        /// The job.
        job_id: JobId,
    },
    /// `STATUS | id`: "tell me about this job", after a master restart.
    Status {
        /// The job.
        job_id: JobId,
    },
    /// `END | id | errors | description`: the job's lava-run has exited.
    End {
        /// The job.
        job_id: JobId,
        /// lava-run's stderr, as text (often empty).
        errors: String,
        /// `description.yaml`, xz-compressed; empty when lava-run crashed or never ran.
        description: Vec<u8>,
    },
    /// `END_OK | id`: the master has recorded the end; the slave may forget the job.
    EndOk {
        /// The job.
        job_id: JobId,
    },
}

/// A multipart message that does not follow the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("frame {frame}: {reason}")]
pub struct FrameError {
    /// Index of the frame at fault (0 is the action frame; the routing frame is not counted).
    pub frame: usize,
    /// Why it is wrong.
    pub reason: String,
}
