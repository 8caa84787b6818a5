//! Golden tests: what LAVA's real 2020.05 slave and Python's libraries put on the wire.
//!
//! The frames are those captured in protocol.md §10.3; the xz stream and the log lines were
//! produced by Python (`lzma.compress`, PyYAML's CDumper as lava-run calls it) with the
//! scripts in `tests/fixtures/`. Each fixture must decode to the expected value and our
//! encoder must give the same bytes back.

use lava_core::protocol::log::{LogLevel, LogRecord, Mapping, Value};
use lava_core::protocol::xz::{self, XzLimits};
use lava_core::protocol::{
    FrameFault, Message, PeerId, RoutedError, PING_INTERVAL_SECS, PROTOCOL_VERSION,
};

const SLAVE: &str = "worker-test.example";
const DESCRIPTION: &[u8] = include_bytes!("fixtures/description.yaml");
const DESCRIPTION_XZ: &[u8] = include_bytes!("fixtures/description.yaml.xz");

fn frames(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

/// Decodes a routed capture and checks that encoding the message gives the capture back.
fn routed_round_trip(capture: &[&[u8]], expected: Message) {
    let capture = frames(capture);
    let (peer, message) = Message::decode_routed(&capture).expect("golden frames decode");
    assert_eq!(message, expected);
    assert_eq!(
        message.encode_routed(&peer),
        capture,
        "re-encoded bytes differ"
    );
}

/// Decodes frames as the slave application sees them (`"master"` first).
fn from_master(capture: &[&[u8]], expected: Message) {
    let mut routed: Vec<&[u8]> = vec![b"master"];
    routed.extend_from_slice(capture);
    routed_round_trip(&routed, expected.clone());
    let (peer, _) = Message::decode_routed(&routed).expect("decodes");
    assert_eq!(peer, PeerId::master());
}

#[test]
fn hello_4_frames_from_a_2020_05_slave() {
    routed_round_trip(
        &[SLAVE.as_bytes(), b"HELLO", b"3", b"2020.05"],
        Message::Hello {
            protocol_version: PROTOCOL_VERSION,
            lava_version: Some("2020.05".to_owned()),
        },
    );
}

#[test]
fn hello_retry_4_frames() {
    routed_round_trip(
        &[SLAVE.as_bytes(), b"HELLO_RETRY", b"3", b"2020.05"],
        Message::HelloRetry {
            protocol_version: 3,
            lava_version: Some("2020.05".to_owned()),
        },
    );
}

#[test]
fn hello_3_frames_from_a_2018_11_slave() {
    routed_round_trip(
        &[SLAVE.as_bytes(), b"HELLO", b"3"],
        Message::Hello {
            protocol_version: 3,
            lava_version: None,
        },
    );
    routed_round_trip(
        &[SLAVE.as_bytes(), b"HELLO_RETRY", b"3"],
        Message::HelloRetry {
            protocol_version: 3,
            lava_version: None,
        },
    );
}

#[test]
fn ping_pong_and_hello_ok() {
    routed_round_trip(&[SLAVE.as_bytes(), b"PING"], Message::Ping);
    from_master(&[b"HELLO_OK"], Message::HelloOk);
    from_master(
        &[b"PONG", b"20"],
        Message::Pong {
            interval: PING_INTERVAL_SECS,
        },
    );
    // The basic run's deliberately small interval still decodes; the slave ignores it.
    from_master(&[b"PONG", b"3"], Message::Pong { interval: 3 });
}

#[test]
fn start_ok_and_end_with_an_xz_description() {
    routed_round_trip(
        &[SLAVE.as_bytes(), b"START_OK", b"1001"],
        Message::StartOk { job_id: 1001 },
    );
    routed_round_trip(
        &[SLAVE.as_bytes(), b"END", b"1001", b"", DESCRIPTION_XZ],
        Message::End {
            job_id: 1001,
            errors: String::new(),
            description: DESCRIPTION_XZ.to_vec(),
        },
    );
    let text = xz::decompress(DESCRIPTION_XZ, XzLimits::default()).expect("Python's xz decodes");
    assert_eq!(text, DESCRIPTION);
    let text = String::from_utf8(text).expect("UTF-8 description");
    for key in ["compatibility:", "device:", "job:", "pipeline:"] {
        assert!(text.lines().any(|l| l.starts_with(key)), "no {key}");
    }
}

#[test]
fn our_xz_is_byte_identical_to_python_lzma_compress() {
    assert_eq!(
        xz::compress(DESCRIPTION).expect("compresses"),
        DESCRIPTION_XZ
    );
}

#[test]
fn end_with_empty_description_and_the_replies_to_status_and_cancel() {
    from_master(&[b"STATUS", b"4242"], Message::Status { job_id: 4242 });
    routed_round_trip(
        &[SLAVE.as_bytes(), b"END", b"4242", b"", b""],
        Message::End {
            job_id: 4242,
            errors: String::new(),
            description: Vec::new(),
        },
    );
    from_master(&[b"CANCEL", b"4243"], Message::Cancel { job_id: 4243 });
    routed_round_trip(
        &[SLAVE.as_bytes(), b"END", b"4243", b"", b""],
        Message::End {
            job_id: 4243,
            errors: String::new(),
            description: Vec::new(),
        },
    );
    from_master(&[b"END_OK", b"4242"], Message::EndOk { job_id: 4242 });
    assert_eq!(
        xz::decompress(b"", XzLimits::default()),
        Err(xz::XzError::Empty)
    );
}

#[test]
fn end_of_a_job_whose_lava_run_is_missing() {
    let errors = "nice: \u{2018}/srv/copy/lava-run\u{2019}: No such file or directory\n";
    routed_round_trip(
        &[SLAVE.as_bytes(), b"END", b"1007", errors.as_bytes(), b""],
        Message::End {
            job_id: 1007,
            errors: errors.to_owned(),
            description: Vec::new(),
        },
    );
}

#[test]
fn start_with_7_frames() {
    from_master(
        &[
            b"START",
            b"1001",
            b"job_name: hello\nactions:\n- command:\n    name: hello\n",
            b"device_type: qemu\nhostname: qemu01\n",
            b"",
            b"purge: true\noverrides:\n  LC_ALL: C.UTF-8\n",
            b"",
        ],
        Message::Start {
            job_id: 1001,
            job: "job_name: hello\nactions:\n- command:\n    name: hello\n".to_owned(),
            device: "device_type: qemu\nhostname: qemu01\n".to_owned(),
            dispatcher: String::new(),
            env: "purge: true\noverrides:\n  LC_ALL: C.UTF-8\n".to_owned(),
            env_dut: String::new(),
        },
    );
}

#[test]
fn what_the_basic_run_sent_that_the_slave_rejected() {
    let err = Message::decode(&frames(&[b"FOO", b"bar"])).unwrap_err();
    assert_eq!(err.frame, 0);
    assert_eq!(
        err.reason,
        FrameFault::UnknownAction {
            action: "FOO".to_owned()
        }
    );
    let err = Message::decode(&frames(&[b"START", b"4244", b"only-four-frames"])).unwrap_err();
    assert_eq!(err.frame, 3);
}

#[test]
fn peers_without_identity_are_refused_before_decoding() {
    // libzmq's generated id for a peer that set none: a NUL byte, then 4 bytes.
    let capture = frames(&[&[0, 0x6b, 0x8b, 0x45, 0x67], b"PING"]);
    assert!(matches!(
        Message::decode_routed(&capture),
        Err(RoutedError::Identity(_))
    ));
}

/// Splits a ZMTP 3 byte stream of short frames (`flags, length, body`) into messages.
fn zmtp_messages(mut wire: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let mut messages = vec![Vec::new()];
    while let [flags, len, rest @ ..] = wire {
        assert_eq!(flags & !1, 0, "only short data frames in these captures");
        let (body, tail) = rest.split_at(*len as usize);
        messages
            .last_mut()
            .expect("one open message")
            .push(body.to_vec());
        if flags & 1 == 0 {
            messages.push(Vec::new());
        }
        wire = tail;
    }
    messages.pop();
    messages
}

#[test]
fn raw_zmtp_capture_of_the_first_messages() {
    // relay-bytes.txt: the slave's first message and the master's replies (§10.3).
    let slave = b"\x01\x05HELLO\x01\x013\x00\x072020.05";
    let master = b"\x00\x08HELLO_OK\x00\x04PING\x01\x04PONG\x00\x0220";
    let sent = zmtp_messages(slave);
    assert_eq!(
        Message::decode(&sent[0]),
        Ok(Message::Hello {
            protocol_version: 3,
            lava_version: Some("2020.05".to_owned())
        })
    );
    let replies = zmtp_messages(master);
    let expected = [
        Message::HelloOk,
        Message::Ping,
        Message::Pong { interval: 20 },
    ];
    assert_eq!(replies.len(), expected.len());
    for (frames, message) in replies.iter().zip(expected) {
        assert_eq!(Message::decode(frames).as_ref(), Ok(&message));
        assert_eq!(&message.encode(), frames);
    }
}

#[test]
fn the_first_and_last_log_records_of_the_start_run() {
    let first = r#"{"dt": "2026-11-24T14:18:12.827439", "lvl": "info", "msg": "lava-dispatcher, installed at version: 2020.05"}"#;
    let record = LogRecord::parse(first).expect("parses");
    assert_eq!(record.lvl, LogLevel::Info);
    assert_eq!(record.to_line(), first);
    let last = r#"{"dt": "2026-11-24T14:18:22.1", "lvl": "results", "msg": {"case": "job", "definition": "lava", "result": "pass"}}"#;
    let record = LogRecord::parse(last).expect("parses");
    let result = record
        .test_result()
        .expect("a results record")
        .expect("valid");
    assert!(result.is_job_result());
    assert_eq!(record.to_line(), last);
}

/// Rebuilds a value from the typed JSON of `gen_log_lines.py`.
fn typed(json: &serde_json::Value) -> Value {
    let parts = json.as_array().expect("typed value is an array");
    let kind = parts[0].as_str().expect("kind");
    let text = |i: usize| parts[i].as_str().expect("text").to_owned();
    match kind {
        "str" => Value::Str(text(1)),
        "int" => Value::Int(text(1).parse().expect("int")),
        "float" => Value::Float(text(1).parse().expect("float")),
        "bool" => Value::Bool(parts[1].as_bool().expect("bool")),
        "null" => Value::Null,
        "decimal" => Value::Decimal(text(1)),
        "repeat" => Value::Str(text(1).repeat(parts[2].as_u64().expect("count") as usize)),
        "seq" => Value::Seq(
            parts[1]
                .as_array()
                .expect("items")
                .iter()
                .map(typed)
                .collect(),
        ),
        "map" => {
            let mut map = Mapping::new();
            for pair in parts[1].as_array().expect("pairs") {
                let key = pair[0].as_str().expect("key").to_owned();
                map.insert(key, typed(&pair[1]));
            }
            Value::Map(map)
        }
        other => panic!("unknown kind {other}"),
    }
}

#[test]
fn log_lines_dumped_by_pyyaml_parse_and_re_encode_byte_for_byte() {
    let fixture = include_str!("fixtures/log_lines.jsonl");
    let mut count = 0;
    for (n, line) in fixture.lines().enumerate() {
        let case: serde_json::Value = serde_json::from_str(line).expect("fixture line");
        let Value::Map(mut fields) = typed(&case["record"]) else {
            panic!("line {n}: record is not a map");
        };
        let record = LogRecord {
            dt: fields
                .remove("dt")
                .and_then(|v| v.as_str().map(str::to_owned)),
            lvl: LogLevel::from_name(fields["lvl"].as_str().expect("lvl")),
            msg: fields.remove("msg").expect("msg"),
        };
        let expected_line = match &case["line"] {
            serde_json::Value::String(s) => s.clone(),
            other => {
                let n = other[1].as_u64().expect("repeat count") as usize;
                format!(
                    r#"{{"dt": "t", "lvl": "info", "msg": "{}"}}"#,
                    "a".repeat(n)
                )
            }
        };
        assert_eq!(record.to_line(), expected_line, "fixture line {n}");
        let parsed = LogRecord::parse(&expected_line).expect("PyYAML's line parses");
        if !expected_line.contains("way too long") {
            assert_eq!(parsed, record, "fixture line {n}");
        }
        assert_eq!(parsed.to_line(), expected_line, "fixture line {n}");
        count += 1;
    }
    assert_eq!(count, 72);
}
