//! `lava_rs.slave`: the sans-IO slave state machine, driven from Python.
//!
//! Same conventions as `lava_rs.master`: `now` is float seconds on the driver's monotonic
//! clock; frames are pyzmq's (the slave's ROUTER socket receives `[b"master", action, …]`).
//! The driver carries out every event in order (save or delete a row, spawn lava-run,
//! signal, …) before it sends what `poll_transmit` gives.

use std::time::Duration;

use lava_core::protocol::{Message, PeerId};
use lava_core::slave::{
    Event, JobResult, JobRow, JobStatus, Signal, Slave as CoreSlave, SlaveConfig,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::convert::frames_of;
use crate::master::{peer_of, secs, Clock};

fn row_dict<'py>(py: Python<'py>, row: &JobRow) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("id", row.id)?;
    d.set_item("pid", row.pid)?;
    d.set_item("status", row.status.to_string())?;
    d.set_item("prefix", &row.prefix)?;
    Ok(d)
}

fn row_of(row: &Bound<'_, PyAny>, index: usize) -> PyResult<(JobRow, Duration)> {
    let bad = |what: &str| PyValueError::new_err(format!("rows[{index}].{what}"));
    let get = |key: &str| -> PyResult<Bound<'_, PyAny>> {
        row.get_item(key)
            .map_err(|_| bad(&format!("{key}: missing")))
    };
    let status = get("status")?;
    let status = if let Ok(code) = status.extract::<i64>() {
        JobStatus::from_code(code).ok()
    } else if let Ok(name) = status.extract::<String>() {
        [
            JobStatus::Running,
            JobStatus::Canceling,
            JobStatus::Finished,
        ]
        .into_iter()
        .find(|s| s.to_string().eq_ignore_ascii_case(&name))
    } else {
        None
    }
    .ok_or_else(|| bad("status: expected RUNNING, CANCELING, FINISHED or 0, 1, 2"))?;
    let age = match row.get_item("age") {
        Ok(age) => secs(
            age.extract::<f64>()
                .map_err(|_| bad("age: expected seconds"))?,
            &format!("rows[{index}].age"),
        )?,
        Err(_) => Duration::ZERO,
    };
    Ok((
        JobRow {
            id: get("id")?
                .extract()
                .map_err(|_| bad("id: expected an int"))?,
            pid: get("pid")?
                .extract()
                .map_err(|_| bad("pid: expected an int >= 0"))?,
            status,
            prefix: get("prefix")?
                .extract()
                .map_err(|_| bad("prefix: expected a str"))?,
        },
        age,
    ))
}

fn event_dict<'py>(py: Python<'py>, event: &Event) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    match event {
        Event::SaveJob(row) => {
            d.set_item("event", "save_job")?;
            d.set_item("row", row_dict(py, row)?)?;
        }
        Event::DeleteJob { job_id } => {
            d.set_item("event", "delete_job")?;
            d.set_item("job_id", job_id)?;
        }
        Event::Spawn {
            job_id,
            prefix,
            files,
            environment,
        } => {
            d.set_item("event", "spawn")?;
            d.set_item("job_id", job_id)?;
            d.set_item("prefix", prefix)?;
            let f = PyDict::new(py);
            f.set_item("job", &files.job)?;
            f.set_item("device", &files.device)?;
            f.set_item("dispatcher", &files.dispatcher)?;
            f.set_item("env", &files.env)?;
            f.set_item("env_dut", &files.env_dut)?;
            d.set_item("files", f)?;
            let e = PyDict::new(py);
            e.set_item("purge", environment.purge)?;
            e.set_item("removes", environment.removes.clone())?;
            e.set_item("overrides", environment.overrides.clone())?;
            d.set_item("environment", e)?;
        }
        Event::CheckProcess { job_id, pid } => {
            d.set_item("event", "check_process")?;
            d.set_item("job_id", job_id)?;
            d.set_item("pid", pid)?;
        }
        Event::CollectResult { job_id, prefix } => {
            d.set_item("event", "collect_result")?;
            d.set_item("job_id", job_id)?;
            d.set_item("prefix", prefix)?;
        }
        Event::Signal {
            job_id,
            pid,
            signal,
        } => {
            d.set_item("event", "signal")?;
            d.set_item("job_id", job_id)?;
            d.set_item("pid", pid)?;
            let name = match signal {
                Signal::Term => "TERM",
                Signal::Kill => "KILL",
            };
            d.set_item("signal", name)?;
        }
        Event::RemoveWorkDir { job_id, prefix } => {
            d.set_item("event", "remove_work_dir")?;
            d.set_item("job_id", job_id)?;
            d.set_item("prefix", prefix)?;
        }
        Event::JobRejected { job_id, reason } => {
            d.set_item("event", "job_rejected")?;
            d.set_item("job_id", job_id)?;
            d.set_item("reason", reason)?;
        }
        Event::Connected => d.set_item("event", "connected")?,
        Event::MasterOffline => d.set_item("event", "master_offline")?,
        Event::MasterOnline => d.set_item("event", "master_online")?,
        Event::ProtocolError { reason } => {
            d.set_item("event", "protocol_error")?;
            d.set_item("reason", reason)?;
        }
    }
    Ok(d)
}

