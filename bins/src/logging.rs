//! Structured logs (tracing) for the daemons, with LAVA's `--level` and `--log-file` options.

use std::fs::OpenOptions;
use std::io::IsTerminal;
use std::sync::Mutex;
use tracing_subscriber::EnvFilter;

/// Starts logging at `level` (DEBUG, INFO, WARN/WARNING, ERROR; any case) to `file`, where
/// `-` means standard error. `RUST_LOG`, when set, overrides the level.
pub fn init(level: &str, file: &str) -> Result<(), String> {
    let level = match level.to_ascii_uppercase().as_str() {
        "DEBUG" => "debug",
        "INFO" => "info",
        "WARN" | "WARNING" => "warn",
        "ERROR" => "error",
        other => {
            return Err(format!(
                "invalid log level {other:?}: use DEBUG, INFO, WARN or ERROR"
            ))
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if file == "-" {
        // Colour only for a person at a terminal; a file or a pipe gets plain lines, as
        // LAVA writes them.
        let colour = std::io::stderr().is_terminal();
        builder
            .with_ansi(colour)
            .with_writer(std::io::stderr)
            .init();
    } else {
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
            .map_err(|e| format!("cannot open log file {file}: {e}"))?;
        builder.with_ansi(false).with_writer(Mutex::new(out)).init();
    }
    Ok(())
}
