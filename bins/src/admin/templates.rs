//! `lava-admin templates …`: render a device dictionary offline, without a store.
//!
//! `render` is the admin's check before a dictionary goes live; the hidden `batch` command
//! serves the conformance check and the benchmark script (one process, one long-lived
//! renderer per search path, so that thousands of renders do not pay a process start
//! each).

use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use lava_core::templates::{JobContext, Limits, Renderer};
use lava_lab::SearchPath;
use serde::{Deserialize, Serialize};

use super::AdminError;

/// `lava-admin templates` subcommands.
#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// Render a device dictionary and print the YAML device configuration.
    Render(RenderArgs),
    /// Render many dictionaries listed as JSON lines on stdin (conformance and benchmarks).
    #[command(hide = true)]
    Batch(BatchArgs),
}

/// `lava-admin templates render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// A directory of device-type templates; repeat to search several, in order.
    #[arg(long = "device-types", value_name = "DIR", required = true)]
    pub device_types: Vec<PathBuf>,
    /// A YAML mapping of job context variables (the job definition's `context:`).
    #[arg(long, value_name = "FILE")]
    pub context: Option<PathBuf>,
    /// The device dictionary (`<hostname>.jinja2`); its own directory is searched first.
    #[arg(value_name = "DICTIONARY")]
    pub dictionary: PathBuf,
}

/// `lava-admin templates batch`.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// After the first pass, render the whole set this many more times and report the
    /// timings (JSON on stderr).
    #[arg(long, default_value_t = 0)]
    pub repeat: u32,
    /// Fuel budget per render instead of the default (to measure what templates need).
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Evaluate every render (do not serve remembered outputs).
    #[arg(long)]
    pub no_memo: bool,
}

/// One line of `batch` input.
#[derive(Debug, Deserialize)]
struct BatchRequest {
    dictionary: PathBuf,
    device_types: Vec<PathBuf>,
    #[serde(default)]
    context: Option<PathBuf>,
}

/// One line of `batch` output: the rendered text or the error, in input order.
#[derive(Debug, Serialize)]
struct BatchResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    ok: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Runs a `templates` subcommand.
pub fn run(command: TemplatesCommand) -> Result<(), AdminError> {
    match command {
        TemplatesCommand::Render(args) => render(args),
        TemplatesCommand::Batch(args) => batch(args),
    }
}

fn render(args: RenderArgs) -> Result<(), AdminError> {
    let context = load_context(args.context.as_deref())?;
    let (search_path, name) = search_path_for(&args.dictionary, &args.device_types)?;
    let yaml = Renderer::new(search_path).render(&name, &context)?;
    let mut stdout = io::stdout().lock();
    let written = stdout
        .write_all(yaml.as_bytes())
        .and_then(|()| {
            if yaml.ends_with('\n') || yaml.is_empty() {
                Ok(())
            } else {
                stdout.write_all(b"\n")
            }
        })
        .and_then(|()| stdout.flush());
    written.map_err(|source| AdminError::Io {
        path: "<stdout>".to_owned(),
        source,
    })
}

/// The dictionary's own directory, then each device-types dir: what LAVA's loader searches
/// (its devices dir first), with the dictionary looked up by file name.
fn search_path_for(
    dictionary: &Path,
    device_types: &[PathBuf],
) -> Result<(SearchPath, String), AdminError> {
    let name = dictionary
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or_else(|| {
            AdminError::Input(format!(
                "{}: not a dictionary file name",
                dictionary.display()
            ))
        })?
        .to_owned();
    if !dictionary.is_file() {
        return Err(AdminError::Io {
            path: dictionary.display().to_string(),
            source: io::Error::new(io::ErrorKind::NotFound, "no such dictionary file"),
        });
    }
    let own_dir = match dictionary.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dirs = std::iter::once(own_dir).chain(device_types.iter().cloned());
    Ok((SearchPath::new(dirs), name))
}

