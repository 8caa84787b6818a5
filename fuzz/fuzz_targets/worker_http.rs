//! lava-worker's and lava-run's request bodies: any bytes must decode as a form or fail
//! cleanly; a decoded form re-encodes to one that decodes to the same fields; a log batch
//! splits into records that join back to its `lines`, and skipping what is stored never
//! goes past the batch.
#![no_main]

use lava_core::worker_http::batch::{join_records, split_records, LogBatch};
use lava_core::worker_http::form::Form;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(form) = Form::parse(data) else {
        return;
    };
    let encoded = Form::encode(form.fields().iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let again = Form::parse(encoded.as_bytes()).expect("our own form decodes");
    assert_eq!(again.fields(), form.fields());
    if let Ok(batch) = LogBatch::from_form(&form) {
        let lines = form.get("lines").unwrap_or_default();
        let joined = join_records(&batch.records);
        let trimmed = lines.strip_suffix('\n').unwrap_or(lines);
        if !trimmed.contains('\r') {
            assert_eq!(split_records(&joined).expect("our own batch splits"), batch.records);
        }
        for stored in [0, batch.index, batch.index.saturating_add(3), u64::MAX] {
            assert!(batch.already_stored(stored) <= batch.records.len());
        }
    }
    for (_, value) in form.fields() {
        let _ = split_records(value);
    }
});
