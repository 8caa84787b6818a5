//! A test lab: the API over a real lab (an in-memory store and a temporary directory) on a
//! free loopback port, and a tiny HTTP client.

#![allow(dead_code)] // each test file uses part of it

use lava_http::auth::basic_header;
use lava_http::codec::{parse_response, write_method_call};
use lava_http::{Api, Fault, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An admin with a token.
pub const ADMIN: Option<(&str, &str)> = Some(("admin", "admin-token"));
/// A plain user with a token.
pub const BOB: Option<(&str, &str)> = Some(("bob", "bob-token"));
/// Another plain user.
pub const EVE: Option<(&str, &str)> = Some(("eve", "eve-token"));
/// No credentials.
pub const ANON: Option<(&str, &str)> = None;

/// A running API server over a lab in a temporary directory.
pub struct Lab {
    pub lab: Arc<lava_lab::Lab>,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

/// An HTTP response: status, headers (lower-case names) and body.
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Lab {
    /// Starts a server with the default body limit.
    pub async fn start() -> Lab {
        Self::start_with(|api| api).await
    }

    /// Starts a server after adjusting the API.
    pub async fn start_with(adjust: impl FnOnce(Api) -> Api) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let lab = new_lab(dir.path()).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let api = adjust(Api::new(lab.clone()));
        tokio::spawn(api.serve(listener));
        Lab { lab, addr, dir }
    }

    /// Sends one HTTP request and reads the whole response.
    pub async fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> HttpResponse {
        let mut stream = TcpStream::connect(self.addr).await.unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        // The server may answer (and close) before reading a body it refuses.
        let _ = stream.write_all(body).await;
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        HttpResponse {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    /// POSTs a raw body to /RPC2 as `who`.
    pub async fn post(&self, who: Option<(&str, &str)>, body: &[u8]) -> HttpResponse {
        let mut headers = vec![("Content-Type", "text/xml".to_owned())];
        if let Some((user, token)) = who {
            headers.push(("Authorization", basic_header(user, token)));
        }
        self.http("POST", "/RPC2", &headers, body).await
    }

    /// Calls a method as `who`: its value or its fault.
    pub async fn call(
        &self,
        who: Option<(&str, &str)>,
        method: &str,
        params: &[Value],
    ) -> Result<Value, Fault> {
        let response = self
            .post(who, write_method_call(method, params).as_bytes())
            .await;
        assert_eq!(response.status, 200, "{method}: {}", response.body);
        parse_response(response.body.as_bytes()).expect("a methodResponse")
    }

    /// Calls a method that must succeed.
    pub async fn ok(&self, who: Option<(&str, &str)>, method: &str, params: &[Value]) -> Value {
        match self.call(who, method, params).await {
            Ok(v) => v,
            Err(f) => panic!("{method}: unexpected {f}"),
        }
    }

    /// Calls a method that must fail with `code`; returns the message.
    pub async fn fault(
        &self,
        who: Option<(&str, &str)>,
        method: &str,
        params: &[Value],
        code: i32,
    ) -> String {
        match self.call(who, method, params).await {
            Ok(v) => panic!("{method}: expected fault {code}, got {v:?}"),
            Err(f) => {
                assert_eq!(f.code, code, "{method}: {f}");
                f.message
            }
        }
    }

    /// Puts job `id` in `state` with `health` on `device`, as if the master had moved it
    /// there (test set-up through the store).
    pub async fn set_job_state(
        &self,
        id: i64,
        state: lava_core::model::JobState,
        health: lava_core::model::JobHealth,
        device: Option<&str>,
    ) {
        use lava_core::model::JobState;
        let mut job = self.lab.job(id).await.unwrap();
        job.state = state;
        job.health = health;
        job.actual_device = device.map(str::to_owned);
        let now = self.lab.now();
        if matches!(state, JobState::Running | JobState::Finished) {
            job.start_time = Some(now);
        }
        if state == JobState::Finished {
            job.end_time = Some(now);
        }
        let set = lava_store::ChangeSet::new().job(job);
        self.lab.store().apply(&set).await.unwrap();
    }

    /// Records lava-run's log records for job `id` as the HTTP generation's log upload does
    /// (the final result is only a test result).
    pub async fn append_logs(&self, id: i64, lines: &[&str]) {
        self.log(id, lines, lava_lab::FinalResult::Recorded).await;
    }

    /// Records lava-run's log records for job `id` as the ZeroMQ log sink does (the final
    /// result finishes the job).
    pub async fn run_log(&self, id: i64, lines: &[&str]) {
        self.log(id, lines, lava_lab::FinalResult::FinishesJob)
            .await;
    }

    async fn log(&self, id: i64, lines: &[&str], final_result: lava_lab::FinalResult) {
        let mut logs = lava_lab::JobLogs::new();
        for line in lines {
            let appended = logs
                .append(&self.lab, id, line, final_result)
                .await
                .unwrap();
            assert!(
                !matches!(appended, lava_lab::Appended::Dropped(_)),
                "{line}: {appended:?}"
            );
        }
        logs.close_all(&self.lab).await;
    }

    /// Adds worker `w1`, device type `qemu` with a template and device `qemu01` on `w1`.
    pub async fn seed(&self) {
        self.ok(
            ADMIN,
            "scheduler.device_types.set_template",
            &[
                s("qemu"),
                s("commands: {connect: telnet localhost 7000}\nactions: {}\ntimeouts: {}\n{% block body %}{% endblock %}\n"),
            ],
        )
        .await;
        self.ok(
            ADMIN,
            "scheduler.workers.add",
            &[s("w1"), s("first worker"), Value::Bool(false)],
        )
        .await;
        self.ok(
            ADMIN,
            "scheduler.device_types.add",
            &[
                s("qemu"),
                Value::Nil,
                Value::Bool(true),
                Value::Bool(false),
                Value::Int(24),
                s("hours"),
            ],
        )
        .await;
        self.ok(
            ADMIN,
            "scheduler.devices.add",
            &[s("qemu01"), s("qemu"), s("w1")],
        )
        .await;
    }
}

/// A lab under `root` with users admin, bob and eve, whose tokens are `<name>-token`.
pub async fn new_lab(root: &std::path::Path) -> Arc<lava_lab::Lab> {
    let mut paths = lava_lab::LabPaths::under(root);
    paths.slaves_certs = root.join("certs");
    let config = lava_lab::LabConfig {
        paths,
        seed: Some(1),
    };
    let lab = lava_lab::Lab::new(Arc::new(lava_store::MemoryStore::new()), config).unwrap();
    for (name, admin) in [("admin", true), ("bob", false), ("eve", false)] {
        lab.add_user(name, admin, "").await.unwrap();
        lab.store()
            .add_token(name, &format!("{name}-token"), "tests", lab.now())
            .await
            .unwrap();
    }
    Arc::new(lab)
}

/// A string value.
pub fn s(text: &str) -> Value {
    Value::str(text)
}

/// A member of a struct value.
pub fn member<'a>(value: &'a Value, name: &str) -> &'a Value {
    match value {
        Value::Struct(members) => members
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no member {name} in {value:?}")),
        other => panic!("not a struct: {other:?}"),
    }
}

/// The names of a struct's members, in order.
pub fn member_names(value: &Value) -> Vec<&str> {
    match value {
        Value::Struct(members) => members.iter().map(|(n, _)| n.as_str()).collect(),
        other => panic!("not a struct: {other:?}"),
    }
}

/// A job definition for device type `qemu`.
pub fn definition(name: &str, visibility: &str) -> String {
    format!(
        "job_name: {name}\ndevice_type: qemu\nvisibility: {visibility}\ntimeouts:\n  job: {{minutes: 10}}\nactions:\n- boot: {{method: qemu}}\n"
    )
}
