//! The protocol codec: START and END frames, xz descriptions, log lines.
//!
//! Payloads are shaped like LAVA's: a 5 KB job definition, a 20 KB rendered device
//! configuration, a 100 KB `description.yaml`, and log lines as lava-run writes them.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lava_core::protocol::log::{LogLevel, LogRecord, Mapping, Value};
use lava_core::protocol::xz::{self, XzLimits};
use lava_core::protocol::Message;

/// YAML text of about `size` bytes: nested mappings of realistic keys and values.
fn yaml_text(size: usize, topic: &str) -> String {
    let mut out = String::with_capacity(size + 256);
    let mut i = 0;
    while out.len() < size {
        out.push_str(&format!(
            "- {topic}-{i}:\n    name: {topic} step {i}\n    timeout:\n      minutes: {}\n    \
             command: \"sh -c 'echo step {i}; sleep 1'\"\n    level: \"{}.{}\"\n",
            i % 30 + 1,
            i / 10 + 1,
            i % 10
        ));
        i += 1;
    }
    out
}

fn start() -> Message {
    Message::Start {
        job_id: 123_456,
        job: yaml_text(5 * 1024, "action"),
        device: yaml_text(20 * 1024, "device"),
        dispatcher: String::new(),
        env: "purge: true\noverrides:\n  LC_ALL: C.UTF-8\n  LANG: C\n".to_owned(),
        env_dut: String::new(),
    }
}

fn bench_start(c: &mut Criterion) {
    let message = start();
    let frames = message.encode();
    let bytes: usize = frames.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("START (5 KB job, 20 KB device)");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("encode", |b| b.iter(|| black_box(&message).encode()));
    group.bench_function("decode", |b| b.iter(|| Message::decode(black_box(&frames))));
    group.finish();
}

fn bench_end(c: &mut Criterion) {
    let description = yaml_text(100 * 1024, "pipeline");
    let packed = xz::compress(description.as_bytes()).expect("compresses");
    let end = Message::End {
        job_id: 123_456,
        errors: String::new(),
        description: packed.clone(),
    };
    let frames = end.encode();
    let mut group = c.benchmark_group("END (100 KB description)");
    group.throughput(Throughput::Bytes(description.len() as u64));
    group.bench_function("encode, already compressed", |b| {
        b.iter(|| black_box(&end).encode())
    });
    group.bench_function("decode, no decompression", |b| {
        b.iter(|| Message::decode(black_box(&frames)))
    });
    group.bench_function("encode with xz", |b| {
        b.iter(|| {
            let description = xz::compress(black_box(description.as_bytes())).expect("compresses");
            Message::End {
                job_id: 123_456,
                errors: String::new(),
                description,
            }
            .encode()
        })
    });
    group.bench_function("decode with xz", |b| {
        b.iter(|| {
            let Ok(Message::End { description, .. }) = Message::decode(black_box(&frames)) else {
                unreachable!("END decodes")
            };
            xz::decompress(&description, XzLimits::default()).expect("decompresses")
        })
    });
    group.finish();
}

fn log_lines() -> Vec<(&'static str, String)> {
    let info = LogRecord::new(
        "2026-11-24T14:18:12.827439",
        LogLevel::Info,
        "lava-dispatcher, installed at version: 2020.05",
    );
    let target = LogRecord::new(
        "2026-11-24T14:18:13.1",
        LogLevel::Target,
        "[    0.000000] Linux version 5.10.0 \u{1b}[1mcaf\u{e9}\u{1b}[0m \u{2713} (gcc 10.2.1) #1 SMP\r",
    );
    let mut result = Mapping::new();
    for (k, v) in [
        ("case", "bandwidth"),
        ("definition", "1_network"),
        ("result", "pass"),
        ("units", "Mb/s"),
        ("level", "3.1"),
        ("duration", "0.52"),
    ] {
        result.insert(k.to_owned(), Value::from(v));
    }
    result.insert(
        "measurement".to_owned(),
        Value::Decimal("941.50".to_owned()),
    );
    let results = LogRecord::new("2026-11-24T14:18:14.2", LogLevel::Results, result);
    vec![
        ("info", info.to_line()),
        ("target with escapes", target.to_line()),
        ("results", results.to_line()),
    ]
}

fn bench_log(c: &mut Criterion) {
    let mut group = c.benchmark_group("log line");
    for (name, line) in log_lines() {
        group.throughput(Throughput::Bytes(line.len() as u64));
        group.bench_function(format!("parse {name}"), |b| {
            b.iter(|| LogRecord::parse(black_box(&line)).expect("parses"))
        });
        let record = LogRecord::parse(&line).expect("parses");
        group.bench_function(format!("encode {name}"), |b| {
            b.iter(|| black_box(&record).to_line())
        });
    }
    let block = "dt: 2026-11-24T14:18:12.827439\nlvl: info\nmsg: hello\n";
    group.bench_function("parse block style (full YAML fallback)", |b| {
        b.iter(|| LogRecord::parse(black_box(block)).expect("parses"))
    });
    group.finish();
}

criterion_group!(benches, bench_start, bench_end, bench_log);
criterion_main!(benches);
