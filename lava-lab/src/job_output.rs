//! A job's output directory, laid out as LAVA's lava-logs does: `output.yaml` holds one
//! `- <line>` per log record and `output.idx` the byte offset of each line (8 bytes,
//! native-endian u64), so that line N can be found without reading the file.

use lava_core::time::civil_from_days;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// `<root>/job-output/<YYYY>/<MM>/<DD>/<job_id>`, dated by the job's submit time (LAVA's
/// layout under `MEDIA_ROOT`).
pub fn job_output_dir(root: &Path, job_id: i64, submit_time_secs: i64) -> PathBuf {
    let (y, m, d) = civil_from_days(submit_time_secs.div_euclid(86_400));
    root.join("job-output")
        .join(format!("{y:04}"))
        .join(format!("{m:02}"))
        .join(format!("{d:02}"))
        .join(job_id.to_string())
}

/// The open `output.yaml` + `output.idx` of one job.
#[derive(Debug)]
pub struct JobLog {
    yaml: File,
    idx: File,
    offset: u64,
    lines: u64,
}

impl JobLog {
    /// Opens (creating the directory and files as needed) the log of the job in `dir`.
    ///
    /// A torn last write (index shorter or longer than the lines, after a crash) is repaired:
    /// the index is cut back to whole entries and the YAML to the end of the last indexed line.
    pub fn open(dir: &Path) -> io::Result<JobLog> {
        fs::create_dir_all(dir)?;
        let mut yaml = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(dir.join("output.yaml"))?;
        let mut idx = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(dir.join("output.idx"))?;
        let mut lines = idx.metadata()?.len() / 8;
        idx.set_len(lines * 8)?;
        let mut yaml_len = yaml.metadata()?.len();
        // The index entry is written before its line: after a crash the last entry may
        // point at a line that is missing or torn. Drop such entries and torn bytes.
        while lines > 0 {
            idx.seek(SeekFrom::Start((lines - 1) * 8))?;
            let mut entry = [0u8; 8];
            idx.read_exact(&mut entry)?;
            let start = u64::from_ne_bytes(entry);
            if start < yaml_len {
                yaml.seek(SeekFrom::Start(yaml_len - 1))?;
                let mut last = [0u8; 1];
                yaml.read_exact(&mut last)?;
                if last[0] == b'\n' {
                    break;
                }
            }
            yaml_len = yaml_len.min(start);
            yaml.set_len(yaml_len)?;
            lines -= 1;
            idx.set_len(lines * 8)?;
        }
        if lines == 0 {
            yaml_len = 0;
            yaml.set_len(0)?;
        }
        let offset = yaml_len;
        Ok(JobLog {
            yaml,
            idx,
            offset,
            lines,
        })
    }

    /// Appends one record's line (as received, without the leading `- `).
    pub fn append(&mut self, line: &str) -> io::Result<()> {
        self.idx.write_all(&self.offset.to_ne_bytes())?;
        self.idx.flush()?;
        let mut record = Vec::with_capacity(line.len() + 3);
        record.extend_from_slice(b"- ");
        record.extend_from_slice(line.as_bytes());
        record.push(b'\n');
        self.yaml.write_all(&record)?;
        self.yaml.flush()?;
        self.offset += record.len() as u64;
        self.lines += 1;
        Ok(())
    }

    /// Appends several records' lines with one write to each file (the index first, as
    /// [`JobLog::append`]). After an error the log must be opened again, which repairs a
    /// torn write and tells how many of the lines are there.
    pub fn append_all(&mut self, lines: &[&str]) -> io::Result<()> {
        let mut index = Vec::with_capacity(lines.len() * 8);
        let mut records = Vec::with_capacity(lines.iter().map(|l| l.len() + 3).sum());
        let mut offset = self.offset;
        for line in lines {
            index.extend_from_slice(&offset.to_ne_bytes());
            let before = records.len();
            records.extend_from_slice(b"- ");
            records.extend_from_slice(line.as_bytes());
            records.push(b'\n');
            offset += (records.len() - before) as u64;
        }
        self.idx.write_all(&index)?;
        self.yaml.write_all(&records)?;
        self.offset = offset;
        self.lines += lines.len() as u64;
        Ok(())
    }

    /// How many lines the log holds.
    pub fn lines(&self) -> u64 {
        self.lines
    }
}

/// Calls `each(n, line)` for the lines `start..` of a job's log, in order, reading from the
/// `n`th line's offset on (the whole log is never held in memory). A log that does not
/// exist has no lines.
pub fn for_each_line_from(
    dir: &Path,
    start: u64,
    mut each: impl FnMut(u64, &str),
) -> io::Result<()> {
    use std::io::BufRead;
    let mut idx = match File::open(dir.join("output.idx")) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let lines = idx.metadata()?.len() / 8;
    if start >= lines {
        return Ok(());
    }
    idx.seek(SeekFrom::Start(start * 8))?;
    let mut entry = [0u8; 8];
    idx.read_exact(&mut entry)?;
    let mut yaml = File::open(dir.join("output.yaml"))?;
    yaml.seek(SeekFrom::Start(u64::from_ne_bytes(entry)))?;
    let mut reader = io::BufReader::new(yaml);
    let mut buffer = Vec::new();
    for n in start..lines {
        buffer.clear();
        if reader.read_until(b'\n', &mut buffer)? == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&buffer);
        each(n, text.trim_end_matches('\n').trim_start_matches("- "));
    }
    Ok(())
}

