//! The per-worker files that START carries: `dispatcher.yaml`, `env.yaml` and `env-dut.yaml`,
//! looked up as LAVA 2020.05's lava-master does (`/etc/lava-server/dispatcher.d` layout).
//!
//! `dispatcher_d` is the per-worker directory (LAVA: `/etc/lava-server/dispatcher.d`); the
//! lab-wide fallbacks `env.yaml` and `env.dut.yaml` live in its parent (LAVA:
//! `/etc/lava-server`). Unlike LAVA 2020.05, a text that is not YAML, or (for dispatcher and
//! env) not a mapping, is an error naming the file rather than something sent to a slave that
//! would crash on it (protocol.md §9 #31).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The three texts for one worker, each possibly empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerFiles {
    /// The dispatcher configuration.
    pub dispatcher: String,
    /// lava-run's environment description.
    pub env: String,
    /// The environment exported to the device under test.
    pub env_dut: String,
}

/// A worker file that exists but cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WorkerFileError {
    /// The file is not valid YAML.
    #[error("{path}: not valid YAML: {reason}")]
    NotYaml {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// The file is YAML but not a mapping, which lava-run needs.
    #[error("{path}: must be a YAML mapping")]
    NotMapping {
        /// The file.
        path: PathBuf,
    },
    /// The file exists but cannot be read.
    #[error("{path}: cannot read: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// Reads the files for `worker`.
pub fn load(dispatcher_d: &Path, worker: &str) -> Result<WorkerFiles, WorkerFileError> {
    let own = dispatcher_d.join(worker);
    let lab = dispatcher_d.parent().unwrap_or(dispatcher_d);
    let dispatcher = first_of(
        &[
            own.join("dispatcher.yaml"),
            dispatcher_d.join(format!("{worker}.yaml")),
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

/// The text of the first candidate that exists, checked; empty if none does.
fn first_of(candidates: &[PathBuf], must_be_mapping: bool) -> Result<String, WorkerFileError> {
    for path in candidates {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(WorkerFileError::Unreadable {
                    path: path.clone(),
                    source,
                })
            }
        };
        check(path, &text, must_be_mapping)?;
        return Ok(text);
    }
    Ok(String::new())
}

fn check(path: &Path, text: &str, must_be_mapping: bool) -> Result<(), WorkerFileError> {
    let value: serde_json::Value = match serde_saphyr::from_str(text) {
        Ok(value) => value,
        Err(e) => {
            return Err(WorkerFileError::NotYaml {
                path: path.to_owned(),
                reason: e.to_string(),
            })
        }
    };
    if must_be_mapping
        && !matches!(
            value,
            serde_json::Value::Object(_) | serde_json::Value::Null
        )
    {
        return Err(WorkerFileError::NotMapping {
            path: path.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_worker_files_win_over_lab_wide_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("dispatcher.d");
        fs::create_dir_all(d.join("w1")).unwrap();
        fs::write(tmp.path().join("env.yaml"), "overrides: {A: lab}\n").unwrap();
        fs::write(tmp.path().join("env.dut.yaml"), "X: 1\n").unwrap();
        fs::write(d.join("w1/env.yaml"), "overrides: {A: w1}\n").unwrap();
        fs::write(d.join("w1/env-dut.yaml"), "Y: 2\n").unwrap();
        fs::write(d.join("w2.yaml"), "prefix: p2-\n").unwrap();
        let w1 = load(&d, "w1").unwrap();
        assert_eq!(w1.env, "overrides: {A: w1}\n");
        assert_eq!(w1.env_dut, "Y: 2\n");
        assert_eq!(w1.dispatcher, "");
        let w2 = load(&d, "w2").unwrap();
        assert_eq!(w2.dispatcher, "prefix: p2-\n");
        assert_eq!(w2.env, "overrides: {A: lab}\n");
        assert_eq!(w2.env_dut, "X: 1\n");
        let none = load(&tmp.path().join("nowhere/dispatcher.d"), "w").unwrap();
        assert_eq!(none, WorkerFiles::default());
    }

    #[test]
    fn a_list_env_is_refused_with_the_file_name() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("dispatcher.d");
        fs::create_dir_all(d.join("w")).unwrap();
        fs::write(d.join("w/env.yaml"), "- not\n- a mapping\n").unwrap();
        let err = load(&d, "w").unwrap_err();
        assert!(err.to_string().contains("w/env.yaml"), "{err}");
        assert!(err.to_string().contains("mapping"), "{err}");
        fs::write(d.join("w/env.yaml"), "a: [\n").unwrap();
        assert!(matches!(
            load(&d, "w").unwrap_err(),
            WorkerFileError::NotYaml { .. }
        ));
    }
}
