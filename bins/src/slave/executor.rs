//! Carrying out what the slave machine asks for: the job table, lava-run processes, their
//! results and their directories.
//!
//! [`Executor::carry_out`] handles one [`Event`] and answers the machine when the event
//! calls for it (`spawned`, `process_alive`, `process_exited`). Writing the job table is
//! the only step whose failure stops the daemon: every message the machine queues after a
//! table change relies on that change being on disk (a job must never run twice because a
//! row was lost), and a restart re-reads the table. Everything else (a signal to a process
//! that has gone, a directory that cannot be removed) is logged and the daemon goes on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lava_core::master::StartPayload;
use lava_core::model::JobId;
use lava_core::protocol::xz;
use lava_core::slave::lava_run::LavaRunOptions;
use lava_core::slave::{Event, JobEnvironment, JobResult, JobRow, JobStatus, Slave};
use lava_store::{SlaveJobTable, StoreError, StoredJob};
use tracing::{debug, error, info, warn};

use super::lava_run;
use super::process;

/// The job table could not be written: the daemon must stop rather than send a message
/// that relies on it.
#[derive(Debug, thiserror::Error)]
#[error("job {job_id}: the job table could not be updated: {source}")]
pub struct TableError {
    /// The job whose row was being written.
    pub job_id: JobId,
    /// The store's error (it names the database file).
    #[source]
    pub source: StoreError,
}

/// Where the executor works.
#[derive(Debug, Clone)]
pub struct Places {
    /// `--slave-dir`: `db.sqlite3` and `tmp/<prefix><id>` work directories.
    pub slave_dir: PathBuf,
    /// LAVA's download directory, where `<prefix><id>` is also removed at the end of a job.
    pub download_dir: PathBuf,
}

impl Places {
    /// Where the per-job directories live (`<slave-dir>/tmp`).
    pub fn tmp_dir(&self) -> PathBuf {
        self.slave_dir.join("tmp")
    }
}

/// The slave's hands: the job table, the lava-run children of this process, the directories.
#[derive(Debug)]
pub struct Executor {
    table: SlaveJobTable,
    lava_run: LavaRunOptions,
    places: Places,
    /// lava-run processes this process started and has not reaped yet.
    children: BTreeMap<JobId, Child>,
    /// The master went silent: the driver should connect anew (see [`Executor::take_reconnect`]).
    reconnect: bool,
}

/// Seconds since the epoch, as LAVA stamps `last_update`.
pub fn epoch_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A stored row with its age at `now_secs`, as [`Slave::restore`] takes it.
pub fn machine_row(job: &StoredJob, now_secs: i64) -> (JobRow, Duration) {
    let age = u64::try_from(now_secs.saturating_sub(job.last_update)).unwrap_or(0);
    (job.row.clone(), Duration::from_secs(age))
}

/// Whether `<prefix><id>` is a plain directory name: the prefix comes from the master's
/// dispatcher configuration and must not lead outside the slave's directories.
pub fn safe_dir_name(prefix: &str) -> bool {
    !prefix.contains('/') && !prefix.contains('\0')
}

/// Reads what lava-run left in `base`: its stderr and its description, xz-compressed as
/// LAVA's slave sends it (`None` when `description.yaml` is missing).
pub fn collect_result(base: &Path) -> JobResult {
    let outcome = lava_run::outcome(base);
    let description = outcome
        .description
        .and_then(|text| match xz::compress(text.as_bytes()) {
            Ok(compressed) => Some(compressed),
            Err(e) => {
                error!(dir = %base.display(), "cannot compress description.yaml: {e}");
                None
            }
        });
    JobResult {
        errors: outcome.errors,
        description,
    }
}

impl Executor {
    /// An executor over an open job table.
    pub fn new(table: SlaveJobTable, lava_run: LavaRunOptions, places: Places) -> Self {
        Executor {
            table,
            lava_run,
            places,
            children: BTreeMap::new(),
            reconnect: false,
        }
    }

    /// Whether the master went silent since the last call: its PONGs stop reaching us when
    /// the route to this slave was taken over by another connection with our identity (or
    /// the master is gone). A new connection takes the route back (ROUTER_HANDOVER) and
    /// costs nothing if the master is really away.
    pub fn take_reconnect(&mut self) -> bool {
        std::mem::take(&mut self.reconnect)
    }

