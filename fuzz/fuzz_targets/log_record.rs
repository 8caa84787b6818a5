//! Log-record parsing: any line must parse or fail cleanly, and a parsed record must
//! re-encode to a line that parses back to the same record.
#![no_main]

use lava_core::protocol::log::{decode_log_frames, LogRecord, Value};
use libfuzzer_sys::fuzz_target;

/// NaN never equals itself: compare records through their lines instead when one is there.
fn has_nan(value: &Value) -> bool {
    match value {
        Value::Float(f) => f.is_nan(),
        Value::Seq(items) => items.iter().any(has_nan),
        Value::Map(map) => map.values().any(has_nan),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = decode_log_frames(&[b"1".as_slice(), data]);
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(record) = LogRecord::parse(line) {
        let _ = record.test_result();
        let encoded = record.to_line();
        let again = LogRecord::parse(&encoded).expect("our own line parses");
        if encoded.contains("way too long") {
            return;
        }
        if has_nan(&record.msg) {
            assert_eq!(again.to_line(), encoded);
        } else {
            assert_eq!(again, record, "round trip of {line:?}");
        }
    }
});
