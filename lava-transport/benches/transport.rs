//! Transport costs: a control round trip (slave → master → slave) over ZeroMQ on loopback,
//! with and without CURVE, and in memory; log records pushed and received per second.
//!
//! `cargo bench -p lava-transport --bench transport`

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lava_transport::curve::create_certificates;
use lava_transport::memory::MemoryNetwork;
use lava_transport::zeromq::{
    connect_log_source, connect_slave, ClientCurve, SocketOptions, ZmqServer,
};
use lava_transport::{LogSink, LogSource, MasterTransport, SlaveTransport};
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn round_trip(master: &mut impl MasterTransport, slave: &mut impl SlaveTransport) {
    slave.send(vec![b"PING".to_vec()]).await.expect("send PING");
    let (peer, _) = master.recv().await.expect("receive PING");
    master
        .send(&peer, vec![b"PONG".to_vec(), b"20".to_vec()])
        .await
        .expect("send PONG");
    slave.recv().await.expect("receive PONG");
}

fn control_round_trip(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("control round trip");
    group.measurement_time(Duration::from_secs(3));

    let server = ZmqServer::plain();
    let (mut master, mut slave) = rt.block_on(async {
        let master = server
            .bind_master("tcp://127.0.0.1:0", &SocketOptions::default())
            .expect("bind");
        let slave = connect_slave(master.endpoint(), "bench", &SocketOptions::default(), None)
            .expect("connect");
        (master, slave)
    });
    group.bench_function("zmq tcp", |b| {
        b.iter(|| rt.block_on(round_trip(&mut master, &mut slave)))
    });

    let certs = tempfile::tempdir().expect("tempdir");
    let (_, master_secret) = create_certificates(certs.path(), "master").expect("certificates");
    let clients = tempfile::tempdir().expect("tempdir");
    let (slave_public, slave_secret) =
        create_certificates(clients.path(), "slave").expect("certificates");
    std::fs::copy(&slave_public, certs.path().join("slave.key")).expect("copy");
    let curve_server = ZmqServer::curve(&master_secret, certs.path()).expect("curve server");
    let curve = ClientCurve::from_files(&slave_secret, &certs.path().join("master.key"))
        .expect("client keys");
    let (mut curve_master, mut curve_slave) = rt.block_on(async {
        let master = curve_server
            .bind_master("tcp://127.0.0.1:0", &SocketOptions::default())
            .expect("bind");
        let slave = connect_slave(
            master.endpoint(),
            "bench",
            &SocketOptions::default(),
            Some(&curve),
        )
        .expect("connect");
        (master, slave)
    });
    group.bench_function("zmq tcp curve", |b| {
        b.iter(|| rt.block_on(round_trip(&mut curve_master, &mut curve_slave)))
    });

    let net = MemoryNetwork::new();
    let mut memory_master = net.bind_master("bench").expect("bind");
    let mut memory_slave = net.connect_slave("bench", "bench").expect("connect");
    group.bench_function("memory", |b| {
        b.iter(|| rt.block_on(round_trip(&mut memory_master, &mut memory_slave)))
    });
    group.finish();
}

fn log_records(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("log records");
    group.measurement_time(Duration::from_secs(3));
    const BATCH: u64 = 1000;
    group.throughput(Throughput::Elements(BATCH));
    let server = ZmqServer::plain();
    let (mut sink, mut source) = rt.block_on(async {
        let sink = server
            .bind_log_sink("tcp://127.0.0.1:0", &SocketOptions::default())
            .expect("bind");
        let source =
            connect_log_source(sink.endpoint(), &SocketOptions::default(), None).expect("connect");
        (sink, source)
    });
    let line = br#"{"dt": "2026-11-25T14:00:00.000001", "lvl": "target", "msg": "Linux version 6.1.0 (debian-kernel@lists.debian.org)"}"#;
    group.bench_function("zmq push then pull, 1000 records", |b| {
        b.iter(|| {
            rt.block_on(async {
                for _ in 0..BATCH {
                    source
                        .push(vec![b"1234".to_vec(), line.to_vec()])
                        .await
                        .expect("push");
                }
                for _ in 0..BATCH {
                    sink.recv().await.expect("pull");
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, control_round_trip, log_records);
criterion_main!(benches);
