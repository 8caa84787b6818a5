//! A test lab: the API over a fake backend on a free loopback port, and a tiny HTTP client.

#![allow(dead_code)] // each test file uses part of it

use lava_bins::api::auth::basic_header;
use lava_bins::api::codec::{parse_response, write_method_call};
use lava_bins::api::{Api, FakeBackend, Fault, Value};
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

/// A running API server over a fake backend.
pub struct Lab {
    pub backend: Arc<FakeBackend>,
    pub addr: SocketAddr,
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
        let backend = Arc::new(FakeBackend::new());
        backend.add_user("admin", "admin-token", true);
        backend.add_user("bob", "bob-token", false);
        backend.add_user("eve", "eve-token", false);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let api = adjust(Api::new(backend.clone()));
        tokio::spawn(api.serve(listener));
        Lab { backend, addr }
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

    /// Adds worker `w1`, device type `qemu` and device `qemu01` on `w1`.
    pub async fn seed(&self) {
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