/// Reads lines `start..` (at most `count`) of a job's log, using the index.
pub fn read_lines(dir: &Path, start: u64, count: u64) -> io::Result<Vec<String>> {
    let idx = match fs::read(dir.join("output.idx")) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let offsets: Vec<u64> = idx
        .chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();
    let yaml = fs::read(dir.join("output.yaml"))?;
    let mut out = Vec::new();
    for (n, begin) in offsets
        .iter()
        .enumerate()
        .skip(start as usize)
        .take(count as usize)
    {
        let end = offsets.get(n + 1).copied().unwrap_or(yaml.len() as u64);
        let (begin, end) = (*begin as usize, (end as usize).min(yaml.len()));
        if begin >= end {
            break;
        }
        let text = String::from_utf8_lossy(&yaml[begin..end]);
        out.push(
            text.trim_end_matches('\n')
                .trim_start_matches("- ")
                .to_owned(),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_all_writes_what_append_writes() {
        let (one, all) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let lines = ["{a: 1}", "{b: two}", "{c: [3]}"];
        let mut log = JobLog::open(one.path()).unwrap();
        for line in lines {
            log.append(line).unwrap();
        }
        let mut batch = JobLog::open(all.path()).unwrap();
        batch.append_all(&lines[..1]).unwrap();
        batch.append_all(&lines[1..]).unwrap();
        assert_eq!(batch.lines(), 3);
        for file in ["output.yaml", "output.idx"] {
            assert_eq!(
                fs::read(one.path().join(file)).unwrap(),
                fs::read(all.path().join(file)).unwrap()
            );
        }
        assert_eq!(
            read_lines(all.path(), 1, 2).unwrap(),
            ["{b: two}", "{c: [3]}"]
        );
    }

    #[test]
    fn layout_is_lavas() {
        let dir = job_output_dir(Path::new("/m"), 42, 1_588_334_400);
        assert_eq!(dir, Path::new("/m/job-output/2020/05/01/42"));
    }

    #[test]
    fn lines_and_index() {
        let tmp = tempfile::tempdir().unwrap();
        let mut log = JobLog::open(tmp.path()).unwrap();
        log.append(r#"{"dt": "x", "lvl": "info", "msg": "one"}"#)
            .unwrap();
        log.append(r#"{"dt": "y", "lvl": "info", "msg": "two"}"#)
            .unwrap();
        assert_eq!(log.lines(), 2);
        let yaml = fs::read_to_string(tmp.path().join("output.yaml")).unwrap();
        assert_eq!(
            yaml,
            "- {\"dt\": \"x\", \"lvl\": \"info\", \"msg\": \"one\"}\n- {\"dt\": \"y\", \"lvl\": \"info\", \"msg\": \"two\"}\n"
        );
        let idx = fs::read(tmp.path().join("output.idx")).unwrap();
        assert_eq!(idx.len(), 16);
        assert_eq!(u64::from_ne_bytes(idx[8..16].try_into().unwrap()), 43);
        let lines = read_lines(tmp.path(), 1, 10).unwrap();
        assert_eq!(lines, [r#"{"dt": "y", "lvl": "info", "msg": "two"}"#]);
        drop(log);
        let mut log = JobLog::open(tmp.path()).unwrap();
        assert_eq!(log.lines(), 2);
        log.append("{}").unwrap();
        assert_eq!(read_lines(tmp.path(), 0, 10).unwrap().len(), 3);
    }

    #[test]
    fn lines_are_read_from_any_index_on() {
        let tmp = tempfile::tempdir().unwrap();
        let mut seen = Vec::new();
        for_each_line_from(tmp.path(), 0, |n, l| seen.push((n, l.to_owned()))).unwrap();
        assert!(seen.is_empty(), "no log, no lines");
        let mut log = JobLog::open(tmp.path()).unwrap();
        for text in ["{a: 1}", "{b: 2}", "{c: 3}"] {
            log.append(text).unwrap();
        }
        for_each_line_from(tmp.path(), 1, |n, l| seen.push((n, l.to_owned()))).unwrap();
        assert_eq!(seen, [(1, "{b: 2}".to_owned()), (2, "{c: 3}".to_owned())]);
        seen.clear();
        for_each_line_from(tmp.path(), 3, |n, l| seen.push((n, l.to_owned()))).unwrap();
        assert!(seen.is_empty());
    }

    #[test]
    fn a_torn_write_is_repaired_on_open() {
        let tmp = tempfile::tempdir().unwrap();
        let mut log = JobLog::open(tmp.path()).unwrap();
        log.append("{a: 1}").unwrap();
        log.append("{b: 2}").unwrap();
        drop(log);
        // Crash after the index entry and half the line.
        let mut idx = OpenOptions::new()
            .append(true)
            .open(tmp.path().join("output.idx"))
            .unwrap();
        let len = fs::metadata(tmp.path().join("output.yaml")).unwrap().len();
        idx.write_all(&len.to_ne_bytes()).unwrap();
        idx.write_all(&[1, 2, 3]).unwrap();
        let mut yaml = OpenOptions::new()
            .append(true)
            .open(tmp.path().join("output.yaml"))
            .unwrap();
        yaml.write_all(b"- {c: ").unwrap();
        let mut log = JobLog::open(tmp.path()).unwrap();
        assert_eq!(log.lines(), 2);
        log.append("{d: 4}").unwrap();
        assert_eq!(
            read_lines(tmp.path(), 0, 10).unwrap(),
            ["{a: 1}", "{b: 2}", "{d: 4}"]
        );
    }
}
