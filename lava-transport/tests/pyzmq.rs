//! Interoperability with pyzmq, the library LAVA's daemons and lava-run use.
//!
//! * `fixtures/pyzmq/` holds certificates written by pyzmq 27.3's
//!   `zmq.auth.create_certificates` (`worker` with metadata): they must read as pyzmq reads them.
//! * The live tests run a Python with pyzmq: `$LAVA_RS_PYTHON` if set, else `python3`.
//!   Without pyzmq they say so on stderr and pass; CI should provide it (`python3 -m venv
//!   v && v/bin/pip install pyzmq`, then `LAVA_RS_PYTHON=v/bin/python`).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use lava_transport::curve::{
    create_certificates, read_certificate, read_key_pair, read_public_key,
};
use lava_transport::zeromq::{connect_slave, ClientCurve, SocketOptions, ZmqServer};
use lava_transport::{LogSink, SlaveTransport};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pyzmq")
        .join(name)
}

#[test]
fn certificates_written_by_pyzmq_are_read() {
    // The keys pyzmq's load_certificate returned for these files.
    let master = read_key_pair(&fixture("master.key_secret")).unwrap();
    assert_eq!(
        master.public().to_z85(),
        "qSNXiG=0ZyH{I[e?7v*Sie)A?V9Ayn8^3/>&=*5."
    );
    assert_eq!(
        master.secret().to_z85(),
        "5/Q}^Xx]>t?NI0qs$2$#m6D6/81[REUq*kYzcLYk"
    );
    assert_eq!(
        read_public_key(&fixture("master.key")).unwrap(),
        *master.public()
    );

    let worker = read_certificate(&fixture("worker.key_secret")).unwrap();
    assert_eq!(
        worker.public.to_z85(),
        "5>nPsRtY$FXoc{G]UdajjR(#pxF[}KOtP&Fo?MML"
    );
    assert_eq!(
        worker.secret.map(|s| s.to_z85()).as_deref(),
        Some("x4Bl55m!f$B-uYgf]G[MvLtWsaFiT4!%if/exv^+")
    );
    assert_eq!(
        worker.metadata,
        vec![("hostname".to_owned(), "worker-1".to_owned())]
    );
    assert!(read_certificate(&fixture("worker.key"))
        .unwrap()
        .secret
        .is_none());
    // A public certificate is not a key pair, and the error says which file.
    let err = read_key_pair(&fixture("worker.key")).unwrap_err();
    assert!(err.to_string().contains("worker.key"), "{err}");
}

/// A Python interpreter with pyzmq, or `None` (after saying so) to skip.
fn python() -> Option<PathBuf> {
    let python =
        std::env::var_os("LAVA_RS_PYTHON").map_or_else(|| PathBuf::from("python3"), PathBuf::from);
    let ok = std::process::Command::new(&python)
        .args(["-c", "import zmq, zmq.auth"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if ok {
        Some(python)
    } else {
        eprintln!(
            "SKIPPED: {} has no pyzmq; set LAVA_RS_PYTHON to a Python with pyzmq to run this test",
            python.display()
        );
        None
    }
}

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(30), future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

#[test]
fn pyzmq_reads_our_certificates() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (public, secret) = create_certificates(dir.path(), "slave").unwrap();
    let pair = read_key_pair(&secret).unwrap();
    let script = "import sys, zmq.auth\n\
                  for path in sys.argv[1:]:\n\
                  \x20   public, secret = zmq.auth.load_certificate(path)\n\
                  \x20   print(public.decode(), secret.decode() if secret else '-')\n\
                  print(len(zmq.auth.load_certificates(sys.argv[1].rsplit('/', 1)[0])))\n";
    let output = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&public)
        .arg(&secret)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let public_z85 = pair.public().to_z85();
    assert_eq!(lines[0], format!("{public_z85} -"));
    assert_eq!(lines[1], format!("{public_z85} {}", pair.secret().to_z85()));
    // load_certificates (what LAVA's authenticator uses) finds the one public key.
    assert_eq!(lines[2], "1");
}

/// The setup of LAVA's documentation: master and slave certificates, the slave's public
/// one copied into the master's allow-list directory.
fn lava_certificates(dir: &Path) -> (PathBuf, PathBuf) {
    let allow = dir.join("master");
    let slave_dir = dir.join("slave");
    std::fs::create_dir(&allow).unwrap();
    std::fs::create_dir(&slave_dir).unwrap();
    create_certificates(&allow, "master").unwrap();
    create_certificates(&slave_dir, "slave").unwrap();
    std::fs::copy(slave_dir.join("slave.key"), allow.join("slave.key")).unwrap();
    (allow, slave_dir)
}

