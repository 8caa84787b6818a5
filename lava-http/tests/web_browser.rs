//! The web pages in a real browser: Debian's chromium, headless, driven through
//! chromium-driver (W3C WebDriver over HTTP). Each page's content is read as the browser
//! shows it, a running job's log must grow on its page while lava-run's lines arrive, and a
//! job name with a script tag must show as text (an alert would stop every later command).
//! A screenshot of each page is kept in `target/web-screenshots/`.
//!
//! Needs `chromium` and `chromium-driver` (scripts/setup.sh installs them); without them the
//! test fails and says so.

mod api_support;

use api_support::{definition, s, Lab, BOB};
use base64::Engine;
use lava_core::model::{DeviceState, JobHealth, JobState};
use lava_http::Value;
use serde_json::{json, Value as Json};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const HOSTILE: &str = "<script>alert(1)</script>";

/// One WebDriver session of a chromedriver process (killed on drop).
struct Browser {
    driver: tokio::process::Child,
    port: u16,
    session: String,
    shots: PathBuf,
    _profile: tempfile::TempDir,
}

/// Sends one HTTP request to chromedriver and reads its JSON answer.
async fn request(port: u16, method: &str, path: &str, body: Option<&Json>) -> Json {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let body = body.map(Json::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    // chromedriver keeps the connection open: read the head, then Content-Length bytes.
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let (head_len, length) = loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "chromedriver closed the connection early");
        raw.extend_from_slice(&buf[..n]);
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .expect("a Content-Length");
            break (end + 4, length);
        }
    };
    while raw.len() < head_len + length {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "chromedriver closed the connection early");
        raw.extend_from_slice(&buf[..n]);
    }
    let body = String::from_utf8_lossy(&raw[head_len..head_len + length]).into_owned();
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("chromedriver answered {body}: {e}"))
}

impl Browser {
    async fn start() -> Browser {
        for program in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(program).exists(),
                "{program} is missing: install Debian's chromium and chromium-driver (scripts/setup.sh)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,1000",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let answer = request(port, "POST", "/session", Some(&capabilities)).await;
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {answer}"))
            .to_owned();
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
        let shots = target.join("web-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Browser {
            driver,
            port,
            session,
            shots,
            _profile: profile,
        }
    }

    async fn command(&self, method: &str, path: &str, body: Option<&Json>) -> Json {
        let answer = request(
            self.port,
            method,
            &format!("/session/{}{path}", self.session),
            body,
        )
        .await;
        assert!(
            answer["value"].get("error").is_none(),
            "WebDriver {path}: {answer}"
        );
        answer["value"].clone()
    }

    async fn open(&self, url: &str) {
        self.command("POST", "/url", Some(&json!({"url": url})))
            .await;
    }

    async fn script(&self, script: &str) -> Json {
        self.command(
            "POST",
            "/execute/sync",
            Some(&json!({"script": script, "args": []})),
        )
        .await
    }

    async fn text(&self) -> String {
        self.script("return document.body.innerText;")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn screenshot(&self, name: &str) {
        let shot = self.command("GET", "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot.as_str().expect("base64 PNG"))
            .unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    async fn close(mut self) {
        let _ = request(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        )
        .await;
        let _ = self.driver.kill().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_in_chromium_and_a_live_log_that_grows() {
    let lab = Lab::start().await;
    lab.seed().await;
    let Value::Int(running) = lab
        .ok(
            BOB,
            "scheduler.jobs.submit",
            &[s(&definition(&format!("'{HOSTILE}'"), "public"))],
        )
        .await
    else {
        panic!()
    };
    lab.set_job_state(
        running,
        JobState::Running,
        JobHealth::Unknown,
        Some("qemu01"),
    )
    .await;
    let mut device = lab.lab.device("qemu01").await.unwrap();
    device.state = DeviceState::Running;
    lab.lab
        .store()
        .apply(&lava_store::ChangeSet::new().device(device))
        .await
        .unwrap();
    lab.append_logs(
        running,
        &[r#"{"dt": "2020-05-01T00:00:01", "lvl": "info", "msg": "first line <b>bold?</b>"}"#],
    )
    .await;
    let Value::Int(queued) = lab
        .ok(
            BOB,
            "scheduler.jobs.submit",
            &[s(&definition("waiting-job", "public"))],
        )
        .await
    else {
        panic!()
    };

    let browser = Browser::start().await;
    let base = format!("http://{}", lab.addr);
    let pages = [
        (
            "index",
            "/scheduler/",
            vec!["Workers", "w1", "qemu01", "zmq"],
        ),
        (
            "alljobs",
            "/scheduler/alljobs",
            vec!["waiting-job", HOSTILE],
        ),
        ("queue", "/scheduler/queue", vec!["waiting-job", "busy"]),
        (
            "alldevices",
            "/scheduler/alldevices",
            vec!["qemu01", "Running"],
        ),
        (
            "allworkers",
            "/scheduler/allworkers",
            vec!["w1", "zmq", "Offline"],
        ),
        (
            "device",
            "/scheduler/device/qemu01",
            vec!["Health checks", "w1"],
        ),
        ("worker", "/scheduler/worker/w1", vec!["qemu01", "Protocol"]),
        (
            "queued-job",
            &format!("/scheduler/job/{queued}"),
            vec!["Why it waits", "busy"],
        ),
        ("not-found", "/scheduler/job/424242", vec!["Not found"]),
    ];
    for (name, path, expected) in &pages {
        browser.open(&format!("{base}{path}")).await;
        let text = browser.text().await;
        for e in expected {
            assert!(text.contains(e), "{path}: '{e}' not shown:\n{text}");
        }
        browser.screenshot(name).await;
    }

    // The running job: its name and log are text, and its log follows new lines.
    browser
        .open(&format!("{base}/scheduler/job/{running}"))
        .await;
    let name = browser
        .script("return document.getElementById('job-name').textContent;")
        .await;
    assert_eq!(name, json!(HOSTILE));
    let rows = "return document.querySelectorAll('#log tr').length;";
    assert_eq!(browser.script(rows).await, json!(2), "header and one line");
    lab.append_logs(
        running,
        &[
            r#"{"dt": "2020-05-01T00:00:02", "lvl": "info", "msg": "second line <script>alert(3)</script>"}"#,
            r#"{"dt": "2020-05-01T00:00:03", "lvl": "target", "msg": "login:"}"#,
        ],
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = browser.text().await;
        if text.contains("second line <script>alert(3)</script>") && text.contains("login:") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the live log did not grow:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(browser.script(rows).await, json!(4));
    browser.screenshot("running-job").await;
    browser.close().await;
}
