//! lava-worker's API against a real lava-master process (release build, SQLite store,
//! 127.0.0.1):
//!
//! * `polls/ping`: 5,000 registered workers ping in turn over keep-alive connections, as
//!   lava-worker does. The figure is the **master's CPU time per ping** (read from
//!   `/proc/<pid>/stat`, not the wall clock): at one ping per worker every 20 s, 5,000
//!   workers make 250 pings a second, so the master's share of one core is 250 × that.
//! * `logs/http` and `logs/zmq`: one job's log records into `output.yaml`, 1,000 per
//!   iteration — over HTTP as lava-run 2023.01 sends them (one form of 1,000 records, the
//!   answer after they are written), and over the ZeroMQ log socket as lava-run 2020.05
//!   pushes them (the iteration ends when the master has written the last one). Criterion
//!   prints both as records per second, side by side.
//!
//! The bench builds `lava-master` (release) first; run with
//! `cargo bench -p lava-benches --bench worker_http`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lava_core::worker_http::batch::join_records;
use lava_core::worker_http::form::Form;
use lava_lab::{Lab, LabConfig, LabPaths, NewWorker};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WORKERS: usize = 5_000;
const CONNECTIONS: usize = 50;
const BATCH: usize = 1_000;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// Builds lava-master (optimized, as this bench) and returns its path.
fn lava_master() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = Command::new(option_env!("CARGO").unwrap_or("cargo"))
        // The bench profile: the same compiled crates as this bench, in target/release.
        .args([
            "build",
            "--profile",
            "bench",
            "-p",
            "lava-bins",
            "--bin",
            "lava-master",
        ])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .status()
        .expect("cannot run cargo build");
    assert!(status.success(), "cargo build of lava-master failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    target.join("release/lava-master")
}

struct Master {
    child: Child,
    http: String,
    logs: String,
    _dir: tempfile::TempDir,
}

