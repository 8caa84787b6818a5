//! The per-worker files: what START carries (`dispatcher.yaml`, `env.yaml`, `env-dut.yaml`),
//! looked up as LAVA 2020.05's lava-master does, and the files an admin edits through the API
//! (dispatcher configuration, environment, public ZMQ certificate).
//!
//! `dispatcher.d` holds one directory per worker (LAVA: `/etc/lava-server/dispatcher.d`); the
//! lab-wide fallbacks `env.yaml` and `env.dut.yaml` live in its parent (LAVA:
//! `/etc/lava-server`). Unlike LAVA 2020.05, a text that is not YAML, or (for dispatcher and
//! env) not a mapping, is an error naming the file rather than something sent to a worker
//! that would crash on it (protocol.md §9 #31); the same check refuses such a text before it
//! is written.

use crate::error::{LabError, Result};
use crate::files::{read_optional, write_atomically};
use crate::lab::Lab;
use std::path::{Path, PathBuf};

/// The three texts START carries for one worker, each possibly empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerFiles {
    /// The dispatcher configuration.
    pub dispatcher: String,
    /// lava-run's environment description.
    pub env: String,
    /// The environment exported to the device under test.
    pub env_dut: String,
}

/// The files an admin keeps per worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkerFile {
    /// `dispatcher.d/<worker>/dispatcher.yaml`: the dispatcher configuration.
    Config,
    /// `dispatcher.d/<worker>/env.yaml`: the environment of lava-run.
    Env,
    /// `<slaves-certs>/<worker>.key`: the worker's public ZMQ certificate.
    Certificate,
}

impl WorkerFile {
    /// What the file is, for messages.
    fn what(self) -> &'static str {
        match self {
            WorkerFile::Config => "dispatcher configuration",
            WorkerFile::Env => "environment",
            WorkerFile::Certificate => "certificate",
        }
    }
}

impl Lab {
    /// What START carries for `worker`: each file from the first place that has it.
    pub fn worker_files(&self, worker: &str) -> Result<WorkerFiles> {
        let d = &self.paths().dispatcher_d;
        let own = d.join(worker);
        let lab = self.paths().lab_env_dir();
        let dispatcher = first_of(
            &[
                own.join("dispatcher.yaml"),
                d.join(format!("{worker}.yaml")),
            ],
            true,
        )?;
        let env = first_of(&[own.join("env.yaml"), lab.join("env.yaml")], true)?;
        let env_dut = first_of(
            &[
                own.join("env-dut.yaml"),
                own.join("env.dut.yaml"),
                lab.join("env.dut.yaml"),
            ],
            false,
        )?;
        Ok(WorkerFiles {
            dispatcher,
            env,
            env_dut,
        })
    }

    /// One of a worker's files as an admin sees it, if it exists.
    pub async fn worker_file(&self, worker: &str, file: WorkerFile) -> Result<Option<String>> {
        self.worker(worker).await?;
        for path in self.worker_file_candidates(worker, file) {
            if let Some(text) = read_optional(&path)? {
                return Ok(Some(text));
            }
        }
        Ok(None)
    }

    /// Replaces one of a worker's files; a dispatcher configuration or environment that is
    /// not a YAML mapping is refused before anything is written.
    pub async fn set_worker_file(&self, worker: &str, file: WorkerFile, text: &str) -> Result<()> {
        self.worker(worker).await?;
        if file != WorkerFile::Certificate && !text.trim().is_empty() {
            check_mapping(text).map_err(|why| {
                LabError::Invalid(format!(
                    "invalid {} for worker '{worker}': {why}",
                    file.what()
                ))
            })?;
        }
        let path = self.worker_file_path(worker, file);
        write_atomically(&path, text).map_err(|e| LabError::io(&path, e))?;
        tracing::info!(worker, file = file.what(), "worker file replaced");
        Ok(())
    }

    /// The file written for `file` of `worker`.
    fn worker_file_path(&self, worker: &str, file: WorkerFile) -> PathBuf {
        let paths = self.paths();
        match file {
            WorkerFile::Config => paths.dispatcher_d.join(worker).join("dispatcher.yaml"),
            WorkerFile::Env => paths.dispatcher_d.join(worker).join("env.yaml"),
            WorkerFile::Certificate => paths.slaves_certs.join(format!("{worker}.key")),
        }
    }

