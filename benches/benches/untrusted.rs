//! Issue 15: every parser of untrusted text stays linear in its input. Each is measured at
//! 10^4 and 10^5 keys, elements or lines: the time per element must not grow with n.
//!
//! - XML-RPC bodies (`lava_http::codec::parse_method_call`): a struct of n members, an
//!   array of n values (the parser refuses more than 100,000 elements: the 10^5 cases
//!   measure the refusal, which reads the whole body up to the cap).
//! - Log records (`LogRecord::parse`): one line whose `msg` is a mapping of n keys, and a
//!   batch of n ordinary lines.
//! - Log batches into the lab (`JobLogs::write`): n lines appended to a job's
//!   `output.yaml`, as the master does for a burst on its log socket.
//! - lava-worker's and lava-run's form bodies (`Form::parse`): n fields; and a log batch
//!   of n records (`Form::parse`, then `LogBatch::from_form`, which splits the records).
//! - Basic authentication headers (`lava_http::auth::parse_basic`), at n bytes.
//!
//! YAML (job definitions, 10^5 keys and items) is measured in `jobs.rs`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lava_core::protocol::log::LogRecord;
use lava_core::worker_http::batch::{join_records, LogBatch};
use lava_core::worker_http::form::Form;
use lava_http::codec::parse_method_call;
use lava_lab::{JobLogs, Lab, LabConfig, LabPaths, NewDeviceType};
use lava_store::MemoryStore;
use std::hint::black_box;
use std::sync::Arc;

const SIZES: [usize; 2] = [10_000, 100_000];

/// n ordinary log records, one line each, as lava-run writes a boot log.
fn boot_log(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "{{\"dt\": \"2026-12-06T23:00:00.{i:06}\", \"lvl\": \"target\", \
                 \"msg\": \"line {i} of the boot log\"}}"
            )
        })
        .collect()
}

fn xml_rpc(c: &mut Criterion) {
    let mut group = c.benchmark_group("untrusted_xml_rpc");
    group.sample_size(10);
    for n in SIZES {
        group.throughput(Throughput::Elements(n as u64));
        let members: String = (0..n / 4)
            .map(|i| format!("<member><name>k{i}</name><value><string>v</string></value></member>"))
            .collect();
        let body = format!(
            "<?xml version=\"1.0\"?><methodCall><methodName>m</methodName><params><param>\
             <value><struct>{members}</struct></value></param></params></methodCall>"
        );
        group.bench_with_input(BenchmarkId::new("struct_elements", n), &body, |b, body| {
            b.iter(|| black_box(parse_method_call(body.as_bytes()).is_ok()))
        });
        let items: String = (0..n / 2)
            .map(|i| format!("<value><int>{i}</int></value>"))
            .collect();
        let body = format!(
            "<?xml version=\"1.0\"?><methodCall><methodName>m</methodName><params><param>\
             <value><array><data>{items}</data></array></value></param></params></methodCall>"
        );
        group.bench_with_input(BenchmarkId::new("array_elements", n), &body, |b, body| {
            b.iter(|| black_box(parse_method_call(body.as_bytes()).is_ok()))
        });
    }
    group.finish();
}

fn log_lines(c: &mut Criterion) {
    let mut group = c.benchmark_group("untrusted_log_records");
    group.sample_size(10);
    for n in SIZES {
        group.throughput(Throughput::Elements(n as u64));
        let keys: Vec<String> = (0..n).map(|i| format!("\"k{i}\": \"v\"")).collect();
        let line = format!(
            "{{\"dt\": \"2026-12-06T23:00:00.000000\", \"lvl\": \"info\", \"msg\": {{{}}}}}",
            keys.join(", ")
        );
        group.bench_with_input(BenchmarkId::new("mapping_keys", n), &line, |b, line| {
            b.iter(|| black_box(LogRecord::parse(line).is_ok()))
        });
        let lines = boot_log(n);
        group.bench_with_input(BenchmarkId::new("lines", n), &lines, |b, lines| {
            b.iter(|| {
                for line in lines {
                    black_box(LogRecord::parse(line).is_ok());
                }
            })
        });
    }
    group.finish();
}

fn log_batches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("untrusted_log_batches");
    group.sample_size(10);
    for n in SIZES {
        group.throughput(Throughput::Elements(n as u64));
        let lines = boot_log(n);
        group.bench_with_input(BenchmarkId::new("job_log_write", n), &lines, |b, lines| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().expect("a temporary directory");
                    let lab = runtime.block_on(async {
                        let lab = Lab::new(
                            Arc::new(MemoryStore::new()),
                            LabConfig::new(LabPaths::under(dir.path())),
                        )
                        .expect("a lab");
                        lab.add_device_type(&NewDeviceType::named("qemu"))
                            .await
                            .expect("a device type");
                        lava_benches::add_idle_device(&lab, "qemu01", "qemu")
                            .await
                            .expect("a device");
                        let job = "device_type: qemu\njob_name: t\nvisibility: public\n\
                                   timeouts:\n  job:\n    minutes: 5\nactions:\n- command:\n    name: x\n";
                        let id = lab.submit(job, "bob").await.expect("a job").ids[0];
                        (lab, id)
                    });
                    (dir, lab)
                },
                |(_dir, (lab, id))| {
                    runtime.block_on(async {
                        let mut logs = JobLogs::new();
                        for line in lines {
                            black_box(logs.write(&lab, id, line).await.is_ok());
                        }
                        logs.close_all(&lab).await;
                    })
                },
                criterion::BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

fn worker_forms(c: &mut Criterion) {
    let mut group = c.benchmark_group("untrusted_worker_forms");
    group.sample_size(10);
    for n in SIZES {
        group.throughput(Throughput::Elements(n as u64));
        // A form of n fields, percent-escapes in every value.
        let body: String = (0..n)
            .map(|i| format!("k{i}=v%20{i}"))
            .collect::<Vec<_>>()
            .join("&");
        group.bench_with_input(BenchmarkId::new("form_fields", n), &body, |b, body| {
            b.iter(|| black_box(Form::parse(body.as_bytes()).map(|f| f.fields().len())))
        });
        // lava-run's log batch of n records (it sends 1,000 at most), decoded and split.
        let records = boot_log(n);
        let body = Form::encode([("lines", join_records(&records).as_str()), ("index", "0")]);
        group.bench_with_input(BenchmarkId::new("log_batch_lines", n), &body, |b, body| {
            b.iter(|| {
                let form = Form::parse(body.as_bytes()).expect("a form");
                black_box(LogBatch::from_form(&form).map(|batch| batch.records.len()))
            })
        });
    }
    group.finish();
}

fn auth_headers(c: &mut Criterion) {
    let mut group = c.benchmark_group("untrusted_auth_header");
    for n in SIZES {
        group.throughput(Throughput::Bytes(n as u64));
        let header = format!("Basic {}", "QWxhZGRpbjpvcGVuIHNlc2FtZQ".repeat(n / 26 + 1));
        group.bench_with_input(BenchmarkId::new("basic", n), &header, |b, header| {
            b.iter(|| black_box(lava_http::auth::parse_basic(header.as_bytes()).is_ok()))
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    xml_rpc,
    log_lines,
    log_batches,
    worker_forms,
    auth_headers
);
criterion_main!(benches);