    /// The stored rows for [`Slave::restore`], each with its age. Rows with a status that is
    /// not one of LAVA's are left out (and reported): no answer for them would be right.
    pub fn stored_rows(&self) -> Result<Vec<(JobRow, Duration)>, StoreError> {
        let now = epoch_seconds();
        let mut rows = Vec::new();
        for status in [
            JobStatus::Running,
            JobStatus::Canceling,
            JobStatus::Finished,
        ] {
            rows.extend(
                self.table
                    .with_status(status)?
                    .iter()
                    .map(|job| machine_row(job, now)),
            );
        }
        if let Err(e) = self.table.all() {
            error!("some rows of the job table are ignored: {e}");
        }
        Ok(rows)
    }

    /// Drains the machine's events and carries each out, in order (including the events
    /// that the answers to earlier ones produce).
    pub async fn drain(&mut self, machine: &mut Slave) -> Result<(), TableError> {
        while let Some(event) = machine.poll_event() {
            self.carry_out(machine, event).await?;
        }
        Ok(())
    }

    /// Carries out one event.
    pub async fn carry_out(&mut self, machine: &mut Slave, event: Event) -> Result<(), TableError> {
        match event {
            Event::SaveJob(row) => self.save(&row)?,
            Event::DeleteJob { job_id } => {
                self.table
                    .delete(job_id)
                    .map_err(|source| TableError { job_id, source })?;
                debug!(job = job_id, "row deleted");
            }
            Event::Spawn {
                job_id,
                prefix,
                files,
                environment,
            } => {
                let outcome = self.spawn(job_id, &prefix, files, environment).await;
                machine.spawned(job_id, outcome, Instant::now());
            }
            Event::CheckProcess { job_id, pid } => self.check(machine, job_id, pid).await,
            Event::CollectResult { job_id, prefix } => {
                let result = self.result_of(job_id, &prefix).await;
                machine.process_exited(job_id, result, Instant::now());
            }
            Event::Signal {
                job_id,
                pid,
                signal,
            } => {
                // A child of ours that is not reaped still owns its pid: no /proc check,
                // which could miss it while `nice` execs lava-run.
                let own_child = self
                    .children
                    .get_mut(&job_id)
                    .is_some_and(|child| child.id() == pid && matches!(child.try_wait(), Ok(None)));
                if !own_child
                    && !process::is_job_alive(pid, job_id, &self.work_dir(machine, job_id))
                {
                    debug!(job = job_id, pid, "no {signal:?}: lava-run has gone");
                } else if let Err(e) = process::signal_group(pid, signal) {
                    warn!(job = job_id, pid, "cannot send {signal:?} to lava-run: {e}");
                } else {
                    info!(job = job_id, pid, "{signal:?} sent to lava-run");
                }
            }
            Event::RemoveWorkDir { job_id, prefix } => self.remove_dirs(job_id, &prefix).await,
            Event::JobRejected { job_id, reason } => {
                warn!(job = job_id, "job not run: {reason}");
            }
            Event::Connected => info!("connected to the master (HELLO_OK)"),
            Event::MasterOffline => {
                warn!("the master is OFFLINE: nothing heard from it; connecting anew");
                self.reconnect = true;
            }
            Event::MasterOnline => info!("the master is back ONLINE"),
            Event::ProtocolError { reason } => warn!("{reason}"),
        }
        Ok(())
    }

    /// Reaps the lava-run children that have exited (after SIGCHLD) and reports them: END
    /// leaves at once rather than at the next job check.
    pub async fn reap(&mut self, machine: &mut Slave) {
        let mut exited = Vec::new();
        self.children
            .retain(|job_id, child| match child.try_wait() {
                Ok(Some(status)) => {
                    info!(
                        job = *job_id,
                        pid = child.id(),
                        "lava-run exited ({status})"
                    );
                    exited.push(*job_id);
                    false
                }
                Ok(None) => true,
                Err(e) => {
                    // The /proc check of the next job check decides instead.
                    warn!(job = *job_id, "cannot wait for lava-run: {e}");
                    false
                }
            });
        for job_id in exited {
            self.report_exit(machine, job_id).await;
        }
    }

    fn save(&self, row: &JobRow) -> Result<(), TableError> {
        let job_id = row.id;
        let fail = |source| TableError { job_id, source };
        match self.table.get(job_id).map_err(fail)? {
            Some(stored) => {
                if stored.row.pid != row.pid {
                    self.table.set_pid(job_id, row.pid).map_err(fail)?;
                }
                if stored.row.status != row.status {
                    self.table
                        .set_status(job_id, row.status, epoch_seconds())
                        .map_err(fail)?;
                }
            }
            None => self.table.create(row, epoch_seconds()).map_err(fail)?,
        }
        debug!(job = job_id, pid = row.pid, status = %row.status, "row saved");
        Ok(())
    }

