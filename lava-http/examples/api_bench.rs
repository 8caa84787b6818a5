//! Rough throughput figures for the XML-RPC API over a real lab (an in-memory store and a
//! temporary directory).
//!
//! `cargo run --release -p lava-http --example api_bench [REQUESTS]` prints, for a
//! lavacli-sized request mix: codec parse rate, in-process `Api::handle` rate, and loopback
//! HTTP rates (keep-alive, 1 and 8 clients). Figures only: nothing here is asserted.

use lava_http::auth::basic_header;
use lava_http::codec::{parse_method_call, write_method_call};
use lava_http::{Api, Value};
use lava_lab::{Lab, LabConfig, LabPaths};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn definition(n: usize) -> String {
    format!(
        "job_name: bench {n}\ndevice_type: qemu\nvisibility: public\ntimeouts:\n  job: {{minutes: 10}}\nactions:\n{}",
        "- deploy: {to: tmpfs, images: {rootfs: {url: 'https://example.invalid/rootfs.img.gz', compression: gz}}}\n".repeat(16)
    )
}

async fn http_client(
    addr: std::net::SocketAddr,
    body: Arc<String>,
    auth: Arc<String>,
    count: usize,
) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let mut stream = BufReader::new(stream);
    for _ in 0..count {
        let request = format!(
            "POST /RPC2 HTTP/1.1\r\nHost: bench\r\nContent-Type: text/xml\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .expect("write");
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            stream.read_line(&mut line).await.expect("read");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().expect("length");
            }
        }
        let mut response = vec![0; length];
        stream.read_exact(&mut response).await.expect("body");
    }
}

#[tokio::main]
async fn main() {
    let requests: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let lab = Lab::new(
        Arc::new(lava_store::MemoryStore::new()),
        LabConfig::new(LabPaths::under(dir.path())),
    )
    .expect("a lab");
    lab.add_user("admin", true, "").await.expect("a user");
    lab.store()
        .add_token("admin", "token", "bench", lab.now())
        .await
        .expect("a token");
    let api = Api::new(Arc::new(lab));
    let auth = basic_header("admin", "token");
    let call = |m: &str, p: &[Value]| write_method_call(m, p);
    api.handle(
        Some(auth.as_bytes()),
        call("scheduler.workers.add", &[Value::str("w1")]).as_bytes(),
    )
    .await;
    api.handle(
        Some(auth.as_bytes()),
        call(
            "scheduler.device_types.add",
            &[
                Value::str("qemu"),
                Value::Nil,
                Value::Bool(true),
                Value::Bool(false),
                Value::Int(24),
                Value::str("hours"),
            ],
        )
        .as_bytes(),
    )
    .await;
    for n in 0..200 {
        api.handle(
            Some(auth.as_bytes()),
            call("scheduler.jobs.submit", &[Value::str(definition(n))]).as_bytes(),
        )
        .await;
    }

    let submit = call("scheduler.jobs.submit", &[Value::str(definition(0))]);
    let start = Instant::now();
    for _ in 0..requests {
        parse_method_call(submit.as_bytes()).expect("parses");
    }
    let rate = requests as f64 / start.elapsed().as_secs_f64();
    println!(
        "codec: parse a {}-byte jobs.submit call: {rate:.0}/s",
        submit.len()
    );

    let show = call("scheduler.jobs.show", &[Value::str("100")]);
    let start = Instant::now();
    for _ in 0..requests {
        api.handle(Some(auth.as_bytes()), show.as_bytes()).await;
    }
    let rate = requests as f64 / start.elapsed().as_secs_f64();
    println!("in process: scheduler.jobs.show: {rate:.0}/s");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(api.clone().serve(listener));
    let body = Arc::new(show);
    let auth = Arc::new(auth);
    for clients in [1usize, 8] {
        let start = Instant::now();
        let per = requests / clients;
        let tasks: Vec<_> = (0..clients)
            .map(|_| tokio::spawn(http_client(addr, body.clone(), auth.clone(), per)))
            .collect();
        for t in tasks {
            t.await.expect("client");
        }
        let rate = (per * clients) as f64 / start.elapsed().as_secs_f64();
        println!("HTTP keep-alive, {clients} client(s): scheduler.jobs.show: {rate:.0}/s");
    }
}