/// Slave(now, lava_version=None, rows=None, hello_retry_interval=5.0, min_ping_interval=5.0,
/// job_check_interval=5.0, cancel_term_again=60.0, cancel_kill=120.0)
///
/// The slave side of the protocol, sans IO; HELLO is queued at once. `rows` restores the
/// job table after a restart: dicts with `id`, `pid`, `status` ("RUNNING", "CANCELING",
/// "FINISHED" or LAVA's codes 0, 1, 2), `prefix` and optional `age` (seconds since the row
/// was last updated). Loop: feed `handle_message` / `handle_timeout` and the answers
/// (`spawned`, `process_alive`, `process_exited`), carry out every `poll_event()` in order,
/// then send every `poll_transmit()`.
#[pyclass(module = "lava_rs.slave", name = "Slave")]
pub struct PySlave {
    inner: CoreSlave,
    clock: Clock,
}

#[pymethods]
impl PySlave {
    #[new]
    #[pyo3(signature = (now, lava_version=None, rows=None, hello_retry_interval=5.0, min_ping_interval=5.0, job_check_interval=5.0, cancel_term_again=60.0, cancel_kill=120.0))]
    // Keyword arguments with LAVA's defaults are the Python API.
    #[allow(clippy::too_many_arguments)]
    fn new(
        now: f64,
        lava_version: Option<String>,
        rows: Option<&Bound<'_, PyAny>>,
        hello_retry_interval: f64,
        min_ping_interval: f64,
        job_check_interval: f64,
        cancel_term_again: f64,
        cancel_kill: f64,
    ) -> PyResult<Self> {
        let config = SlaveConfig {
            lava_version,
            hello_retry_interval: secs(hello_retry_interval, "hello_retry_interval")?,
            min_ping_interval: secs(min_ping_interval, "min_ping_interval")?,
            job_check_interval: secs(job_check_interval, "job_check_interval")?,
            cancel_term_again: secs(cancel_term_again, "cancel_term_again")?,
            cancel_kill: secs(cancel_kill, "cancel_kill")?,
        };
        let mut restored = Vec::new();
        if let Some(rows) = rows {
            for (index, row) in rows.try_iter()?.enumerate() {
                restored.push(row_of(&row?, index)?);
            }
        }
        let clock = Clock::new();
        let now = clock.instant(now)?;
        Ok(PySlave {
            inner: CoreSlave::restore(config, restored, now),
            clock,
        })
    }