    async fn spawn(
        &mut self,
        job_id: JobId,
        prefix: &str,
        files: StartPayload,
        environment: JobEnvironment,
    ) -> Result<u32, String> {
        // The machine refuses such prefixes before asking for a spawn; checked again here
        // because this is where the path is built.
        if !safe_dir_name(prefix) {
            let reason = format!("the dispatcher prefix {prefix:?} contains '/' or NUL");
            error!(job = job_id, "{reason}");
            return Err(reason);
        }
        let base = lava_run::work_dir(&self.places.slave_dir, prefix, job_id);
        let options = self.lava_run.clone();
        let dir = base.clone();
        let spawned = tokio::task::spawn_blocking(move || {
            // A description left by an earlier run of this id (a master whose database was
            // reset) would be taken for this run's if lava-run crashed.
            let stale = dir.join("description.yaml");
            match std::fs::remove_file(&stale) {
                Ok(()) => warn!(job = job_id, "stale {} removed", stale.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => warn!(job = job_id, "cannot remove stale {}: {e}", stale.display()),
            }
            lava_run::start_job(&options, &dir, job_id, &files, &environment)
        })
        .await;
        match spawned {
            Ok(Ok(child)) => {
                let pid = child.id();
                info!(job = job_id, pid, dir = %base.display(), "lava-run started");
                self.children.insert(job_id, child);
                Ok(pid)
            }
            Ok(Err(e)) => {
                error!(job = job_id, "{e}");
                Err(e.to_string())
            }
            Err(e) => {
                error!(job = job_id, "starting lava-run failed: {e}");
                Err(format!("starting lava-run failed: {e}"))
            }
        }
    }

    async fn check(&mut self, machine: &mut Slave, job_id: JobId, pid: Option<u32>) {
        if let Some(child) = self.children.get_mut(&job_id) {
            match child.try_wait() {
                Ok(None) => {
                    machine.process_alive(job_id, child.id());
                    return;
                }
                Ok(Some(status)) => {
                    info!(job = job_id, pid = child.id(), "lava-run exited ({status})");
                    self.children.remove(&job_id);
                    self.report_exit(machine, job_id).await;
                    return;
                }
                Err(e) => {
                    warn!(job = job_id, "cannot wait for lava-run: {e}");
                    self.children.remove(&job_id);
                }
            }
        }
        let work_dir = self.work_dir(machine, job_id);
        let alive = match pid {
            Some(pid) => process::is_job_alive(pid, job_id, &work_dir).then_some(pid),
            None => {
                let found = process::find_job(job_id, &work_dir);
                match found {
                    Some(pid) => info!(job = job_id, pid, "lava-run found by job id"),
                    None => warn!(
                        job = job_id,
                        "no lava-run found for a job started without a stored pid"
                    ),
                }
                found
            }
        };
        match alive {
            Some(pid) => machine.process_alive(job_id, pid),
            None => {
                info!(job = job_id, "lava-run is no longer running");
                self.report_exit(machine, job_id).await;
            }
        }
    }

    /// The job's work directory, from the prefix in its row.
    fn work_dir(&self, machine: &Slave, job_id: JobId) -> PathBuf {
        let prefix = machine
            .rows()
            .find(|row| row.id == job_id)
            .map_or("", |row| row.prefix.as_str());
        lava_run::work_dir(&self.places.slave_dir, prefix, job_id)
    }

    async fn report_exit(&mut self, machine: &mut Slave, job_id: JobId) {
        let prefix = machine
            .rows()
            .find(|row| row.id == job_id)
            .map(|row| row.prefix.clone());
        let Some(prefix) = prefix else {
            // Acknowledged and forgotten already: nothing to report.
            return;
        };
        let result = self.result_of(job_id, &prefix).await;
        machine.process_exited(job_id, result, Instant::now());
    }

    async fn result_of(&self, job_id: JobId, prefix: &str) -> JobResult {
        if !safe_dir_name(prefix) {
            return JobResult {
                errors: String::new(),
                description: None,
            };
        }
        let base = lava_run::work_dir(&self.places.slave_dir, prefix, job_id);
        let dir = base.clone();
        let result = tokio::task::spawn_blocking(move || collect_result(&dir))
            .await
            .unwrap_or_else(|e| JobResult {
                errors: format!("reading the job's result failed: {e}\n"),
                description: None,
            });
        if result.description.is_none() {
            warn!(job = job_id, dir = %base.display(), "lava-run crashed: no description.yaml");
        }
        result
    }

    async fn remove_dirs(&self, job_id: JobId, prefix: &str) {
        if !safe_dir_name(prefix) {
            warn!(
                job = job_id,
                "prefix {prefix:?} is not a plain name: nothing removed"
            );
            return;
        }
        let name = format!("{prefix}{job_id}");
        let dirs = [self.places.tmp_dir(), self.places.download_dir.clone()]
            .map(|parent| parent.join(&name));
        let removed = tokio::task::spawn_blocking(move || {
            dirs.into_iter()
                .filter(|dir| dir.symlink_metadata().is_ok())
                .map(|dir| {
                    let outcome = if dir.is_dir() {
                        std::fs::remove_dir_all(&dir)
                    } else {
                        std::fs::remove_file(&dir)
                    };
                    (dir, outcome)
                })
                .collect::<Vec<_>>()
        })
        .await;
        match removed {
            Ok(outcomes) => {
                for (dir, outcome) in outcomes {
                    match outcome {
                        Ok(()) => debug!(job = job_id, dir = %dir.display(), "removed"),
                        Err(e) => warn!(job = job_id, dir = %dir.display(), "cannot remove: {e}"),
                    }
                }
            }
            Err(e) => warn!(job = job_id, "removing the job's directories failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_convert_with_their_age() {
        let job = StoredJob {
            row: JobRow {
                id: 4,
                pid: 0,
                status: JobStatus::Canceling,
                prefix: "p-".into(),
            },
            last_update: 1_000,
        };
        let (row, age) = machine_row(&job, 1_030);
        assert_eq!(row.status, JobStatus::Canceling);
        assert_eq!(row.dir_name(), "p-4");
        assert_eq!(age, Duration::from_secs(30));
        // A clock that went backwards gives age 0, not a panic.
        assert_eq!(machine_row(&job, 10).1, Duration::ZERO);
    }

    fn executor(dir: &Path) -> Executor {
        let table = SlaveJobTable::open(dir.join("db.sqlite3")).unwrap();
        let lava_run = LavaRunOptions {
            program: dir.join("lava-run"),
            nice: false,
            logging_url: "tcp://127.0.0.1:1".into(),
            debug: false,
            socks_proxy: None,
            ipv6: false,
            master_cert: None,
            slave_cert: None,
        };
        let places = Places {
            slave_dir: dir.to_owned(),
            download_dir: dir.join("download"),
        };
        Executor::new(table, lava_run, places)
    }

    #[test]
    fn rows_are_saved_as_lava_stamps_them() {
        let dir = tempfile::tempdir().unwrap();
        let executor = executor(dir.path());
        let mut row = JobRow {
            id: 9,
            pid: 0,
            status: JobStatus::Running,
            prefix: "p-".into(),
        };
        executor.save(&row).unwrap();
        // Pretend the row is old, to see which writes stamp it.
        executor
            .table
            .set_status(9, JobStatus::Running, 100)
            .unwrap();
        row.pid = 4321;
        executor.save(&row).unwrap();
        let stored = executor.table.get(9).unwrap().unwrap();
        assert_eq!(
            (stored.row.pid, stored.last_update),
            (4321, 100),
            "pid only"
        );
        row.status = JobStatus::Canceling;
        executor.save(&row).unwrap();
        let stored = executor.table.get(9).unwrap().unwrap();
        assert_eq!(stored.row.status, JobStatus::Canceling);
        assert!(stored.last_update > 100, "a status change is stamped");
        assert_eq!(stored.row.prefix, "p-");
        let rows = executor.stored_rows().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0, row);
    }

    #[test]
    fn prefixes_stay_inside() {
        assert!(safe_dir_name(""));
        assert!(safe_dir_name("lab-a-"));
        assert!(!safe_dir_name("../../etc/"));
        assert!(!safe_dir_name("a/b"));
    }

    #[test]
    fn results_carry_stderr_and_compressed_description() {
        let dir = tempfile::tempdir().unwrap();
        let result = collect_result(dir.path());
        assert_eq!(result.errors, "");
        assert_eq!(result.description, None);
        std::fs::write(dir.path().join("stderr"), b"oops\xff\n").unwrap();
        std::fs::write(dir.path().join("description.yaml"), "job: {}\n").unwrap();
        let result = collect_result(dir.path());
        assert_eq!(result.errors, "oops\u{fffd}\n");
        let text = xz::decompress(&result.description.unwrap(), Default::default()).unwrap();
        assert_eq!(text, b"job: {}\n");
    }
}
