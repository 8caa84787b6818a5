//! The traps of protocol.md §9 that concern the codec, one test each, named after the trap.
//!
//! Traps about timers, re-sends and job tables belong to the master and slave state machines
//! and are tested there.

use lava_core::model::TestResult;
use lava_core::protocol::log::LogRecord;
use lava_core::protocol::xz::{self, XzError, XzLimits};
use lava_core::protocol::{
    FrameFault, IdentityError, Message, PeerId, RoutedError, LAVA_LOGS_IDENTITY,
};

fn frames(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

/// §9 #5: peers without an identity get a binary id from libzmq (NUL + 4 bytes), which
/// crashed LAVA's master on its way into the database.
#[test]
fn trap_05_odd_identities_are_refused_with_a_reason() {
    let err = Message::decode_routed(&frames(&[b"\x00\x80\x00\x00\x29", b"PING"])).unwrap_err();
    let RoutedError::Identity(IdentityError::ContainsNul { at: 0, .. }) = &err else {
        panic!("unexpected {err:?}");
    };
    assert!(err.to_string().contains("0080000029"), "{err}");
    let err = Message::decode_routed(&frames(&[b"host\xc3", b"PING"])).unwrap_err();
    assert!(matches!(
        err,
        RoutedError::Identity(IdentityError::NotUtf8 { .. })
    ));
}

/// §9 #6: short messages and frames that are not UTF-8 crashed master and lava-logs.
#[test]
fn trap_06_malformed_or_undecodable_frames_are_errors_not_crashes() {
    let cases: [&[&[u8]]; 5] = [
        &[],
        &[b"END"],
        &[b"\xff\xfe"],
        &[b"START_OK", b"\xe2\x82"],
        &[b"START", b"1", b"job", b"\xc0\xaf", b"", b"", b""],
    ];
    for case in cases {
        assert!(Message::decode(&frames(case)).is_err(), "{case:?}");
    }
}

/// §9 #7: `lava-logs` is a reserved identity; the codec recognises it, the master acts.
#[test]
fn trap_07_reserved_name_is_recognised() {
    let (peer, message) =
        Message::decode_routed(&frames(&[LAVA_LOGS_IDENTITY.as_bytes(), b"START_OK", b"1"]))
            .expect("decodes");
    assert!(peer.is_lava_logs());
    assert_eq!(message, Message::StartOk { job_id: 1 });
}

/// §9 #11: a HELLO with another integer version decodes (the master stays silent and
/// reports it); a version that is not an integer is an error ("Invalid HELLO").
#[test]
fn trap_11_version_negotiation_is_one_sided() {
    assert_eq!(
        Message::decode(&frames(&[b"HELLO", b"2", b"2018.1"])),
        Ok(Message::Hello {
            protocol_version: 2,
            lava_version: Some("2018.1".to_owned())
        })
    );
    let err = Message::decode(&frames(&[b"HELLO", b"v3"])).unwrap_err();
    assert_eq!(err.frame, 1);
    assert!(matches!(
        err.reason,
        FrameFault::BadInteger {
            field: "version",
            ..
        }
    ));
    // 2016-era HELLO without any version.
    assert!(Message::decode(&frames(&[b"HELLO"])).is_err());
}

/// §9 #13: START must be exactly 7 frames (after the routing frame).
#[test]
fn trap_13_start_frame_count() {
    let base: Vec<&[u8]> = vec![b"START", b"1", b"job", b"device", b"", b"", b""];
    assert!(Message::decode(&frames(&base)).is_ok());
    for n in [2, 3, 4, 5, 6] {
        let err = Message::decode(&frames(&base[..n])).unwrap_err();
        assert_eq!(err.frame, n);
    }
    let mut long = base.clone();
    long.push(b"extra");
    assert_eq!(Message::decode(&frames(&long)).unwrap_err().frame, 7);
    // The 2016 form (6 frames, no dispatcher configuration) is not version 3.
    assert!(Message::decode(&frames(&base[..6])).is_err());
}

/// §9 #18: a malformed END (missing frame, undecodable errors) is an error, so the master
/// can decide not to END_OK it; an END with an empty description is valid.
#[test]
fn trap_18_end_edge_cases() {
    assert_eq!(
        Message::decode(&frames(&[b"END", b"5", b""]))
            .unwrap_err()
            .frame,
        3
    );
    assert!(Message::decode(&frames(&[b"END", b"five", b"", b""])).is_err());
    assert!(matches!(
        Message::decode(&frames(&[b"END", b"5", b"", b""])),
        Ok(Message::End { job_id: 5, ref description, .. }) if description.is_empty()
    ));
}

/// §9 #33: lava-run's stderr that is not UTF-8 cannot travel in END's errors frame.
#[test]
fn trap_33_non_utf8_errors_frame_is_named() {
    let err = Message::decode(&frames(&[b"END", b"5", b"oops \xff", b""])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "frame 2: errors of END is not UTF-8 (bad byte at offset 5)"
    );
}

/// §9 #34: descriptions are tens of kB, but a hostile END must not exhaust memory.
#[test]
fn trap_34_description_size_is_bounded() {
    let bomb = xz::compress(&vec![b'a'; 2 << 20]).expect("compresses");
    let limits = XzLimits {
        max_output: 1 << 20,
        ..XzLimits::default()
    };
    assert_eq!(
        xz::decompress(&bomb, limits),
        Err(XzError::TooLarge { limit: 1 << 20 })
    );
}

/// §9 #35: log records are YAML, not JSON: escapes JSON rejects, tagged scalars, and NUL
/// bytes in result fields (which broke LAVA's bulk insert: the store must cope with them).
#[test]
fn trap_35_log_records_are_yaml_not_json() {
    let line = r#"{"dt": "t", "lvl": "results", "msg": {"case": "a\0b\e\L\x85", "definition": "d", "result": "pass", "measurement": ! "3"}}"#;
    assert!(serde_json::from_str::<serde_json::Value>(line).is_err());
    let record = LogRecord::parse(line).expect("YAML parses");
    let result = record.test_result().expect("results").expect("valid");
    assert_eq!(result.case, "a\0b\u{1b}\u{2028}\u{85}");
    assert_eq!(result.result, TestResult::Pass);
    assert_eq!(result.measurement, Some(3.0));
}

#[test]
fn identity_is_validated_for_configured_names_too() {
    assert!(PeerId::from("").hostname().is_err());
    assert!(PeerId::from("worker\0").hostname().is_err());
}