#[tokio::test]
async fn a_pyzmq_log_handler_pushes_into_our_curve_sink() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (allow, slave_dir) = lava_certificates(dir.path());
    let server = ZmqServer::curve(&allow.join("master.key_secret"), &allow).unwrap();
    let mut sink = server
        .bind_log_sink("tcp://127.0.0.1:0", &SocketOptions::default())
        .unwrap();
    // What lava-run's log handler does with --master-cert and --slave-cert.
    let script = "import sys, zmq, zmq.auth\n\
                  url, master_cert, slave_cert = sys.argv[1:4]\n\
                  ctx = zmq.Context()\n\
                  sock = ctx.socket(zmq.PUSH)\n\
                  sock.curve_publickey, sock.curve_secretkey = zmq.auth.load_certificate(slave_cert)\n\
                  sock.curve_serverkey = zmq.auth.load_certificate(master_cert)[0]\n\
                  sock.connect(url)\n\
                  for i in range(3):\n\
                  \x20   sock.send_multipart([b'9', ('{\"lvl\": \"info\", \"msg\": \"%d\"}' % i).encode()])\n\
                  ctx.destroy(linger=-1)\n";
    let mut child = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(sink.endpoint())
        .arg(allow.join("master.key"))
        .arg(slave_dir.join("slave.key_secret"))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    for i in 0..3 {
        let frames = within("a record from pyzmq", sink.recv()).await.unwrap();
        assert_eq!(frames[0], b"9");
        assert_eq!(
            frames[1],
            format!("{{\"lvl\": \"info\", \"msg\": \"{i}\"}}").into_bytes()
        );
    }
    assert!(within("python to exit", child.wait())
        .await
        .unwrap()
        .success());
}

#[tokio::test]
async fn our_slave_talks_to_a_pyzmq_master_with_lavas_authenticator() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (allow, slave_dir) = lava_certificates(dir.path());
    // lava-master's control socket: ROUTER, identity master, handover, CURVE server
    // with pyzmq's ThreadAuthenticator on the certificate directory.
    let script = "import sys, zmq, zmq.auth\n\
                  from zmq.auth.thread import ThreadAuthenticator\n\
                  ctx = zmq.Context()\n\
                  auth = ThreadAuthenticator(ctx)\n\
                  auth.start()\n\
                  auth.configure_curve(domain='*', location=sys.argv[2])\n\
                  sock = ctx.socket(zmq.ROUTER)\n\
                  sock.setsockopt(zmq.IDENTITY, b'master')\n\
                  sock.setsockopt(zmq.ROUTER_HANDOVER, 1)\n\
                  sock.curve_publickey, sock.curve_secretkey = zmq.auth.load_certificate(sys.argv[1])\n\
                  sock.curve_server = True\n\
                  port = sock.bind_to_random_port('tcp://127.0.0.1')\n\
                  print(port, flush=True)\n\
                  peer, *frames = sock.recv_multipart()\n\
                  sock.send_multipart([peer, b'HELLO_OK', peer] + frames)\n\
                  sock.close(linger=-1)\n\
                  auth.stop()\n\
                  ctx.term()\n";
    let mut child = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(allow.join("master.key_secret"))
        .arg(&allow)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let port = within("the port", BufReader::new(stdout).lines().next_line())
        .await
        .unwrap()
        .unwrap();
    let curve = ClientCurve::from_files(
        &slave_dir.join("slave.key_secret"),
        &allow.join("master.key"),
    )
    .unwrap();
    let mut slave = connect_slave(
        &format!("tcp://127.0.0.1:{port}"),
        "worker-1.example",
        &SocketOptions::default(),
        Some(&curve),
    )
    .unwrap();
    slave
        .send(vec![b"HELLO".to_vec(), b"3".to_vec(), b"2020.05".to_vec()])
        .await
        .unwrap();
    let reply = within("HELLO_OK", slave.recv()).await.unwrap();
    let expected: Vec<Vec<u8>> = ["HELLO_OK", "worker-1.example", "HELLO", "3", "2020.05"]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    assert_eq!(reply, expected);
    assert!(within("python to exit", child.wait())
        .await
        .unwrap()
        .success());
}
