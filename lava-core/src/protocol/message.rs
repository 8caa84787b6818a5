//! The control messages of protocol version 3, one variant per action.

use crate::model::JobId;

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

/// The action frame of a control message: the first frame after the routing frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `HELLO`
    Hello,
    /// `HELLO_RETRY`
    HelloRetry,
    /// `HELLO_OK`
    HelloOk,
    /// `PING`
    Ping,
    /// `PONG`
    Pong,
    /// `START`
    Start,
    /// `START_OK`
    StartOk,
    /// `CANCEL`
    Cancel,
    /// `STATUS`
    Status,
    /// `END`
    End,
    /// `END_OK`
    EndOk,
}

impl Action {
    /// Every action of protocol version 3.
    pub const ALL: [Action; 11] = [
        Action::Hello,
        Action::HelloRetry,
        Action::HelloOk,
        Action::Ping,
        Action::Pong,
        Action::Start,
        Action::StartOk,
        Action::Cancel,
        Action::Status,
        Action::End,
        Action::EndOk,
    ];

    /// The action name exactly as it travels in the action frame.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Hello => "HELLO",
            Action::HelloRetry => "HELLO_RETRY",
            Action::HelloOk => "HELLO_OK",
            Action::Ping => "PING",
            Action::Pong => "PONG",
            Action::Start => "START",
            Action::StartOk => "START_OK",
            Action::Cancel => "CANCEL",
            Action::Status => "STATUS",
            Action::End => "END",
            Action::EndOk => "END_OK",
        }
    }

    /// The action named by an action frame (case-sensitive, as in LAVA), if any.
    pub fn from_frame(frame: &[u8]) -> Option<Action> {
        Action::ALL
            .into_iter()
            .find(|action| action.as_str().as_bytes() == frame)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Message {
    /// The action of this message.
    pub fn action(&self) -> Action {
        match self {
            Message::Hello { .. } => Action::Hello,
            Message::HelloRetry { .. } => Action::HelloRetry,
            Message::HelloOk => Action::HelloOk,
            Message::Ping => Action::Ping,
            Message::Pong { .. } => Action::Pong,
            Message::Start { .. } => Action::Start,
            Message::StartOk { .. } => Action::StartOk,
            Message::Cancel { .. } => Action::Cancel,
            Message::Status { .. } => Action::Status,
            Message::End { .. } => Action::End,
            Message::EndOk { .. } => Action::EndOk,
        }
    }

    /// The job this message is about, for the actions that carry one.
    pub fn job_id(&self) -> Option<JobId> {
        match self {
            Message::Start { job_id, .. }
            | Message::StartOk { job_id }
            | Message::Cancel { job_id }
            | Message::Status { job_id }
            | Message::End { job_id, .. }
            | Message::EndOk { job_id } => Some(*job_id),
            _ => None,
        }
    }
}

/// A one-line summary for logs: the action and its small arguments, payload sizes only.
impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let action = self.action();
        match self {
            Message::Hello {
                protocol_version,
                lava_version,
            }
            | Message::HelloRetry {
                protocol_version,
                lava_version,
            } => match lava_version {
                Some(version) => write!(f, "{action} {protocol_version} {version:?}"),
                None => write!(f, "{action} {protocol_version}"),
            },
            Message::HelloOk | Message::Ping => write!(f, "{action}"),
            Message::Pong { interval } => write!(f, "{action} {interval}"),
            Message::Start {
                job_id,
                job,
                device,
                dispatcher,
                env,
                env_dut,
            } => write!(
                f,
                "{action} {job_id} (job {} B, device {} B, dispatcher {} B, env {} B, env-dut {} B)",
                job.len(),
                device.len(),
                dispatcher.len(),
                env.len(),
                env_dut.len()
            ),
            Message::StartOk { job_id }
            | Message::Cancel { job_id }
            | Message::Status { job_id }
            | Message::EndOk { job_id } => write!(f, "{action} {job_id}"),
            Message::End {
                job_id,
                errors,
                description,
            } => write!(
                f,
                "{action} {job_id} (errors {} B, description {} B)",
                errors.len(),
                description.len()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_leave_payloads_out() {
        let hello = Message::Hello {
            protocol_version: 3,
            lava_version: Some("2020.05".to_owned()),
        };
        assert_eq!(hello.to_string(), "HELLO 3 \"2020.05\"");
        let end = Message::End {
            job_id: 7,
            errors: "boom\n".to_owned(),
            description: vec![0; 844],
        };
        assert_eq!(end.to_string(), "END 7 (errors 5 B, description 844 B)");
        assert_eq!(Message::EndOk { job_id: 7 }.job_id(), Some(7));
        assert_eq!(Message::Ping.job_id(), None);
        for action in Action::ALL {
            assert_eq!(Action::from_frame(action.as_str().as_bytes()), Some(action));
        }
    }
}
