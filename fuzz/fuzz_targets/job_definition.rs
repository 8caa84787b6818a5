//! Job definitions: any text must be judged (LAVA's verdict, with warnings) or refused with
//! an error, never a panic; an accepted multinode definition must split into sub-job
//! definitions that parse again; LAVA's `scheduler.jobs.validate` answer never panics either.
//!
//! Run: `cargo fuzz run job_definition` (from `fuzz/`).

#![no_main]

use lava_core::job::{self, Submission};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = job::legacy_reason(text);
    let _ = job::dispatcher_schema_issue(text, true);
    let validated = job::validate(text);
    let Ok(Submission::Pipeline(definition)) = job::parse_submission(text) else {
        return;
    };
    assert!(validated.is_ok(), "parse_submission and validate disagree");
    if let Ok(sub_jobs) = job::split_multinode(&definition, "fuzz-group") {
        for sub_job in sub_jobs {
            if let Err(e) = job::yaml::parse(&sub_job.definition) {
                panic!("sub-job definition does not parse again: {e:?}\n{}", sub_job.definition);
            }
        }
    }
});
