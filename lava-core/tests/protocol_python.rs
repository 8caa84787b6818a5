//! Cross-checks against Python itself, when `python3` with PyYAML is installed: what we
//! write must be what LAVA's Python side reads, and the reverse.
//!
//! - log lines we encode, loaded by PyYAML (the loader lava-logs used), give our values;
//! - PyYAML's CDumper, called as lava-run calls it, gives our lines for those values;
//! - our xz streams decompress with Python's `lzma` and are byte-identical to its output.
//!
//! Without python3 and PyYAML these tests say so on stderr and pass: the committed
//! fixtures in `protocol_golden.rs` cover the same ground with fixed inputs.

use std::io::Write;
use std::process::{Command, Stdio};

use lava_core::protocol::log::{LogLevel, LogRecord, Mapping, Value};
use lava_core::protocol::xz;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Loads each input line with PyYAML, prints it back as typed JSON and re-dumps it the
/// way lava-run does.
const ROUND_TRIP: &str = r#"
import decimal, json, sys, yaml
def typed(v):
    if isinstance(v, bool): return ["bool", v]
    if v is None: return ["null"]
    if isinstance(v, int): return ["int", str(v)]
    if isinstance(v, float): return ["float", repr(v)]
    if isinstance(v, decimal.Decimal): return ["decimal", str(v)]
    if isinstance(v, str): return ["str", v]
    if isinstance(v, list): return ["seq", [typed(x) for x in v]]
    if isinstance(v, dict): return ["map", [[k, typed(x)] for k, x in v.items()]]
    raise TypeError(type(v))
for line in sys.stdin.read().split("\n")[:-1]:
    data = yaml.load(line, Loader=yaml.CUnsafeLoader)
    dumped = yaml.dump(data, Dumper=yaml.CDumper, default_flow_style=True,
                       default_style='"', width=10**6)[:-1]
    print(json.dumps({"value": typed(data), "line": dumped}))
"#;

/// The Python to cross-check with: `LAVA_RS_PYTHON` (CI sets it, and then it must work),
/// else `python3` from PATH.
fn python() -> String {
    std::env::var("LAVA_RS_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn python_with_yaml() -> bool {
    let ok = Command::new(python())
        .args(["-c", "import yaml, lzma; yaml.CDumper; yaml.CUnsafeLoader"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var_os("LAVA_RS_PYTHON").is_some() {
        panic!("LAVA_RS_PYTHON is set but has no PyYAML with libyaml: the cross-checks cannot run");
    }
    if !ok {
        eprintln!("python3 with PyYAML (libyaml) not found: Python cross-checks skipped");
    }
    ok
}

fn run_python(script: &str, input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(python())
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("writes to python3");
    let output = child.wait_with_output().expect("python3 finishes");
    assert!(output.status.success(), "python3 failed");
    output.stdout
}

fn typed(json: &serde_json::Value) -> Value {
    let parts = json.as_array().expect("typed value is an array");
    let text = |i: usize| parts[i].as_str().expect("text").to_owned();
    match parts[0].as_str().expect("kind") {
        "str" => Value::Str(text(1)),
        "int" => Value::Int(text(1).parse().expect("int")),
        "float" => Value::Float(text(1).parse().expect("float")),
        "bool" => Value::Bool(parts[1].as_bool().expect("bool")),
        "null" => Value::Null,
        "decimal" => Value::Decimal(text(1)),
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
                map.insert(pair[0].as_str().expect("key").to_owned(), typed(&pair[1]));
            }
            Value::Map(map)
        }
        other => panic!("unknown kind {other}"),
    }
}

fn value_strategy() -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        any::<String>(),
        "[ -~]{0,30}",
        "[\\x00-\\x1f\\u{80}-\\u{a0}]{0,8}"
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>()
            .prop_filter("NaN never equals itself", |f| !f.is_nan())
            .prop_map(Value::Float),
        text.clone().prop_map(Value::Str),
        (any::<i32>(), 0usize..4).prop_map(|(n, scale)| {
            let s = 10f64.powi(scale as i32);
            Value::Decimal(format!("{:.*}", scale, f64::from(n) / s))
        }),
    ];
    leaf.prop_recursive(3, 32, 5, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Seq),
            proptest::collection::btree_map(
                prop_oneof![text.clone(), "[a-z]{125,135}"],
                inner,
                0..5
            )
            .prop_map(Value::Map),
        ]
    })
}

#[test]
fn pyyaml_reads_our_lines_as_we_do_and_dumps_them_as_we_do() {
    if !python_with_yaml() {
        return;
    }
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let strategy = value_strategy();
    let mut records = Vec::new();
    for i in 0..300 {
        let msg = strategy.new_tree(&mut runner).expect("generates").current();
        let lvl = if i % 3 == 0 {
            LogLevel::Results
        } else {
            LogLevel::Target
        };
        records.push(LogRecord::new("2026-11-24T14:18:12.827439", lvl, msg));
    }
    let lines: Vec<String> = records.iter().map(LogRecord::to_line).collect();
    let input = lines
        .iter()
        .flat_map(|l| [l.as_str(), "\n"])
        .collect::<String>();
    let output = run_python(ROUND_TRIP, input.as_bytes());
    let output = String::from_utf8(output).expect("python3 prints UTF-8");
    let answers: Vec<&str> = output.lines().collect();
    assert_eq!(answers.len(), records.len());
    for ((record, line), answer) in records.iter().zip(&lines).zip(answers) {
        let answer: serde_json::Value = serde_json::from_str(answer).expect("JSON");
        let mut expected = Mapping::new();
        expected.insert(
            "dt".to_owned(),
            Value::from(record.dt.clone().unwrap_or_default()),
        );
        expected.insert("lvl".to_owned(), Value::from(record.lvl.as_str()));
        expected.insert("msg".to_owned(), record.msg.clone());
        assert_eq!(
            typed(&answer["value"]),
            Value::Map(expected),
            "PyYAML read {line}"
        );
        assert_eq!(
            answer["line"].as_str(),
            Some(line.as_str()),
            "PyYAML dumped differently"
        );
    }
}

#[test]
fn python_lzma_reads_our_xz_and_writes_the_same_bytes() {
    if !python_with_yaml() {
        return;
    }
    const CHECK: &str = r#"
import lzma, sys
data = sys.stdin.buffer.read()
n = int.from_bytes(data[:4], "big")
ours, plain = data[4:4 + n], data[4 + n:]
assert lzma.decompress(ours) == plain, "decompressed text differs"
assert lzma.compress(plain) == ours, "Python compresses differently"
print("ok")
"#;
    let mut plain = Vec::new();
    for i in 0..3000u32 {
        plain.extend_from_slice(
            format!("- step {i}: {{level: '{}.{}'}}\n", i / 10, i % 10).as_bytes(),
        );
    }
    plain.extend((0..=255u8).cycle().take(5000));
    let ours = xz::compress(&plain).expect("compresses");
    let mut input = (ours.len() as u32).to_be_bytes().to_vec();
    input.extend_from_slice(&ours);
    input.extend_from_slice(&plain);
    assert_eq!(run_python(CHECK, &input), b"ok\n");
}
