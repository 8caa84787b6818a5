//! `lava_rs.master`: the sans-IO master state machine, driven from Python.
//!
//! Time is float seconds on any monotonic clock the driver likes (`time.monotonic()`):
//! the wrapper maps it onto `Instant`s from a fixed origin, so deadlines come back in the
//! same unit. The driver loop is the core's: feed messages and timeouts, drain
//! `poll_event` (and persist each event), then drain `poll_transmit` and send.

use std::time::{Duration, Instant};

use lava_core::master::{
    DuplicateHint, Event, JobPhase, Master as CoreMaster, MasterConfig, StartPayload,
};
use lava_core::protocol::{Message, PeerId};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::convert::frames_of;
use crate::errors;

/// Float seconds ⇄ `Instant`, from an origin fixed when the machine is made.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
}

impl Clock {
    /// A clock whose second 0.0 is now.
    pub fn new() -> Self {
        Clock {
            origin: Instant::now(),
        }
    }

    /// The instant `now` seconds after the origin; refuses negative, NaN and absurd values.
    pub fn instant(&self, now: f64) -> PyResult<Instant> {
        let offset = Duration::try_from_secs_f64(now)
            .map_err(|_| PyValueError::new_err(format!("now: {now} is not a usable time")))?;
        self.origin
            .checked_add(offset)
            .ok_or_else(|| PyValueError::new_err(format!("now: {now} is too far ahead")))
    }

    /// The seconds of `instant` on the driver's clock.
    pub fn seconds(&self, instant: Instant) -> f64 {
        instant.saturating_duration_since(self.origin).as_secs_f64()
    }
}

/// A duration from float seconds, refusing negative and non-finite values.
pub fn secs(value: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| PyValueError::new_err(format!("{what}: {value} is not a usable duration")))
}

/// A routing identity from Python: `str` (a hostname) or bytes as the socket gave them.
pub fn peer_of(peer: &Bound<'_, PyAny>) -> PyResult<PeerId> {
    if let Ok(text) = peer.extract::<String>() {
        return Ok(PeerId::from_hostname(&text));
    }
    Ok(PeerId::from(peer.extract::<Vec<u8>>()?))
}

fn event_dict<'py>(py: Python<'py>, event: &Event) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    match event {
        Event::WorkerOnline { hostname } => {
            d.set_item("event", "worker_online")?;
            d.set_item("hostname", hostname)?;
        }
        Event::WorkerOffline { hostname } => {
            d.set_item("event", "worker_offline")?;
            d.set_item("hostname", hostname)?;
        }
        Event::WorkerHello {
            hostname,
            lava_version,
            restarted,
        } => {
            d.set_item("event", "worker_hello")?;
            d.set_item("hostname", hostname)?;
            d.set_item("lava_version", lava_version.as_deref())?;
            d.set_item("restarted", restarted)?;
        }
        Event::VersionMismatch {
            hostname,
            protocol_version,
        } => {
            d.set_item("event", "version_mismatch")?;
            d.set_item("hostname", hostname)?;
            d.set_item("protocol_version", protocol_version)?;
        }
        Event::LavaLogsOnline => d.set_item("event", "lava_logs_online")?,
        Event::LavaLogsOffline => d.set_item("event", "lava_logs_offline")?,
        Event::FinishOverdue {
            job_id,
            hostname,
            was_canceling,
        } => {
            d.set_item("event", "finish_overdue")?;
            d.set_item("job_id", job_id)?;
            d.set_item("hostname", hostname)?;
            d.set_item("was_canceling", was_canceling)?;
        }
        Event::JobStarted { job_id, hostname } => {
            d.set_item("event", "job_started")?;
            d.set_item("job_id", job_id)?;
            d.set_item("hostname", hostname)?;
        }
        Event::JobEnded {
            job_id,
            hostname,
            errors,
            description,
            crashed,
            was_canceling,
        } => {
            d.set_item("event", "job_ended")?;
            d.set_item("job_id", job_id)?;
            d.set_item("hostname", hostname)?;
            d.set_item("errors", errors)?;
            d.set_item("description", PyBytes::new(py, description))?;
            d.set_item("crashed", crashed)?;
            d.set_item("was_canceling", was_canceling)?;
        }
        Event::EndForUnknownJob { job_id, hostname } => {
            d.set_item("event", "end_for_unknown_job")?;
            d.set_item("job_id", job_id)?;
            d.set_item("hostname", hostname)?;
        }
        Event::JobFailedAtStart {
            job_id,
            hostname,
            error,
        } => {
            d.set_item("event", "job_failed_at_start")?;
            d.set_item("job_id", job_id)?;
            d.set_item("hostname", hostname)?;
            d.set_item("error", error.to_string())?;
        }
        Event::PeerRejected { peer, reason } => {
            d.set_item("event", "peer_rejected")?;
            d.set_item("peer", PyBytes::new(py, peer.as_bytes()))?;
            d.set_item("reason", reason.to_string())?;
        }
        Event::ProtocolError { hostname, error } => {
            d.set_item("event", "protocol_error")?;
            d.set_item("hostname", hostname)?;
            d.set_item("error", error.to_string())?;
        }
        Event::DuplicateIdentitySuspected { hostname, hint } => {
            d.set_item("event", "duplicate_identity_suspected")?;
            d.set_item("hostname", hostname)?;
            match hint {
                DuplicateHint::HelloWhileOnline { running_jobs } => {
                    d.set_item("hint", "hello_while_online")?;
                    d.set_item("running_jobs", running_jobs.clone())?;
                }
                DuplicateHint::PingsTooClose { gap } => {
                    d.set_item("hint", "pings_too_close")?;
                    d.set_item("gap", gap.as_secs_f64())?;
                }
            }
        }
    }
    Ok(d)
}

