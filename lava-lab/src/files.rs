//! Reading and writing the lab's small text files (dictionaries, templates, worker files).
//!
//! Every write goes through a temporary file in the same directory, synced, then renamed over
//! the old one: a reader (the master, between two renders) sees the old text or the new one,
//! never a mix, and a write that fails leaves the old file in place.

use crate::error::{LabError, Result};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// The text of a file, `None` if it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|e| {
            LabError::Invalid(format!(
                "{} is not UTF-8 (invalid byte at offset {})",
                path.display(),
                e.utf8_error().valid_up_to()
            ))
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LabError::io(path, e)),
    }
}

/// Writes `text` to `path` (creating its directory) through a temporary file and a rename.
pub fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no parent directory"))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    std::fs::create_dir_all(dir)?;
    // A dot file with a .tmp suffix: never a name the template loader or the master asks for.
    let temp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    ));
    let written = std::fs::write(&temp, text)
        .and_then(|()| std::fs::File::open(&temp).and_then(|f| f.sync_all()))
        .and_then(|()| std::fs::rename(&temp, path));
    if let Err(e) = written {
        // The temporary file is ours; if it cannot be removed either, say so with the
        // error that matters (the write's).
        if let Err(cleanup) = std::fs::remove_file(&temp) {
            if cleanup.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %temp.display(), "cannot remove a temporary file: {cleanup}");
            }
        }
        return Err(e);
    }
    Ok(())
}

/// Removes a file; one that is not there is fine.
pub fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LabError::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("a.jinja2");
        write_atomically(&path, "one").unwrap();
        write_atomically(&path, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.jinja2")]);
        assert_eq!(read_optional(&path).unwrap().as_deref(), Some("two"));
        assert_eq!(read_optional(&dir.path().join("none")).unwrap(), None);
        remove_if_present(&path).unwrap();
        remove_if_present(&path).unwrap();
    }
}
