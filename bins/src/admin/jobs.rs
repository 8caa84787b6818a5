//! `lava-admin jobs …`: submit, list, show, cancel, logs and wait; and `users`/`tokens`.

use crate::admin::lab::{admin_user, block_on, print_json, read_file, LabArgs};
use crate::admin::AdminError;
use clap::{Args, Subcommand};
use lava_core::model::{Job, JobHealth, JobState};
use lava_lab::{Canceled, JobQuery};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// `lava-admin jobs`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    #[command(subcommand)]
    command: JobsCommand,
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// Check job definitions offline, as a submission would (LAVA 2020.05's verdict):
    /// prints `FILE: valid` and what LAVA's dispatcher would refuse later as warnings, or
    /// the refusal; exit 1 if any file is refused.
    Validate {
        /// YAML job definitions.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Submit job definitions; prints the new job id(s), one per line.
    Submit {
        /// YAML job definitions.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Who submits (recorded on the job).
        #[arg(long, default_value = "lava-admin")]
        submitter: String,
    },
    /// List jobs, newest first.
    List {
        /// Only jobs in this state (Submitted, Scheduling, Scheduled, Running, Canceling, Finished).
        #[arg(long)]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Show a job.
    Show {
        /// The job id.
        id: i64,
    },
    /// Why a job is still waiting, in plain words: the scheduler's reason (the device
    /// type, tags, device health, workers or multinode roles it waits for).
    Why {
        /// The job id.
        id: i64,
    },
    /// Cancel a job (every sub-job of a multinode group).
    Cancel {
        /// The job id.
        id: i64,
    },
    /// Print a job's log (output.yaml lines).
    Logs {
        /// The job id.
        id: i64,
        /// Start at this line (0 is the first).
        #[arg(long, default_value_t = 0)]
        start: u64,
    },
    /// Wait until a job is Finished: exit 0 if Complete, 1 if it finished otherwise, 2 on timeout.
    Wait {
        /// The job id.
        id: i64,
        /// Give up after this many seconds.
        #[arg(long)]
        timeout: Option<f64>,
    },
}

/// A job as `--json` prints it, with LAVA's names for state and health.
pub fn job_json(job: &Job) -> serde_json::Value {
    json!({
        "id": job.id,
        "submitter": job.submitter,
        "state": job.state.name(),
        "health": job.health.name(),
        "priority": job.priority.value(),
        "requested_device_type": job.requested_device_type,
        "actual_device": job.actual_device,
        "tags": job.tags,
        "health_check": job.health_check,
        "multinode_group": job.multinode.as_ref().map(|m| m.group.clone()),
        "multinode_role": job.multinode.as_ref().map(|m| m.role.clone()),
        "submit_time": job.submit_time.to_string(),
        "start_time": job.start_time.map(|t| t.to_string()),
        "end_time": job.end_time.map(|t| t.to_string()),
        "failure_comment": job.failure_comment,
        "is_public": job.is_public,
    })
}

/// Runs `lava-admin jobs …`; the exit code matters for `wait`.
pub fn run(args: JobsArgs, lab_args: LabArgs) -> Result<ExitCode, AdminError> {
    if let JobsCommand::Validate { files } = &args.command {
        return validate(files);
    }
    block_on(async move {
        let lab = lab_args.open().await?;
        match args.command {
            JobsCommand::Validate { .. } => {}
            JobsCommand::Submit { files, submitter } => {
                for file in files {
                    let text = read_file(&file)?;
                    let submitted = lab
                        .submit(&text, &submitter)
                        .await
                        .map_err(|e| AdminError::Input(format!("{}: {e}", file.display())))?;
                    for id in submitted.ids {
                        println!("{id}");
                    }
                }
            }
            JobsCommand::List { state, limit } => {
                let state = match state {
                    Some(s) => Some(
                        JobState::from_name(&s)
                            .ok_or_else(|| AdminError::Input(format!("invalid job state {s:?}")))?,
                    ),
                    None => None,
                };
                let query = JobQuery {
                    state,
                    limit: Some(usize::try_from(limit).unwrap_or(usize::MAX)),
                    viewer: Some(admin_user()),
                    ..JobQuery::default()
                };
                let jobs = lab.jobs(&query).await?;
                if lab_args.json {
                    print_json(&json!(jobs.iter().map(job_json).collect::<Vec<_>>()));
                } else {
                    for j in jobs {
                        println!(
                            "{:>8} {:<10} {:<10} {:<20} {}",
                            j.id,
                            j.state,
                            j.health,
                            j.requested_device_type.as_deref().unwrap_or("-"),
                            j.actual_device.as_deref().unwrap_or("-")
                        );
                    }
                }
            }
            JobsCommand::Show { id } => {
                let j = lab.job(id).await?;
                if lab_args.json {
                    print_json(&job_json(&j));
                } else {
                    println!("id          : {}", j.id);
                    println!("state       : {}", j.state);
                    println!("health      : {}", j.health);
                    println!("submitter   : {}", j.submitter);
                    println!(
                        "device type : {}",
                        j.requested_device_type.as_deref().unwrap_or("-")
                    );
                    println!(
                        "device      : {}",
                        j.actual_device.as_deref().unwrap_or("-")
                    );
                    println!("priority    : {}", j.priority);
                    println!("submitted   : {}", j.submit_time);
                    println!(
                        "started     : {}",
                        j.start_time.map(|t| t.to_string()).unwrap_or_default()
                    );
                    println!(
                        "ended       : {}",
                        j.end_time.map(|t| t.to_string()).unwrap_or_default()
                    );
                    if let Some(comment) = &j.failure_comment {
                        println!("failure     : {comment}");
                    }
                }
            }
            JobsCommand::Why { id } => {
                let why = lab.why(id, Some(&admin_user())).await?;
                if lab_args.json {
                    print_json(
                        &json!({"id": id, "reason": why.kind(), "message": why.to_string()}),
                    );
                } else {
                    println!("job {id}: {why}");
                }
            }
            JobsCommand::Cancel { id } => match lab.cancel(id, &admin_user()).await? {
                Canceled::Now => println!("job {id} canceled"),
                Canceled::Already => println!("job {id} is being canceled already"),
                Canceled::Finished => {
                    return Err(AdminError::Input(format!(
                        "job {id} has finished: there is nothing to cancel"
                    )))
                }
            },
            JobsCommand::Logs { id, start } => {
                let j = lab.job(id).await?;
                let recorded = lab
                    .store()
                    .job_log(id)
                    .await
                    .map_err(lava_lab::LabError::from)?;
                if recorded.is_none() && lab.paths().job_output.as_os_str().is_empty() {
                    return Err(AdminError::Input(format!(
                        "job {id}: its log is not recorded yet; give --data-dir to read it while it runs"
                    )));
                }
                for line in lab.job_log(&j, start, u64::MAX).await? {
                    println!("- {line}");
                }
            }
            JobsCommand::Wait { id, timeout } => {
                let deadline =
                    timeout.map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
                loop {
                    let j = lab.job(id).await?;
                    if j.state == JobState::Finished {
                        println!("job {id}: {}", j.health);
                        return Ok(if j.health == JobHealth::Complete {
                            ExitCode::SUCCESS
                        } else {
                            ExitCode::from(1)
                        });
                    }
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        eprintln!("job {id}: still {} after the timeout", j.state);
                        return Ok(ExitCode::from(2));
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `jobs validate`: needs no lab, only the definitions.
fn validate(files: &[PathBuf]) -> Result<ExitCode, AdminError> {
    let mut refused = false;
    for file in files {
        let text = read_file(file)?;
        match lava_core::job::validate(&text) {
            Ok(validated) => {
                println!("{}: valid", file.display());
                for warning in &validated.warnings {
                    println!("{}: warning: {warning}", file.display());
                }
            }
            Err(e) => {
                refused = true;
                eprintln!("{}: {e}", file.display());
            }
        }
    }
    Ok(if refused {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `lava-admin users`.
#[derive(Debug, Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    command: UsersCommand,
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Add a user.
    Add {
        /// The user name.
        name: String,
        /// Make the user an admin.
        #[arg(long)]
        admin: bool,
        /// E-mail address.
        #[arg(long, default_value = "")]
        email: String,
    },
    /// List users.
    List,
}

/// Runs `lava-admin users …`.
pub fn run_users(args: UsersArgs, lab_args: LabArgs) -> Result<(), AdminError> {
    block_on(async move {
        let lab = lab_args.open().await?;
        match args.command {
            UsersCommand::Add { name, admin, email } => {
                lab.add_user(&name, admin, &email).await?;
                println!("user {name} added{}", if admin { " (admin)" } else { "" });
            }
            UsersCommand::List => {
                for u in lab.users().await? {
                    println!(
                        "{:<30} {}",
                        u.username,
                        if u.is_admin { "admin" } else { "" }
                    );
                }
            }
        }
        Ok(())
    })
}

#[derive(Debug, Args)]
pub struct TokensArgs {
    #[command(subcommand)]
    command: TokensCommand,
}

#[derive(Debug, Subcommand)]
enum TokensCommand {
    /// Create a token for a user; the token is printed alone on the last line.
    Add {
        /// The user.
        name: String,
        /// What the token is for.
        #[arg(long, default_value = "")]
        description: String,
    },
}

/// Runs `lava-admin tokens …`.
pub fn run_tokens(args: TokensArgs, lab_args: LabArgs) -> Result<(), AdminError> {
    block_on(async move {
        let lab = lab_args.open().await?;
        match args.command {
            TokensCommand::Add { name, description } => {
                let secret = lab.add_token(&name, &description).await?;
                println!("token for {name}:");
                println!("{secret}");
            }
        }
        Ok(())
    })
}