    /// The files read for `file` of `worker`, first match wins: LAVA 2020.05 also reads a
    /// dispatcher configuration from the older `dispatcher.d/<worker>.yaml`.
    fn worker_file_candidates(&self, worker: &str, file: WorkerFile) -> Vec<PathBuf> {
        let mut candidates = vec![self.worker_file_path(worker, file)];
        if file == WorkerFile::Config {
            candidates.push(self.paths().dispatcher_d.join(format!("{worker}.yaml")));
        }
        candidates
    }
}

/// The text of the first candidate that exists, checked; empty if none does.
fn first_of(candidates: &[PathBuf], must_be_mapping: bool) -> Result<String> {
    for path in candidates {
        let Some(text) = read_optional(path)? else {
            continue;
        };
        check(path, &text, must_be_mapping)?;
        return Ok(text);
    }
    Ok(String::new())
}

fn check(path: &Path, text: &str, must_be_mapping: bool) -> Result<()> {
    let outcome = if must_be_mapping {
        check_mapping(text)
    } else {
        serde_saphyr::from_str::<serde_json::Value>(text)
            .map(|_| ())
            .map_err(|e| format!("not valid YAML: {e}"))
    };
    outcome.map_err(|why| LabError::Invalid(format!("{}: {why}", path.display())))
}

/// Whether `text` is a YAML mapping (or empty), which lava-run needs.
fn check_mapping(text: &str) -> std::result::Result<(), String> {
    match serde_saphyr::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(_) | serde_json::Value::Null) => Ok(()),
        Ok(_) => Err("must be a YAML mapping".to_owned()),
        Err(e) => Err(format!("not valid YAML: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::lab;
    use std::fs;

    #[tokio::test]
    async fn per_worker_files_win_over_lab_wide_ones() {
        let (_tmp, lab) = lab().await;
        let d = lab.paths().dispatcher_d.clone();
        let top = lab.paths().lab_env_dir();
        fs::create_dir_all(d.join("w1")).unwrap();
        fs::write(top.join("env.yaml"), "overrides: {A: lab}\n").unwrap();
        fs::write(top.join("env.dut.yaml"), "X: 1\n").unwrap();
        fs::write(d.join("w1/env.yaml"), "overrides: {A: w1}\n").unwrap();
        fs::write(d.join("w1/env-dut.yaml"), "Y: 2\n").unwrap();
        fs::write(d.join("w2.yaml"), "prefix: p2-\n").unwrap();
        let w1 = lab.worker_files("w1").unwrap();
        assert_eq!(w1.env, "overrides: {A: w1}\n");
        assert_eq!(w1.env_dut, "Y: 2\n");
        assert_eq!(w1.dispatcher, "");
        let w2 = lab.worker_files("w2").unwrap();
        assert_eq!(w2.dispatcher, "prefix: p2-\n");
        assert_eq!(w2.env, "overrides: {A: lab}\n");
        assert_eq!(w2.env_dut, "X: 1\n");
    }

    #[tokio::test]
    async fn a_list_env_is_refused_with_the_file_name() {
        let (_tmp, lab) = lab().await;
        let d = lab.paths().dispatcher_d.clone();
        fs::create_dir_all(d.join("w")).unwrap();
        fs::write(d.join("w/env.yaml"), "- not\n- a mapping\n").unwrap();
        let err = lab.worker_files("w").unwrap_err().to_string();
        assert!(
            err.contains("w/env.yaml") && err.contains("mapping"),
            "{err}"
        );
        fs::write(d.join("w/env.yaml"), "a: [\n").unwrap();
        let err = lab.worker_files("w").unwrap_err().to_string();
        assert!(err.contains("not valid YAML"), "{err}");
    }

    #[tokio::test]
    async fn admins_cannot_write_what_the_master_would_refuse_to_send() {
        let (_tmp, lab) = lab().await;
        lab.add_worker(&crate::NewWorker::named("w")).await.unwrap();
        let err = lab
            .set_worker_file("w", WorkerFile::Env, "- a\n")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("worker 'w'"), "{err}");
        lab.set_worker_file("w", WorkerFile::Config, "prefix: x-\n")
            .await
            .unwrap();
        assert_eq!(
            lab.worker_file("w", WorkerFile::Config)
                .await
                .unwrap()
                .as_deref(),
            Some("prefix: x-\n")
        );
        // A certificate is not YAML.
        lab.set_worker_file("w", WorkerFile::Certificate, "- [\n")
            .await
            .unwrap();
        assert!(matches!(
            lab.worker_file("nobody", WorkerFile::Env).await,
            Err(LabError::NotFound(_))
        ));
    }
}
