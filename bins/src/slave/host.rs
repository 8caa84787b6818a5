//! The slave's identity and its logging set-up.

use std::fs::OpenOptions;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use tracing::level_filters::LevelFilter;

/// This host's fully qualified name, as LAVA's default `--hostname` (`socket.getfqdn()`):
/// `hostname -f` when it answers, else the kernel's host name.
pub fn default_hostname() -> Option<String> {
    let from_command = Command::new("hostname")
        .arg("-f")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok());
    let from_kernel = || {
        ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .find_map(|path| std::fs::read_to_string(path).ok())
    };
    from_command
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| from_kernel().map(|name| name.trim().to_owned()))
        .filter(|name| !name.is_empty())
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// `--level` is not one of LAVA's names.
    #[error("invalid log level {0:?}: use DEBUG, INFO, WARN or ERROR")]
    Level(String),
    /// The log file cannot be opened for appending.
    #[error("cannot open the log file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// LAVA's level names (`--level`), case-insensitive; `WARNING` is accepted as Python's name.
pub fn parse_level(text: &str) -> Result<LevelFilter, LoggingError> {
    match text.to_ascii_uppercase().as_str() {
        "DEBUG" => Ok(LevelFilter::DEBUG),
        "INFO" => Ok(LevelFilter::INFO),
        "WARN" | "WARNING" => Ok(LevelFilter::WARN),
        "ERROR" => Ok(LevelFilter::ERROR),
        _ => Err(LoggingError::Level(text.to_owned())),
    }
}

/// Sends tracing output to `log_file` (`-` for stdout, else appended to) at `level`.
pub fn init_logging(log_file: &str, level: &str) -> Result<(), LoggingError> {
    let level = parse_level(level)?;
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false);
    if log_file == "-" {
        // Colour only for a person at a terminal; a file or a pipe gets plain lines.
        let colour = std::io::stdout().is_terminal();
        builder
            .with_ansi(colour)
            .with_writer(std::io::stdout)
            .init();
    } else {
        let path = PathBuf::from(log_file);
        // A fresh machine may lack /var/log/lava-dispatcher: create it as the package would.
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| LoggingError::File {
                path: path.clone(),
                source,
            })?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| LoggingError::File { path, source })?;
        builder
            .with_ansi(false)
            .with_writer(Mutex::new(file))
            .init();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_lavas() {
        assert_eq!(parse_level("DEBUG").unwrap(), LevelFilter::DEBUG);
        assert_eq!(parse_level("warn").unwrap(), LevelFilter::WARN);
        assert_eq!(parse_level("WARNING").unwrap(), LevelFilter::WARN);
        assert!(parse_level("LOUD").is_err());
    }

    #[test]
    fn this_host_has_a_name() {
        let name = default_hostname().unwrap();
        assert!(!name.is_empty() && !name.contains('\n'), "{name:?}");
    }
}
