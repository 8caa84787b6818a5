//! The ZeroMQ transport on 127.0.0.1: LAVA's socket semantics, CURVE and the allow-list.
//!
//! Every wait is bounded by `within` (a generous timeout that only fires on a hang); no
//! test asserts how fast anything happens.

use std::future::Future;
use std::time::Duration;

use lava_transport::curve::{create_certificates, read_public_key, AuthDecision};
use lava_transport::zeromq::{
    connect_log_source, connect_slave, ClientCurve, SocketOptions, ZmqServer,
};
use lava_transport::{Frames, LogSink, LogSource, MasterTransport, PeerId, SlaveTransport};

const ANY_PORT: &str = "tcp://127.0.0.1:0";

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(20), future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

fn frames(parts: &[&str]) -> Frames {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

fn plain() -> SocketOptions {
    SocketOptions::default()
}

/// A port that was free a moment ago, for a master that starts after its slave.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Binds `endpoint` again after a close: libzmq releases a listener asynchronously, so
/// the first attempts may find it still in use (a restarted process would not).
async fn bind_again(server: &ZmqServer, endpoint: &str) -> lava_transport::zeromq::ZmqMaster {
    loop {
        match server.bind_master(endpoint, &plain()) {
            Ok(master) => return master,
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

#[tokio::test]
async fn master_and_slave_exchange_frames() {
    let server = ZmqServer::plain();
    let mut master = server.bind_master(ANY_PORT, &plain()).unwrap();
    let endpoint = master.endpoint().to_owned();
    assert!(
        endpoint.starts_with("tcp://127.0.0.1:") && !endpoint.ends_with(":0"),
        "{endpoint}"
    );

    let mut slave = connect_slave(&endpoint, "worker-1.example", &plain(), None).unwrap();
    slave
        .send(frames(&["HELLO", "3", "2020.05"]))
        .await
        .unwrap();
    let (peer, got) = within("HELLO", master.recv()).await.unwrap();
    assert_eq!(peer, PeerId::from("worker-1.example"));
    assert_eq!(got, frames(&["HELLO", "3", "2020.05"]));

    // Empty frames and binary frames pass unchanged (END's description may be empty).
    master
        .send(&peer, vec![b"END_OK".to_vec(), Vec::new(), vec![0xff, 0]])
        .await
        .unwrap();
    assert_eq!(
        within("reply", slave.recv()).await.unwrap(),
        vec![b"END_OK".to_vec(), Vec::new(), vec![0xff, 0]]
    );

    // A peer that is not connected: no error, nothing delivered; the socket keeps working.
    master
        .send(&PeerId::from("nobody"), frames(&["PONG", "20"]))
        .await
        .unwrap();
    master.send(&peer, frames(&["PONG", "20"])).await.unwrap();
    assert_eq!(
        within("PONG", slave.recv()).await.unwrap(),
        frames(&["PONG", "20"])
    );
    master.close().await.unwrap();
    slave.close().await.unwrap();
}

#[tokio::test]
async fn a_duplicate_identity_takes_over() {
    let server = ZmqServer::plain();
    let mut master = server.bind_master(ANY_PORT, &plain()).unwrap();
    let endpoint = master.endpoint().to_owned();

    let mut first = connect_slave(&endpoint, "dup.example", &plain(), None).unwrap();
    first.send(frames(&["HELLO", "first"])).await.unwrap();
    assert_eq!(
        within("first HELLO", master.recv()).await.unwrap().1,
        frames(&["HELLO", "first"])
    );

    let mut second = connect_slave(&endpoint, "dup.example", &plain(), None).unwrap();
    second.send(frames(&["HELLO", "second"])).await.unwrap();
    let (peer, got) = within("second HELLO", master.recv()).await.unwrap();
    assert_eq!(got, frames(&["HELLO", "second"]));

    // The routing entry now points at the second connection (without handover libzmq
    // would have refused it and kept the first).
    master.send(&peer, frames(&["HELLO_OK"])).await.unwrap();
    assert_eq!(
        within("HELLO_OK", second.recv()).await.unwrap(),
        frames(&["HELLO_OK"])
    );
    drop(first);
}

#[tokio::test]
async fn a_slave_queues_messages_until_the_master_exists() {
    let endpoint = format!("tcp://127.0.0.1:{}", free_port());
    let mut slave = connect_slave(&endpoint, "early.example", &plain(), None).unwrap();
    slave.send(frames(&["HELLO", "3"])).await.unwrap();
    slave.send(frames(&["HELLO_RETRY", "3"])).await.unwrap();

    let server = ZmqServer::plain();
    let mut master = server.bind_master(&endpoint, &plain()).unwrap();
    let (peer, got) = within("queued HELLO", master.recv()).await.unwrap();
    assert_eq!(
        (peer.hostname().ok(), got),
        (Some("early.example"), frames(&["HELLO", "3"]))
    );
    assert_eq!(
        within("queued retry", master.recv()).await.unwrap().1,
        frames(&["HELLO_RETRY", "3"])
    );

    // A restarted master hears from the slave again. A PING sent before the slave noticed
    // the old connection drop can be lost with it (libzmq gives no guarantee there), which
    // is why LAVA's slave keeps pinging: do the same until one arrives.
    master.close().await.unwrap();
    drop(master);
    slave.send(frames(&["PING"])).await.unwrap();
    let mut restarted = within("the endpoint to be free", bind_again(&server, &endpoint)).await;
    let got = within("PING after restart", async {
        loop {
            match tokio::time::timeout(Duration::from_millis(500), restarted.recv()).await {
                Ok(received) => break received,
                Err(_) => slave.send(frames(&["PING"])).await.unwrap(),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(got, (PeerId::from("early.example"), frames(&["PING"])));
}

#[tokio::test]
async fn logs_flow_from_push_to_pull_and_close_delivers_everything() {
    let server = ZmqServer::plain();
    let mut sink = server.bind_log_sink(ANY_PORT, &plain()).unwrap();
    let mut source = connect_log_source(sink.endpoint(), &plain(), None).unwrap();
    let count = 500;
    for i in 0..count {
        let line = format!(
            "{{\"dt\": \"2026-11-25T14:00:00\", \"lvl\": \"info\", \"msg\": \"line {i}\"}}"
        );
        source
            .push(vec![b"42".to_vec(), line.into_bytes()])
            .await
            .unwrap();
    }
    within("log source close", source.close()).await.unwrap();
    for i in 0..count {
        let record = within("log record", sink.recv()).await.unwrap();
        assert_eq!(record[0], b"42");
        let line = String::from_utf8(record[1].clone()).unwrap();
        assert!(line.ends_with(&format!("\"line {i}\"}}")), "{line}");
    }
}

#[tokio::test]
async fn log_records_pushed_before_the_sink_exists_are_delivered() {
    let endpoint = format!("tcp://127.0.0.1:{}", free_port());
    let mut source = connect_log_source(&endpoint, &plain(), None).unwrap();
    source.push(frames(&["7", "early"])).await.unwrap();
    let closing = tokio::spawn(async move { source.close().await });
    let server = ZmqServer::plain();
    let mut sink = server.bind_log_sink(&endpoint, &plain()).unwrap();
    assert_eq!(
        within("early record", sink.recv()).await.unwrap(),
        frames(&["7", "early"])
    );
    within("close", closing).await.unwrap().unwrap();
}

struct Certs {
    _dir: tempfile::TempDir,
    master_dir: std::path::PathBuf,
    slave_dir: std::path::PathBuf,
}

/// LAVA's layout: master and slave certificates; `allowed.key` copied into the master's
/// directory (the allow-list), `rogue` left out.
fn certificates() -> Certs {
    let dir = tempfile::tempdir().unwrap();
    let master_dir = dir.path().join("master");
    let slave_dir = dir.path().join("slave");
    std::fs::create_dir(&master_dir).unwrap();
    std::fs::create_dir(&slave_dir).unwrap();
    create_certificates(&master_dir, "master").unwrap();
    for name in ["allowed", "rogue"] {
        create_certificates(&slave_dir, name).unwrap();
    }
    std::fs::copy(
        slave_dir.join("allowed.key"),
        master_dir.join("allowed.key"),
    )
    .unwrap();
    Certs {
        _dir: dir,
        master_dir,
        slave_dir,
    }
}

impl Certs {
    fn server(&self) -> ZmqServer {
        ZmqServer::curve(&self.master_dir.join("master.key_secret"), &self.master_dir).unwrap()
    }

    fn client(&self, name: &str) -> ClientCurve {
        ClientCurve::from_files(
            &self.slave_dir.join(format!("{name}.key_secret")),
            &self.master_dir.join("master.key"),
        )
        .unwrap()
    }
}

async fn next_decision(
    decisions: &mut tokio::sync::broadcast::Receiver<AuthDecision>,
) -> AuthDecision {
    within("a ZAP decision", decisions.recv()).await.unwrap()
}

#[tokio::test]
async fn curve_admits_listed_keys_only_and_reloads_the_list() {
    let certs = certificates();
    let server = certs.server();
    let mut decisions = server.auth_decisions().unwrap();
    let mut master = server.bind_master(ANY_PORT, &plain()).unwrap();
    let endpoint = master.endpoint().to_owned();

    let rogue_curve = certs.client("rogue");
    let mut rogue = connect_slave(&endpoint, "rogue", &plain(), Some(&rogue_curve)).unwrap();
    rogue.send(frames(&["HELLO", "rogue"])).await.unwrap();
    let refused = next_decision(&mut decisions).await;
    assert_eq!(
        (refused.key, refused.accepted),
        (*rogue_curve.key_pair.public(), false)
    );

    let allowed_curve = certs.client("allowed");
    let mut allowed = connect_slave(&endpoint, "allowed", &plain(), Some(&allowed_curve)).unwrap();
    allowed.send(frames(&["HELLO", "allowed"])).await.unwrap();
    // The rogue's HELLO was sent first and never arrives: the first message is the
    // allowed slave's.
    let (peer, got) = within("allowed HELLO", master.recv()).await.unwrap();
    assert_eq!(
        (peer.hostname().ok(), got),
        (Some("allowed"), frames(&["HELLO", "allowed"]))
    );
    master.send(&peer, frames(&["HELLO_OK"])).await.unwrap();
    assert_eq!(
        within("HELLO_OK", allowed.recv()).await.unwrap(),
        frames(&["HELLO_OK"])
    );

    // Adding the rogue's certificate admits it from its next handshake on, without
    // restarting the master. libzmq does not retry a refused handshake, so that next
    // handshake is a new connection (a restarted slave).
    std::fs::copy(
        certs.slave_dir.join("rogue.key"),
        certs.master_dir.join("rogue.key"),
    )
    .unwrap();
    drop(rogue);
    let mut rogue = connect_slave(&endpoint, "rogue", &plain(), Some(&rogue_curve)).unwrap();
    rogue.send(frames(&["HELLO", "rogue again"])).await.unwrap();
    let (peer, got) = within("rogue HELLO after reload", master.recv())
        .await
        .unwrap();
    assert_eq!(
        (peer.hostname().ok(), got),
        (Some("rogue"), frames(&["HELLO", "rogue again"]))
    );
    // The decisions seen: the allowed slave's, then the rogue's accepted one.
    loop {
        let decision = next_decision(&mut decisions).await;
        if decision.key == *rogue_curve.key_pair.public() {
            assert!(decision.accepted);
            break;
        }
    }
    drop(rogue);
}

#[tokio::test]
async fn curve_log_records_need_an_allowed_key() {
    let certs = certificates();
    let server = certs.server();
    let mut decisions = server.auth_decisions().unwrap();
    let mut sink = server.bind_log_sink(ANY_PORT, &plain()).unwrap();
    let endpoint = sink.endpoint().to_owned();

    let rogue_curve = certs.client("rogue");
    let mut rogue = connect_log_source(&endpoint, &plain(), Some(&rogue_curve)).unwrap();
    rogue.push(frames(&["1", "from rogue"])).await.unwrap();
    let refused = next_decision(&mut decisions).await;
    assert!(!refused.accepted);

    let mut source =
        connect_log_source(&endpoint, &plain(), Some(&certs.client("allowed"))).unwrap();
    source.push(frames(&["2", "from allowed"])).await.unwrap();
    within("close", source.close()).await.unwrap();
    assert_eq!(
        within("record", sink.recv()).await.unwrap(),
        frames(&["2", "from allowed"])
    );
    // The rogue source would linger forever: dropping it leaves its thread to the process.
    drop(rogue);
}

#[tokio::test]
async fn a_plain_client_cannot_talk_to_a_curve_master() {
    let certs = certificates();
    let server = certs.server();
    let mut master = server.bind_master(ANY_PORT, &plain()).unwrap();
    let endpoint = master.endpoint().to_owned();
    let mut plain_slave = connect_slave(&endpoint, "plain.example", &plain(), None).unwrap();
    plain_slave.send(frames(&["HELLO", "plain"])).await.unwrap();
    let mut allowed = connect_slave(
        &endpoint,
        "allowed",
        &plain(),
        Some(&certs.client("allowed")),
    )
    .unwrap();
    allowed.send(frames(&["HELLO", "allowed"])).await.unwrap();
    let (peer, _) = within("allowed HELLO", master.recv()).await.unwrap();
    assert_eq!(peer.hostname(), Ok("allowed"));
}

#[test]
fn certificates_from_pyzmq_layout_are_read_and_errors_name_files() {
    let certs = certificates();
    let public = read_public_key(&certs.master_dir.join("allowed.key")).unwrap();
    assert_eq!(&public, certs.client("allowed").key_pair.public());
    let err =
        ZmqServer::curve(&certs.master_dir.join("master.key"), &certs.master_dir).unwrap_err();
    assert!(err.to_string().contains("master.key"), "{err}");
    let err = ZmqServer::curve(
        &certs.master_dir.join("master.key_secret"),
        &certs.master_dir.join("nope"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[tokio::test]
async fn a_slave_queues_at_most_ten_messages() {
    let endpoint = format!("tcp://127.0.0.1:{}", free_port());
    let mut slave = connect_slave(&endpoint, "queue.example", &plain(), None).unwrap();
    for i in 0..15 {
        slave.send(frames(&["PING", &i.to_string()])).await.unwrap();
    }
    let server = ZmqServer::plain();
    let mut master = server.bind_master(&endpoint, &plain()).unwrap();
    for i in 0..10 {
        let (_, got) = within("a queued PING", master.recv()).await.unwrap();
        assert_eq!(got, frames(&["PING", &i.to_string()]));
    }
    // Once connected, a new message is the next one: PINGs 10 to 14 were dropped.
    let peer = PeerId::from("queue.example");
    master.send(&peer, frames(&["PONG", "20"])).await.unwrap();
    within("PONG", slave.recv()).await.unwrap();
    slave.send(frames(&["after"])).await.unwrap();
    assert_eq!(
        within("the next message", master.recv()).await.unwrap().1,
        frames(&["after"])
    );
}

#[tokio::test]
async fn ipv6_loopback_when_the_host_has_it() {
    let options = SocketOptions {
        ipv6: true,
        socks_proxy: None,
    };
    let server = ZmqServer::plain();
    let mut master = match server.bind_master("tcp://[::1]:0", &options) {
        Ok(master) => master,
        Err(error) => {
            eprintln!("SKIPPED: no IPv6 loopback here ({error})");
            return;
        }
    };
    let endpoint = master.endpoint().to_owned();
    assert!(endpoint.starts_with("tcp://[::1]:"), "{endpoint}");
    let mut slave = connect_slave(&endpoint, "v6.example", &options, None).unwrap();
    slave.send(frames(&["HELLO", "3"])).await.unwrap();
    let (peer, got) = within("HELLO over IPv6", master.recv()).await.unwrap();
    assert_eq!(
        (peer.hostname().ok(), got),
        (Some("v6.example"), frames(&["HELLO", "3"]))
    );
}

#[tokio::test]
async fn peers_without_identity_or_routing_frames_are_delivered_as_they_are() {
    let server = ZmqServer::plain();
    let mut master = server.bind_master(ANY_PORT, &plain()).unwrap();
    // A DEALER that sets no identity (as a 2016 slave without --hostname would): libzmq
    // names it with a NUL byte and 4 bytes, and the frames arrive without a routing frame.
    let context = zmq::Context::new();
    let dealer = context.socket(zmq::DEALER).unwrap();
    dealer.set_linger(0).unwrap();
    dealer.connect(master.endpoint()).unwrap();
    dealer.send_multipart([b"PING".as_slice()], 0).unwrap();
    let (peer, got) = within("the anonymous PING", master.recv()).await.unwrap();
    assert_eq!(got, frames(&["PING"]));
    assert_eq!(peer.as_bytes().len(), 5);
    assert_eq!(peer.as_bytes()[0], 0);
    // Shown as bytes in logs, not as text with a NUL in it.
    assert!(peer.to_string().starts_with("\\x00"), "{peer}");
    master.send(&peer, frames(&["PONG", "20"])).await.unwrap();
    let reply = tokio::task::spawn_blocking(move || dealer.recv_multipart(0).unwrap());
    assert_eq!(
        within("the PONG", reply).await.unwrap(),
        frames(&["PONG", "20"])
    );
}

#[tokio::test]
async fn many_slaves_each_get_their_own_replies() {
    const SLAVES: usize = 32;
    const MESSAGES: usize = 20;
    let server = ZmqServer::plain();
    let mut master = server.bind_master(ANY_PORT, &plain()).unwrap();
    let endpoint = master.endpoint().to_owned();
    let mut tasks = Vec::new();
    for s in 0..SLAVES {
        let endpoint = endpoint.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("worker-{s}.example");
            let mut slave = connect_slave(&endpoint, &name, &plain(), None).unwrap();
            // One message in flight per slave, as LAVA's slave does: its send queue is
            // 10 messages (SNDHWM), and libzmq drops what a burst puts beyond it.
            for m in 0..MESSAGES {
                slave.send(frames(&["PING", &m.to_string()])).await.unwrap();
                let reply = within("a reply", slave.recv()).await.unwrap();
                assert_eq!(reply, frames(&["PONG", &name, &m.to_string()]));
            }
        }));
    }
    for _ in 0..SLAVES * MESSAGES {
        let (peer, got) = within("a PING", master.recv()).await.unwrap();
        let name = peer.hostname().unwrap().to_owned();
        let m = String::from_utf8(got[1].clone()).unwrap();
        master
            .send(&peer, frames(&["PONG", &name, &m]))
            .await
            .unwrap();
    }
    for task in tasks {
        within("a slave", task).await.unwrap();
    }
}

#[tokio::test]
async fn a_closed_transport_says_so() {
    let server = ZmqServer::plain();
    let mut master = server.bind_master(ANY_PORT, &plain()).unwrap();
    let mut slave = connect_slave(master.endpoint(), "closing.example", &plain(), None).unwrap();
    master.close().await.unwrap();
    slave.close().await.unwrap();
    assert!(matches!(
        master.recv().await,
        Err(lava_transport::TransportError::Closed)
    ));
    assert!(matches!(
        master.send(&PeerId::from("x"), frames(&["PING"])).await,
        Err(lava_transport::TransportError::Closed)
    ));
    assert!(matches!(
        slave.recv().await,
        Err(lava_transport::TransportError::Closed)
    ));
    assert!(matches!(
        slave.send(frames(&["PING"])).await,
        Err(lava_transport::TransportError::Closed)
    ));
}

#[tokio::test]
async fn with_curve_a_certificate_admits_the_worker_it_names_only() {
    let certs = certificates();
    let server = certs.server();
    let mut master = server.bind_master(ANY_PORT, &plain()).unwrap();
    let endpoint = master.endpoint().to_owned();
    let allowed = certs.client("allowed");

    // The key of `allowed.key` claiming to be `victim`: every message is dropped.
    let mut impostor = connect_slave(&endpoint, "victim", &plain(), Some(&allowed)).unwrap();
    impostor.send(frames(&["HELLO", "impostor"])).await.unwrap();
    impostor.send(frames(&["PING"])).await.unwrap();

    // The same key as the worker it names gets through; the impostor's messages, sent
    // first, never arrive.
    let mut genuine = connect_slave(&endpoint, "allowed", &plain(), Some(&allowed)).unwrap();
    genuine.send(frames(&["HELLO", "genuine"])).await.unwrap();
    let (peer, got) = within("the genuine HELLO", master.recv()).await.unwrap();
    assert_eq!(
        (peer.hostname().ok(), got),
        (Some("allowed"), frames(&["HELLO", "genuine"]))
    );

    // A second connection claiming a connected worker's identity does not take its route
    // over under CURVE: the master's answer still reaches the first.
    let mut second = connect_slave(&endpoint, "allowed", &plain(), Some(&allowed)).unwrap();
    second.send(frames(&["PING"])).await.unwrap();
    genuine.send(frames(&["PING"])).await.unwrap();
    let (peer, got) = within("the genuine PING", master.recv()).await.unwrap();
    assert_eq!(got, frames(&["PING"]));
    master.send(&peer, frames(&["PONG", "20"])).await.unwrap();
    assert_eq!(
        within("PONG to the genuine slave", genuine.recv())
            .await
            .unwrap(),
        frames(&["PONG", "20"])
    );
    // LAVA's lava-logs uses the master's key pair as `lava-logs`: any admitted key may.
    let mut logs = connect_slave(&endpoint, "lava-logs", &plain(), Some(&allowed)).unwrap();
    logs.send(frames(&["PING"])).await.unwrap();
    let (peer, got) = within("lava-logs' PING", master.recv()).await.unwrap();
    assert_eq!(
        (peer.hostname().ok(), got),
        (Some("lava-logs"), frames(&["PING"]))
    );
    drop((impostor, second, logs));
}
