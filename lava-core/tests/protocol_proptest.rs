//! Property tests of the codecs: every message and every log record survives a round trip,
//! and no input, however broken, makes a decoder panic.

use lava_core::model::{ErrorType, TestResult};
use lava_core::protocol::log::{
    decode_log_frames, encode_log_frames, LogLevel, LogRecord, Mapping, TestCaseReport, Value,
};
use lava_core::protocol::xz::{self, XzLimits};
use lava_core::protocol::{Action, Message, PeerId, RoutedError};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    // Any Unicode, control characters included, biased towards short strings.
    prop_oneof![
        any::<String>(),
        "[ -~]{0,40}",
        "[\\x00-\\x1f\\x7f-\\u{a0}\\u{2028}\\u{2029}\\u{feff}]{0,10}",
    ]
}

fn message() -> impl Strategy<Value = Message> {
    let version = prop_oneof![Just(3i64), any::<i64>()];
    prop_oneof![
        (version.clone(), proptest::option::of(text())).prop_map(|(v, l)| Message::Hello {
            protocol_version: v,
            lava_version: l
        }),
        (version, proptest::option::of(text())).prop_map(|(v, l)| Message::HelloRetry {
            protocol_version: v,
            lava_version: l
        }),
        Just(Message::HelloOk),
        Just(Message::Ping),
        any::<i64>().prop_map(|interval| Message::Pong { interval }),
        (any::<i64>(), text(), text(), text(), text(), text()).prop_map(
            |(job_id, job, device, dispatcher, env, env_dut)| Message::Start {
                job_id,
                job,
                device,
                dispatcher,
                env,
                env_dut
            }
        ),
        any::<i64>().prop_map(|job_id| Message::StartOk { job_id }),
        any::<i64>().prop_map(|job_id| Message::Cancel { job_id }),
        any::<i64>().prop_map(|job_id| Message::Status { job_id }),
        (
            any::<i64>(),
            text(),
            proptest::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(|(job_id, errors, description)| Message::End {
                job_id,
                errors,
                description
            }),
        any::<i64>().prop_map(|job_id| Message::EndOk { job_id }),
    ]
}

fn identity() -> impl Strategy<Value = PeerId> {
    "[^\\x00]{1,60}".prop_filter_map("fits a routing id", |s| {
        let peer = PeerId::from(s.as_str());
        peer.hostname().is_ok().then_some(peer)
    })
}

fn frames_strategy() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let action = prop_oneof![
        proptest::sample::select(Action::ALL.to_vec()).prop_map(|a| a.as_str().as_bytes().to_vec()),
        proptest::collection::vec(any::<u8>(), 0..12),
    ];
    let frame = prop_oneof![
        "-?[0-9]{0,20}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..24),
    ];
    (action, proptest::collection::vec(frame, 0..9)).prop_map(|(action, mut rest)| {
        rest.insert(0, action);
        rest
    })
}

fn value() -> impl Strategy<Value = Value> {
    let float = prop_oneof![
        any::<f64>().prop_filter("NaN never equals itself", |f| !f.is_nan()),
        Just(f64::INFINITY),
        Just(-0.0),
        (-1_000_000i64..1_000_000).prop_map(|n| n as f64 / 100.0),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        float.prop_map(Value::Float),
        text().prop_map(Value::Str),
        (any::<i32>(), 0u32..4).prop_map(|(n, scale)| {
            let s = 10f64.powi(scale as i32);
            Value::Decimal(format!("{:.*}", scale as usize, n as f64 / s))
        }),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Seq),
            proptest::collection::btree_map(prop_oneof![text(), "[a-z]{130,140}"], inner, 0..6)
                .prop_map(Value::Map),
        ]
    })
}

fn level() -> impl Strategy<Value = LogLevel> {
    prop_oneof![
        proptest::sample::select(vec![
            "exception",
            "error",
            "warning",
            "info",
            "debug",
            "input",
            "target",
            "feedback",
            "event",
            "marker",
            "results",
        ])
        .prop_map(LogLevel::from_name),
        text().prop_map(|t| LogLevel::from_name(&t)),
    ]
}

fn record() -> impl Strategy<Value = LogRecord> {
    (proptest::option::of(text()), level(), value()).prop_map(|(dt, lvl, msg)| LogRecord {
        dt,
        lvl,
        msg,
    })
}