    /// handle_message(peer, frames, now)
    ///
    /// Frames received from `peer` (the routing frame, b"master"), without it. Malformed
    /// frames and other peers become `protocol_error` events.
    fn handle_message(
        &mut self,
        peer: &Bound<'_, PyAny>,
        frames: &Bound<'_, PyAny>,
        now: f64,
    ) -> PyResult<()> {
        let peer = peer_of(peer)?;
        let frames = frames_of(frames)?;
        let now = self.clock.instant(now)?;
        match Message::decode(&frames) {
            Ok(message) => self.inner.handle_message(&peer, message, now),
            Err(error) => self.inner.handle_malformed(error, now),
        }
        Ok(())
    }

    /// handle_timeout(now): HELLO_RETRY, PING, job checks, END re-sends, cancel escalation.
    fn handle_timeout(&mut self, now: f64) -> PyResult<()> {
        let now = self.clock.instant(now)?;
        self.inner.handle_timeout(now);
        Ok(())
    }

    /// poll_transmit() -> list[bytes] | None: the next ROUTER frames (b"master" first).
    fn poll_transmit<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        let Some(message) = self.inner.poll_transmit() else {
            return Ok(None);
        };
        let mut frames = vec![PeerId::master().into_bytes()];
        frames.extend(message.encode());
        PyList::new(py, frames.iter().map(|f| PyBytes::new(py, f))).map(Some)
    }

    /// poll_event() -> dict | None: the next thing to do, e.g. {"event": "spawn", ...}.
    fn poll_event<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.inner
            .poll_event()
            .map(|event| event_dict(py, &event))
            .transpose()
    }

    /// poll_timeout() -> float | None: when `handle_timeout` is due.
    fn poll_timeout(&self) -> Option<f64> {
        self.inner.poll_timeout().map(|t| self.clock.seconds(t))
    }

    /// spawned(job_id, outcome, now): lava-run's pid (int), or why it did not start (str).
    fn spawned(&mut self, job_id: i64, outcome: &Bound<'_, PyAny>, now: f64) -> PyResult<()> {
        let outcome = if let Ok(pid) = outcome.extract::<u32>() {
            Ok(pid)
        } else if let Ok(reason) = outcome.extract::<String>() {
            Err(reason)
        } else {
            return Err(PyValueError::new_err(
                "outcome: expected a pid (int >= 0) or a reason (str)",
            ));
        };
        let now = self.clock.instant(now)?;
        self.inner.spawned(job_id, outcome, now);
        Ok(())
    }

    /// process_alive(job_id, pid): the answer to `check_process` when lava-run lives.
    fn process_alive(&mut self, job_id: i64, pid: u32) {
        self.inner.process_alive(job_id, pid);
    }

    /// process_exited(job_id, errors, description, now): lava-run exited; `description` is
    /// the xz-compressed description.yaml, or None when it is missing.
    fn process_exited(
        &mut self,
        job_id: i64,
        errors: String,
        description: Option<Vec<u8>>,
        now: f64,
    ) -> PyResult<()> {
        let now = self.clock.instant(now)?;
        self.inner.process_exited(
            job_id,
            JobResult {
                errors,
                description,
            },
            now,
        );
        Ok(())
    }

    /// is_connected() -> bool: HELLO_OK was received.
    fn is_connected(&self) -> bool {
        self.inner.is_connected()
    }

    /// ping_interval() -> float: seconds between PINGs (the last valid PONG's value).
    fn ping_interval(&self) -> f64 {
        self.inner.ping_interval().as_secs_f64()
    }

    /// rows() -> list[dict]: the job table as the machine sees it.
    fn rows<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for row in self.inner.rows() {
            out.append(row_dict(py, row)?)?;
        }
        Ok(out)
    }
}

/// Builds the `lava_rs.slave` submodule.
pub fn module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    let m = PyModule::new(py, "slave")?;
    m.setattr(
        "__doc__",
        "The sans-IO slave state machine, driven from Python.",
    )?;
    m.add_class::<PySlave>()?;
    Ok(m)
}