fn payload_of(payload: &Bound<'_, PyDict>) -> PyResult<StartPayload> {
    let py = payload.py();
    let text = |key: &str, required: bool| -> PyResult<String> {
        match payload.get_item(key)? {
            Some(value) if !value.is_none() => value
                .extract::<String>()
                .map_err(|_| errors::message_field(py, key, "expected a str")),
            _ if required => Err(errors::message_field(py, key, "missing")),
            _ => Ok(String::new()),
        }
    };
    Ok(StartPayload {
        job: text("job", true)?,
        device: text("device", true)?,
        dispatcher: text("dispatcher", false)?,
        env: text("env", false)?,
        env_dut: text("env_dut", false)?,
    })
}

/// Master(ping_interval=20.0, worker_timeout=60.0, resend_interval=20.0, finish_grace=120.0)
///
/// The master side of the protocol, sans IO. `now` arguments are float seconds on the
/// driver's monotonic clock. Loop: `handle_message` / `handle_timeout` and the job calls,
/// then drain `poll_event` (persist each event), then drain `poll_transmit` (send each
/// frame list on the ROUTER socket), then sleep until `poll_timeout()`.
#[pyclass(module = "lava_rs.master", name = "Master")]
pub struct PyMaster {
    inner: CoreMaster,
    clock: Clock,
}

#[pymethods]
impl PyMaster {
    #[new]
    #[pyo3(signature = (ping_interval=20.0, worker_timeout=60.0, resend_interval=20.0, finish_grace=120.0))]
    fn new(
        ping_interval: f64,
        worker_timeout: f64,
        resend_interval: f64,
        finish_grace: f64,
    ) -> PyResult<Self> {
        let config = MasterConfig {
            ping_interval: secs(ping_interval, "ping_interval")?,
            worker_timeout: secs(worker_timeout, "worker_timeout")?,
            resend_interval: secs(resend_interval, "resend_interval")?,
            finish_grace: secs(finish_grace, "finish_grace")?,
        };
        Ok(PyMaster {
            inner: CoreMaster::new(config),
            clock: Clock::new(),
        })
    }

    /// handle_message(peer, frames, now)
    ///
    /// Frames received from `peer` (its routing identity, bytes or str), without the
    /// identity frame. Frames the codec refuses are reported as a `protocol_error` event
    /// (never answered, as LAVA does); nothing is raised for a bad peer.
    fn handle_message(
        &mut self,
        py: Python<'_>,
        peer: &Bound<'_, PyAny>,
        frames: &Bound<'_, PyAny>,
        now: f64,
    ) -> PyResult<()> {
        let peer = peer_of(peer)?;
        let frames = frames_of(frames)?;
        let now = self.clock.instant(now)?;
        let inner = &mut self.inner;
        py.detach(|| match Message::decode(&frames) {
            Ok(message) => inner.handle_message(&peer, message, now),
            Err(error) => inner.handle_malformed(&peer, error, now),
        });
        Ok(())
    }

    /// handle_timeout(now)
    ///
    /// The deadline of `poll_timeout()` has passed: offline checks and re-sends.
    fn handle_timeout(&mut self, now: f64) -> PyResult<()> {
        let now = self.clock.instant(now)?;
        self.inner.handle_timeout(now);
        Ok(())
    }