fn test_result() -> impl Strategy<Value = TestCaseReport> {
    let outcome = proptest::sample::select(vec![
        TestResult::Pass,
        TestResult::Fail,
        TestResult::Skip,
        TestResult::Unknown,
    ]);
    let error_type = proptest::sample::select(vec![
        "Infrastructure",
        "Canceled",
        "Job",
        "Bug",
        "Test",
        "Configuration",
        "LAVATimeout",
        "MultinodeTimeout",
        "Weird",
    ])
    .prop_map(ErrorType::from_name);
    (
        (text(), text(), outcome),
        (
            proptest::option::of(any::<f64>().prop_filter("finite", |f| f.is_finite())),
            proptest::option::of(text()),
            proptest::option::of(0u32..1_000_000),
        ),
        (
            proptest::option::of("[0-9.]{1,8}"),
            proptest::option::of(text()),
            proptest::option::of(value()),
        ),
        (
            proptest::option::of(text()),
            proptest::option::of(error_type),
        ),
    )
        .prop_map(
            |(
                (definition, case, result),
                (measurement, units, cents),
                (level, namespace, extra),
                (error_msg, error_type),
            )| {
                let mut r = TestCaseReport::new(&definition, &case, result);
                r.measurement = measurement;
                r.units = units;
                r.duration = cents.map(|c| f64::from(c) / 100.0);
                // lava-run insists on a level whenever there is extra data.
                r.level = if extra.is_some() {
                    Some(level.unwrap_or_else(|| "1".to_owned()))
                } else {
                    level
                };
                r.namespace = namespace;
                r.extra = extra;
                r.error_msg = error_msg;
                r.error_type = error_type;
                r
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_message_round_trips(message in message()) {
        let frames = message.encode();
        prop_assert_eq!(frames[0].as_slice(), message.action().as_str().as_bytes());
        prop_assert_eq!(Message::decode(&frames), Ok(message));
    }

    #[test]
    fn every_routed_message_round_trips(peer in identity(), message in message()) {
        let frames = message.encode_routed(&peer);
        prop_assert_eq!(Message::decode_routed(&frames), Ok((peer, message)));
    }

    #[test]
    fn decoding_arbitrary_frames_never_panics(frames in frames_strategy()) {
        if let Ok(message) = Message::decode(&frames) {
            // What decodes re-encodes to an equivalent message (leading zeros and `+`
            // signs are the only bytes that may change).
            prop_assert_eq!(Message::decode(&message.encode()), Ok(message));
        }
    }

    #[test]
    fn routed_decoding_never_panics(identity in proptest::collection::vec(any::<u8>(), 0..8), frames in frames_strategy()) {
        let mut routed = vec![identity.clone()];
        routed.extend(frames);
        match Message::decode_routed(&routed) {
            Err(RoutedError::Identity(_)) => {
                prop_assert!(PeerId::from(identity.clone()).hostname().is_err())
            }
            Err(RoutedError::Frame { peer, .. }) | Ok((peer, _)) => {
                prop_assert_eq!(peer.as_bytes(), identity.as_slice());
            }
        }
    }

    #[test]
    fn every_log_record_round_trips(record in record()) {
        let line = record.to_line();
        prop_assert!(line.is_ascii(), "lava-run's dumper escapes everything else");
        prop_assert!(!line.contains('\n'));
        let parsed = LogRecord::parse(&line);
        prop_assert_eq!(parsed.as_ref(), Ok(&record), "line: {}", line);
    }


    #[test]
    fn every_test_result_round_trips(result in test_result()) {
        let line = result.to_record("2026-11-24T14:18:12.827439").map_err(|e| TestCaseError::fail(e.to_string()))?.to_line();
        let parsed = LogRecord::parse(&line).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed.test_result(), Some(Ok(result)));
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(line in prop_oneof![
        any::<String>(),
        "[\\[\\]{}\"'!:,?\\\\ a-z0-9.#&*|>-]{0,60}",
    ]) {
        let _ = LogRecord::parse(&line);
    }

}

proptest! {
    // Secondary properties over the same generators: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn log_frames_round_trip(job_id in any::<i64>(), record in record()) {
        let line = record.to_line();
        let frames = encode_log_frames(job_id, &line);
        prop_assert_eq!(decode_log_frames(&frames), Ok((job_id, line.as_str())));
    }

    #[test]
    fn parsing_damaged_lines_never_panics(record in record(), cut in any::<prop::sample::Index>(), junk in "[\\[\\]{}\"'!:,?\\\\ ]{0,3}") {
        let line = record.to_line();
        let at = cut.index(line.len() + 1);
        let damaged = format!("{}{}{}", &line[..at], junk, &line[at..]);
        let _ = LogRecord::parse(&damaged);
    }
}

proptest! {
    // Setting up a preset-6 encoder costs ~100 MB of tables: few cases.
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn xz_round_trips(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let packed = xz::compress(&data).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(xz::decompress(&packed, XzLimits::default()), Ok(data));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn xz_decoding_garbage_never_panics(
        data in proptest::collection::vec(any::<u8>(), 0..256),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..), 1..4),
    ) {
        let _ = xz::decompress(&data, XzLimits::default());
        let mut damaged = packed_description().to_vec();
        for (at, mask) in flips {
            let i = at.index(damaged.len());
            damaged[i] ^= mask;
        }
        prop_assert!(xz::decompress(&damaged, XzLimits::default()).is_err(), "damage went unnoticed");
    }
}

fn packed_description() -> &'static [u8] {
    static PACKED: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    PACKED.get_or_init(|| {
        xz::compress(b"compatibility: 6\njob:\n  job_name: fuzzed\n").unwrap_or_default()
    })
}

#[test]
fn mapping_keys_sort_like_python() {
    // Python sorts str keys by code point; so does a BTreeMap of Strings.
    let mut map = Mapping::new();
    for key in ["\u{e9}", "Z", "a", "\u{10000}", "\u{ffff}"] {
        map.insert(key.to_owned(), Value::Null);
    }
    let record = LogRecord::new("t", LogLevel::Info, map);
    assert_eq!(
        record.to_line(),
        r#"{"dt": "t", "lvl": "info", "msg": {"Z": ! "null", "a": ! "null", "\xE9": ! "null", "\uFFFF": ! "null", "\U00010000": ! "null"}}"#
    );
}