fn load_context(path: Option<&Path>) -> Result<JobContext, AdminError> {
    let Some(path) = path else {
        return Ok(JobContext::empty());
    };
    let text = std::fs::read_to_string(path).map_err(|source| AdminError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(JobContext::from_yaml(&text, &path.display().to_string())?)
}

fn batch(args: BatchArgs) -> Result<(), AdminError> {
    let stdin = io::stdin().lock();
    let mut jobs = Vec::new();
    for (index, line) in stdin.lines().enumerate() {
        let line = line.map_err(|source| AdminError::Io {
            path: "<stdin>".to_owned(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let request: BatchRequest = serde_json::from_str(&line)
            .map_err(|err| AdminError::Input(format!("<stdin>:{}: {err}", index + 1)))?;
        jobs.push(request);
    }
    let limits = Limits {
        fuel: args.fuel.unwrap_or(Limits::default().fuel),
        ..Limits::default()
    };
    // Cold: renderers created as needed, contexts read, every template loaded and
    // compiled on first use.
    let cold_start = Instant::now();
    let mut renderers: Vec<Renderer> = Vec::new();
    let mut renderer_index: HashMap<Vec<PathBuf>, usize> = HashMap::new();
    let remember_outputs = !args.no_memo;
    let mut prepared = Vec::with_capacity(jobs.len());
    let mut results = Vec::with_capacity(jobs.len());
    for job in &jobs {
        let job = prepare(
            &mut renderers,
            &mut renderer_index,
            job,
            limits,
            remember_outputs,
        );
        results.push(match &job {
            Ok((index, name, context)) => renderers[*index]
                .render(name, context)
                .map_err(AdminError::from),
            Err(err) => Err(AdminError::Input(err.to_string())),
        });
        prepared.push(job);
    }
    let cold = cold_start.elapsed();

    let mut stdout = io::BufWriter::new(io::stdout().lock());
    for result in &results {
        let line = match result {
            Ok(yaml) => BatchResult {
                ok: Some(yaml.clone()),
                error: None,
            },
            Err(err) => BatchResult {
                ok: None,
                error: Some(err.to_string()),
            },
        };
        let json =
            serde_json::to_string(&line).map_err(|err| AdminError::Input(err.to_string()))?;
        writeln!(stdout, "{json}").map_err(|source| AdminError::Io {
            path: "<stdout>".to_owned(),
            source,
        })?;
    }
    stdout.flush().map_err(|source| AdminError::Io {
        path: "<stdout>".to_owned(),
        source,
    })?;

    if args.repeat > 0 && !jobs.is_empty() {
        // Warm: the same renders again, contexts already read.
        let warm_start = Instant::now();
        for _ in 0..args.repeat {
            for (index, name, context) in prepared.iter().flatten() {
                // Results were reported above; only the time matters here.
                let _ = renderers[*index].render(name, context);
            }
        }
        let warm = warm_start.elapsed();
        let renders = u128::from(args.repeat) * jobs.len() as u128;
        eprintln!(
            "{{\"dictionaries\": {}, \"cold_total_us\": {}, \"cold_per_dict_us\": {:.1}, \"warm_per_dict_us\": {:.2}}}",
            jobs.len(),
            cold.as_micros(),
            per(cold, jobs.len() as u128),
            per(warm, renders),
        );
    }
    Ok(())
}

fn per(total: Duration, count: u128) -> f64 {
    total.as_secs_f64() * 1e6 / count.max(1) as f64
}

/// The renderer (by search path), dictionary name and context of one batch request.
fn prepare(
    renderers: &mut Vec<Renderer>,
    renderer_index: &mut HashMap<Vec<PathBuf>, usize>,
    job: &BatchRequest,
    limits: Limits,
    remember_outputs: bool,
) -> Result<(usize, String, JobContext), AdminError> {
    let context = load_context(job.context.as_deref())?;
    let (search_path, name) = search_path_for(&job.dictionary, &job.device_types)?;
    let index = *renderer_index
        .entry(search_path.dirs().to_vec())
        .or_insert_with(|| {
            let mut renderer = Renderer::with_limits(search_path, limits);
            renderer.set_remember_outputs(remember_outputs);
            renderers.push(renderer);
            renderers.len() - 1
        });
    Ok((index, name, context))
}