    /// poll_transmit() -> list[bytes] | None
    ///
    /// The next message to send, as ROUTER frames (identity first).
    fn poll_transmit<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        let Some((peer, message)) = self.inner.poll_transmit() else {
            return Ok(None);
        };
        let mut frames = vec![peer.into_bytes()];
        frames.extend(message.encode());
        PyList::new(py, frames.iter().map(|f| PyBytes::new(py, f))).map(Some)
    }

    /// poll_event() -> dict | None
    ///
    /// The next event to persist: `{"event": "job_started", "job_id": ..., ...}`.
    fn poll_event<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.inner
            .poll_event()
            .map(|event| event_dict(py, &event))
            .transpose()
    }

    /// poll_timeout() -> float | None
    ///
    /// When `handle_timeout` must be called next (seconds on the driver's clock).
    fn poll_timeout(&self) -> Option<f64> {
        self.inner.poll_timeout().map(|t| self.clock.seconds(t))
    }

    /// add_job(job_id, hostname, now, payload=None, phase="scheduled", end_processed=False)
    ///
    /// Tracks a job on worker `hostname`. `phase` is "scheduled" (then `payload` is the
    /// START payload: a dict with `job`, `device` and optional `dispatcher`, `env`,
    /// `env_dut`), "running", "canceling" or "finished" (a job restored after a restart).
    /// Raises `lava_rs.MasterError` when the job is already tracked or the name unusable.
    #[pyo3(signature = (job_id, hostname, now, payload=None, phase="scheduled", end_processed=false))]
    // The Python signature (keywords with defaults) is the API; `py` is the eighth argument.
    #[allow(clippy::too_many_arguments)]
    fn add_job(
        &mut self,
        py: Python<'_>,
        job_id: i64,
        hostname: &str,
        now: f64,
        payload: Option<&Bound<'_, PyDict>>,
        phase: &str,
        end_processed: bool,
    ) -> PyResult<()> {
        let phase = match (phase, payload) {
            ("scheduled", Some(payload)) => JobPhase::Scheduled(payload_of(payload)?),
            ("scheduled", None) => {
                return Err(PyValueError::new_err(
                    "payload: a scheduled job needs its START payload",
                ))
            }
            ("running", _) => JobPhase::Running,
            ("canceling", _) => JobPhase::Canceling,
            ("finished", _) => JobPhase::Finished,
            (other, _) => {
                return Err(PyValueError::new_err(format!(
                    "phase: {other:?} is not one of scheduled, running, canceling, finished"
                )))
            }
        };
        let now = self.clock.instant(now)?;
        self.inner
            .add_job(job_id, hostname, phase, end_processed, now)
            .map_err(|e| errors::master(py, &e))
    }

    /// cancel_job(job_id, now): CANCEL goes out at once (worker online) and is re-sent.
    fn cancel_job(&mut self, py: Python<'_>, job_id: i64, now: f64) -> PyResult<()> {
        let now = self.clock.instant(now)?;
        self.inner
            .cancel_job(job_id, now)
            .map_err(|e| errors::master(py, &e))
    }

    /// finish_job(job_id): the log sink finished the job; no more START or CANCEL.
    fn finish_job(&mut self, py: Python<'_>, job_id: i64) -> PyResult<()> {
        self.inner
            .finish_job(job_id)
            .map_err(|e| errors::master(py, &e))
    }

    /// remove_job(job_id): stop tracking a job (a later END is still acked).
    fn remove_job(&mut self, py: Python<'_>, job_id: i64) -> PyResult<()> {
        self.inner
            .remove_job(job_id)
            .map_err(|e| errors::master(py, &e))
    }

    /// job_phase(job_id) -> str | None: "scheduled", "running", "canceling", "finished".
    fn job_phase(&self, job_id: i64) -> Option<&'static str> {
        self.inner.job_phase(job_id).map(|phase| match phase {
            JobPhase::Scheduled(_) => "scheduled",
            JobPhase::Running => "running",
            JobPhase::Canceling => "canceling",
            JobPhase::Finished => "finished",
        })
    }

    /// is_online(hostname) -> bool: a valid message within the worker timeout.
    fn is_online(&self, hostname: &str) -> bool {
        self.inner.is_online(hostname)
    }

    /// lava_logs_online() -> bool: whether lava-logs pings (LAVA schedules only then).
    fn lava_logs_online(&self) -> bool {
        self.inner.lava_logs_online()
    }
}

/// Builds the `lava_rs.master` submodule.
pub fn module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    let m = PyModule::new(py, "master")?;
    m.setattr(
        "__doc__",
        "The sans-IO master state machine, driven from Python (pyzmq or any transport).",
    )?;
    m.add_class::<PyMaster>()?;
    Ok(m)
}
