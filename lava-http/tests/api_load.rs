//! Issue 15: whatever one client sends, `system.version` from another client is answered
//! while the load is in flight.
//!
//! The load client (127.0.0.1) opens more connections than it may, leaves some half-sent
//! (headers and bodies that never finish), and keeps sending `scheduler.jobs.validate` with
//! a 1 MB definition of 100,000 keys and `system.listMethods` wrapped in 100,000 XML
//! elements. Meanwhile a second client (127.0.0.2) calls `system.version` again and again.
//! The test counts; it asserts no duration: every probe is answered with 2020.05 while
//! large requests are still being handled, connections beyond the limit are closed, and
//! the large requests themselves are all answered (none lost, refusals counted). The
//! latencies seen are printed (`--nocapture`) for the record.

mod api_support;

use api_support::new_lab;
use lava_http::codec::{parse_response, write_method_call};
use lava_http::{Api, Limits, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const PROBES: usize = 30;
const HEAVY_CLIENTS: usize = 6;
const PER_CLIENT: usize = 16;

async fn connect_from(source: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{source}:0").parse().expect("an address"))?;
    socket.connect(to).await
}

fn request(body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "POST /RPC2 HTTP/1.1\r\nHost: lava\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Sends one request on a new connection and returns the response body, or `None` when
/// the connection was closed without an answer.
async fn call(source: &str, to: SocketAddr, body: &[u8]) -> Option<String> {
    let mut stream = connect_from(source, to).await.ok()?;
    stream.write_all(&request(body)).await.ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.ok()?;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (_, body) = text.split_once("\r\n\r\n")?;
    Some(body.to_owned())
}

fn big_definition() -> String {
    let keys: String = (0..100_000).map(|i| format!("  k{i}: v\n")).collect();
    format!(
        "job_name: big\ndevice_type: qemu\nvisibility: public\ntimeouts: {{job: {{minutes: 5}}}}\n\
         actions: [{{command: {{name: x}}}}]\nmetadata:\n{keys}"
    )
}

fn many_elements() -> Vec<u8> {
    // 100,000 nested-free elements: an array of ints, one over the parser's cap.
    let items: String = (0..50_000)
        .map(|i| format!("<value><int>{i}</int></value>"))
        .collect();
    format!(
        "<?xml version=\"1.0\"?><methodCall><methodName>system.listMethods</methodName>\
         <params><param><value><array><data>{items}</data></array></value></param></params></methodCall>"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_version_is_answered_under_one_clients_load() {
    let dir = tempfile::tempdir().unwrap();
    let lab = new_lab(dir.path()).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = Limits {
        connections_per_client: PER_CLIENT,
        large_requests: 1,
        large_request_wait: Duration::from_secs(600),
        body_timeout: Duration::from_secs(600),
        ..Limits::default()
    };
    tokio::spawn(Api::with_limits(lab, limits).serve(listener));

    // Half-sent requests hold connections: headers that never end, bodies that never end.
    let mut held = Vec::new();
    let mut refused = 0;
    for n in 0..PER_CLIENT * 3 {
        let Ok(mut stream) = connect_from("127.0.0.1", addr).await else {
            refused += 1;
            continue;
        };
        let partial: &[u8] = if n % 2 == 0 {
            b"POST /RPC2 HTTP/1.1\r\nHost: lava\r\n"
        } else {
            b"POST /RPC2 HTTP/1.1\r\nHost: lava\r\nContent-Length: 1000000\r\n\r\n<?xml"
        };
        if stream.write_all(partial).await.is_err() {
            refused += 1;
            continue;
        }
        held.push(stream);
    }
    // The server closes the connections over the limit: reading them ends at once.
    let mut closed = 0;
    for stream in &mut held {
        let mut byte = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(200), stream.read(&mut byte)).await
        {
            closed += 1;
        }
    }
    let over_limit = refused + closed;
    // Free a few of the load client's slots for its large requests.
    held.truncate(PER_CLIENT - HEAVY_CLIENTS);

    // Large requests, back to back, from the same client.
    let stop = Arc::new(AtomicBool::new(false));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let busy = Arc::new(AtomicUsize::new(0));
    let validate = write_method_call(
        "scheduler.jobs.validate",
        &[Value::String(big_definition())],
    )
    .into_bytes();
    let elements = many_elements();
    let mut heavy = Vec::new();
    for n in 0..HEAVY_CLIENTS {
        let body = if n % 2 == 0 {
            validate.clone()
        } else {
            elements.clone()
        };
        let (stop, in_flight, answered, busy) = (
            stop.clone(),
            in_flight.clone(),
            answered.clone(),
            busy.clone(),
        );
        heavy.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                in_flight.fetch_add(1, Ordering::SeqCst);
                let answer = call("127.0.0.1", addr, &body).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                // A connection closed unanswered: the client is at its connection limit
                // (a slot frees when the server has seen a close). Try again.
                let Some(answer) = answer else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                if answer.contains("the server is busy") {
                    busy.fetch_add(1, Ordering::SeqCst);
                } else {
                    assert!(answer.contains("methodResponse"), "{answer}");
                }
                answered.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    // Let the large requests start.
    while in_flight.load(Ordering::SeqCst) < HEAVY_CLIENTS {
        tokio::task::yield_now().await;
    }

    let version = write_method_call("system.version", &[]).into_bytes();
    let mut latencies = Vec::new();
    let mut under_load = 0;
    for _ in 0..PROBES {
        let started = Instant::now();
        let answer = call("127.0.0.2", addr, &version)
            .await
            .expect("system.version got no answer");
        latencies.push(started.elapsed());
        let value = parse_response(answer.as_bytes())
            .expect("a methodResponse")
            .expect("not a fault");
        assert_eq!(value, Value::String("2020.05".into()));
        if in_flight.load(Ordering::SeqCst) > 0 {
            under_load += 1;
        }
    }
    stop.store(true, Ordering::SeqCst);
    for task in heavy {
        task.await.unwrap();
    }
    drop(held);

    latencies.sort();
    eprintln!(
        "system.version under load: {PROBES} probes, {under_load} while large requests were in \
         flight; latency median {:?}, max {:?}; large requests answered {} ({} told busy); \
         connections over the limit closed {over_limit}",
        latencies[PROBES / 2],
        latencies[PROBES - 1],
        answered.load(Ordering::SeqCst),
        busy.load(Ordering::SeqCst),
    );
    assert_eq!(under_load, PROBES, "the load ended before the probes did");
    assert_eq!(over_limit, PER_CLIENT * 2, "connections beyond the limit");
}