impl Drop for Master {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Master {
    /// A master over a lab prepared by `prepare` (run before it starts).
    fn start(prepare: impl FnOnce(&Lab, &tokio::runtime::Runtime)) -> Master {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().to_path_buf();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        {
            let store = rt
                .block_on(lava_lab::open_store(
                    data.join("lava.sqlite3").to_str().unwrap_or_default(),
                    false,
                ))
                .expect("store");
            let lab = Lab::new(store, LabConfig::new(LabPaths::under(&data))).expect("lab");
            prepare(&lab, &rt);
        }
        let (http, control, logs) = (free_port(), free_port(), free_port());
        let child = Command::new(lava_master())
            .arg("--data-dir")
            .arg(&data)
            .args(["--http", &format!("127.0.0.1:{http}")])
            .args(["--master-socket", &format!("tcp://127.0.0.1:{control}")])
            .args(["--log-socket", &format!("tcp://127.0.0.1:{logs}")])
            .args(["--level", "WARN", "--log-file"])
            .arg(data.join("master.log"))
            .stdin(Stdio::null())
            .spawn()
            .expect("cannot start lava-master");
        let master = Master {
            child,
            http: format!("127.0.0.1:{http}"),
            logs: format!("tcp://127.0.0.1:{logs}"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(&master.http).is_err() {
            assert!(Instant::now() < deadline, "lava-master did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        // Until every worker is set Offline the master answers 503: wait for a real answer.
        std::thread::sleep(Duration::from_millis(1500));
        master
    }

    /// The master's CPU time so far (user + system).
    fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("/proc/<pid>/stat");
        // Fields after the command name (which may hold spaces) start after ") ".
        let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
        let fields: Vec<&str> = rest.split(' ').collect();
        let ticks: u64 =
            fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
        // SAFETY: sysconf only reads a system constant.
        let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
            .ok()
            .filter(|hz| *hz > 0)
            .unwrap_or(100);
        Duration::from_micros(ticks * 1_000_000 / hz)
    }
}

/// One HTTP/1.1 keep-alive connection.
struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn open(addr: &str) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Conn {
            reader: BufReader::new(stream),
        }
    }

    /// Sends a request and reads the answer: status and body.
    fn call(&mut self, method: &str, path: &str, token: &str, body: &str) -> (u16, String) {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: lava\r\nUser-Agent: lava-worker 2023.01\r\nLAVA-Token: {token}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let stream = self.reader.get_mut();
        stream.write_all(head.as_bytes()).expect("send");
        stream.write_all(body.as_bytes()).expect("send");
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((name, value)) = l.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}

fn polls(c: &mut Criterion) {
    let mut workers: Vec<(String, String)> = Vec::with_capacity(WORKERS);
    let master = Master::start(|lab, rt| {
        rt.block_on(async {
            for i in 0..WORKERS {
                let name = format!("worker-{i:04}");
                lab.add_worker(&NewWorker::named(&name)).await.expect("add");
                let token = lab.worker_token(&name).await.expect("token");
                workers.push((name, token));
            }
        })
    });
    let mut conns: Vec<Conn> = (0..CONNECTIONS).map(|_| Conn::open(&master.http)).collect();
    // First contact: every worker comes online (a store write each), not measured.
    let mut next = 0usize;
    let mut ping = |conns: &mut Vec<Conn>| {
        let (name, token) = &workers[next % WORKERS];
        let conn = &mut conns[next % CONNECTIONS];
        next += 1;
        let (status, _) = conn.call(
            "GET",
            &format!("/scheduler/internal/v1/workers/{name}/?version=2023.01"),
            token,
            "",
        );
        assert_eq!(status, 200, "ping of {name}");
    };
    for _ in 0..WORKERS {
        ping(&mut conns);
    }
    let mut group = c.benchmark_group("polls");
    group.sample_size(20);
    group.bench_function("ping (master CPU per ping, 5,000 workers)", |b| {
        b.iter_custom(|iters| {
            let before = master.cpu();
            for _ in 0..iters {
                ping(&mut conns);
            }
            master.cpu().saturating_sub(before)
        })
    });
    group.finish();
}

/// A typical lava-run record (about 110 bytes), numbered.
fn record(n: u64) -> String {
    format!(
        r#"{{"dt": "2023-01-01T10:00:00.{:06}", "lvl": "debug", "msg": ">> line {n} of the test's output, as lava-run logs it"}}"#,
        n % 1_000_000
    )
}

fn log_lines(dir: &Path) -> u64 {
    std::fs::metadata(dir.join("output.idx")).map_or(0, |m| m.len() / 8)
}

fn logs(c: &mut Criterion) {
    const JOB: &str = "device_type: shell\njob_name: bench\nvisibility: public\ntimeouts:\n  job:\n    minutes: 5\nactions:\n- command:\n    name: hello\n";
    let mut jobs = Vec::new();
    let mut token = String::new();
    let mut dirs = Vec::new();
    let master = Master::start(|lab, rt| {
        rt.block_on(async {
            lab.add_device_type(&lava_lab::NewDeviceType::named("shell"))
                .await
                .expect("device type");
            lava_benches::add_idle_device(lab, "shell01", "shell")
                .await
                .expect("device");
            for _ in 0..2 {
                let id = lab.submit(JOB, "bench").await.expect("submit").ids[0];
                let job = lab.job(id).await.expect("job");
                dirs.push(lab.job_output_dir(&job).await.expect("dir"));
                jobs.push(id);
            }
            token = lab.job_token(jobs[0]).await.expect("token");
        })
    });
    let mut group = c.benchmark_group("logs");
    group.sample_size(20);
    group.throughput(Throughput::Elements(BATCH as u64));

    // HTTP: one form of 1,000 records per iteration, as lava-run 2023.01 sends them.
    let mut conn = Conn::open(&master.http);
    let path = format!("/scheduler/internal/v1/jobs/{}/logs/", jobs[0]);
    let mut sent = 0u64;
    group.bench_function("http (lava-run 2023.01, batches of 1,000)", |b| {
        b.iter(|| {
            let records: Vec<String> = (sent..sent + BATCH as u64).map(record).collect();
            let body = Form::encode([
                ("lines", join_records(&records).as_str()),
                ("index", sent.to_string().as_str()),
            ]);
            let (status, answer) = conn.call("POST", &path, &token, &body);
            assert_eq!(status, 200, "{answer}");
            sent += BATCH as u64;
        })
    });
    assert_eq!(log_lines(&dirs[0]), sent, "every record written once");

    // ZeroMQ: lava-run 2020.05 pushes [job id, record] to the log socket.
    let ctx = zmq::Context::new();
    let push = ctx.socket(zmq::PUSH).expect("socket");
    push.set_sndhwm(0).expect("hwm");
    push.connect(&master.logs).expect("connect");
    let id = jobs[1].to_string();
    let mut pushed = 0u64;
    group.bench_function("zmq (lava-run 2020.05, one record per message)", |b| {
        b.iter(|| {
            for n in pushed..pushed + BATCH as u64 {
                push.send_multipart([id.as_bytes(), record(n).as_bytes()], 0)
                    .expect("push");
            }
            pushed += BATCH as u64;
            let deadline = Instant::now() + Duration::from_secs(60);
            while log_lines(&dirs[1]) < pushed {
                assert!(
                    Instant::now() < deadline,
                    "the master did not write the records"
                );
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, polls, logs);
criterion_main!(benches);
