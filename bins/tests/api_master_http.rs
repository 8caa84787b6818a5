//! LAVA's XML-RPC API served by the real lava-master over its store and files: requests
//! written by hand over HTTP, users and tokens made with lava-admin, and what the API
//! changed checked with lava-admin and on disk.

mod common;

use common::{shell_job, Lab, Proc};
use lava_http::auth::basic_header;
use lava_http::codec::{parse_response, write_method_call};
use lava_http::{Fault, Value};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// A lab with a running master serving /RPC2, an admin and two plain users.
struct ApiLab {
    lab: Lab,
    master: Proc,
    http: SocketAddr,
    admin: (String, String),
    bob: (String, String),
    eve: (String, String),
}

/// Creates `name` with lava-admin and returns its new token (the last line printed).
fn user_with_token(lab: &Lab, name: &str, admin: bool) -> (String, String) {
    let mut args = vec!["users", "add", name];
    if admin {
        args.push("--admin");
    }
    lab.admin_ok(&args);
    let out = lab.admin_ok(&["tokens", "add", name]);
    let token = out.lines().last().unwrap_or_default().trim().to_owned();
    assert!(!token.is_empty(), "no token printed: {out}");
    (name.to_owned(), token)
}

fn master_command(lab: &Lab, http: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lava-master"));
    command
        .arg("--data-dir")
        .arg(lab.data_dir())
        .args(["--master-socket", &lab.master_url()])
        .args(["--log-socket", &lab.log_url()])
        .args(["--http", http])
        .arg("--slaves-certs")
        .arg(lab.data_dir().join("certificates.d"))
        .args(["--level", "DEBUG"]);
    command
}

impl ApiLab {
    fn start() -> ApiLab {
        Self::start_with(&[])
    }

    /// Starts the master with `extra` arguments after the usual ones.
    fn start_with(extra: &[&str]) -> ApiLab {
        let lab = Lab::new();
        let admin = user_with_token(&lab, "admin", true);
        let bob = user_with_token(&lab, "bob", false);
        let eve = user_with_token(&lab, "eve", false);
        let http: SocketAddr = lab.http_addr().parse().expect("an address");
        let mut command = master_command(&lab, &http.to_string());
        command.args(extra);
        let mut master = Proc::start("lava-master", command, &lab.data_dir().join("master.log"));
        // Wait for the API to accept connections (or for the master to give up).
        for _ in 0..400 {
            if TcpStream::connect(http).is_ok() {
                break;
            }
            if let Ok(Some(status)) = master.child.try_wait() {
                panic!("lava-master exited ({status}): {}", lab.master_log());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        ApiLab {
            lab,
            master,
            http,
            admin,
            bob,
            eve,
        }
    }

    /// POSTs `body` to /RPC2: the HTTP status and the response body.
    fn post(&self, who: Option<&(String, String)>, body: &str) -> (u16, String) {
        let authorization = who.map(|(user, token)| basic_header(user, token));
        let mut headers = vec![("Content-Type", "text/xml")];
        if let Some(authorization) = &authorization {
            headers.push(("Authorization", authorization));
        }
        common::http_request(&self.http.to_string(), "POST", "/RPC2", &headers, body)
    }

    fn call(
        &self,
        who: Option<&(String, String)>,
        method: &str,
        params: &[Value],
    ) -> Result<Value, Fault> {
        let (status, body) = self.post(who, &write_method_call(method, params));
        assert_eq!(status, 200, "{method}: {body}");
        parse_response(body.as_bytes()).expect("a methodResponse")
    }

    fn ok(&self, who: Option<&(String, String)>, method: &str, params: &[Value]) -> Value {
        self.call(who, method, params)
            .unwrap_or_else(|f| panic!("{method}: {f}\n{}", self.lab.master_log()))
    }

    fn fault(&self, who: Option<&(String, String)>, method: &str, params: &[Value]) -> Fault {
        match self.call(who, method, params) {
            Err(fault) => fault,
            Ok(v) => panic!("{method}: expected a fault, got {v:?}"),
        }
    }

    fn config_file(&self, relative: &str) -> PathBuf {
        self.lab.data_dir().join(relative)
    }

    fn device_json(&self, hostname: &str) -> serde_json::Value {
        serde_json::from_str(&self.lab.admin_ok(&["devices", "show", hostname]))
            .expect("devices show prints JSON")
    }
}

fn s(text: &str) -> Value {
    Value::str(text)
}

fn member<'a>(value: &'a Value, name: &str) -> &'a Value {
    match value {
        Value::Struct(members) => members
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no member {name} in {value:?}")),
        _ => panic!("not a struct: {value:?}"),
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::Base64(bytes) => String::from_utf8(bytes.clone()).expect("UTF-8"),
        Value::String(text) => text.clone(),
        other => panic!("not text: {other:?}"),
    }
}

const DICTIONARY: &str =
    "{% extends 'shell.jinja2' %}\n{% set user_commands = {'hello': 'echo hello'} %}\n";

#[test]
fn identity_and_authentication() {
    let api = ApiLab::start();
    assert_eq!(api.ok(None, "system.version", &[]), s("2020.05"));
    assert_eq!(api.ok(Some(&api.admin), "system.whoami", &[]), s("admin"));
    assert_eq!(api.ok(Some(&api.bob), "system.whoami", &[]), s("bob"));
    // A token of another user, and a made-up one, are refused before any method runs.
    let wrong = (api.bob.0.clone(), api.eve.1.clone());
    let (status, body) = api.post(Some(&wrong), &write_method_call("system.whoami", &[]));
    assert_eq!((status, body.as_str()), (401, "Invalid token"));
    let made_up = ("admin".to_owned(), "0123456789abcdef".to_owned());
    let (status, _) = api.post(Some(&made_up), &write_method_call("system.version", &[]));
    assert_eq!(status, 401);
    // A plain user may not administer the lab.
    let fault = api.fault(Some(&api.bob), "scheduler.workers.add", &[s("w9")]);
    assert_eq!(fault.code, 403, "{fault}");
    // Malformed and oversized requests are faults and the master keeps serving.
    let (status, body) = api.post(None, "<methodCall><methodName>");
    assert_eq!(status, 200);
    assert!(parse_response(body.as_bytes())
        .expect("a response")
        .is_err());
    let huge = format!(
        "<methodCall><methodName>system.version</methodName><params><param><value><string>{}</string></value></param></params></methodCall>",
        "x".repeat(lava_http::DEFAULT_BODY_LIMIT)
    );
    let (status, body) = api.post(None, &huge);
    assert_eq!(status, 200);
    assert!(parse_response(body.as_bytes())
        .expect("a response")
        .is_err());
    assert_eq!(api.ok(None, "system.version", &[]), s("2020.05"));
}

#[test]
fn templates_are_read_from_extra_dirs_and_written_to_the_lab() {
    let extra = tempfile::tempdir().expect("no temp dir");
    std::fs::write(extra.path().join("vendor.jinja2"), "vendor: 1\n").expect("cannot write");
    let extra_dir = extra.path().to_str().expect("a UTF-8 path");
    let api = ApiLab::start_with(&["--device-types", extra_dir]);
    let admin = Some(&api.admin);
    let got = api.ok(admin, "scheduler.device_types.get_template", &[s("vendor")]);
    assert_eq!(text_of(&got), "vendor: 1\n");
    // The lab's own copy wins over the shipped one, which is never overwritten.
    api.ok(
        admin,
        "scheduler.device_types.set_template",
        &[s("vendor"), s("vendor: 2\n")],
    );
    let got = api.ok(admin, "scheduler.device_types.get_template", &[s("vendor")]);
    assert_eq!(text_of(&got), "vendor: 2\n");
    assert_eq!(
        std::fs::read_to_string(extra.path().join("vendor.jinja2")).unwrap(),
        "vendor: 1\n"
    );
    let fault = api.fault(admin, "scheduler.device_types.get_template", &[s("nope")]);
    assert_eq!(fault.code, 404, "{fault}");
    // A worker's dispatcher configuration in LAVA's older place is read too.
    api.ok(admin, "scheduler.workers.add", &[s("old-worker")]);
    let old = api.config_file("dispatcher.d/old-worker.yaml");
    std::fs::create_dir_all(old.parent().unwrap()).unwrap();
    std::fs::write(&old, "dispatcher_ip: 192.0.2.9\n").unwrap();
    let got = api.ok(admin, "scheduler.workers.get_config", &[s("old-worker")]);
    assert_eq!(text_of(&got), "dispatcher_ip: 192.0.2.9\n");
}

#[test]
fn workers_devices_and_files() {
    let api = ApiLab::start();
    let admin = Some(&api.admin);
    api.ok(
        admin,
        "scheduler.workers.add",
        &[s("worker-01"), s("rack 1")],
    );
    let listed = api.lab.admin_ok(&["workers", "list"]);
    assert!(listed.contains("worker-01"), "{listed}");
    api.ok(
        admin,
        "scheduler.device_types.add",
        &[
            s("shell"),
            Value::Nil,
            Value::Bool(true),
            Value::Bool(false),
            Value::Int(24),
            s("hours"),
        ],
    );
    api.ok(
        admin,
        "scheduler.devices.add",
        &[s("shell-02"), s("shell"), s("worker-01")],
    );
    let device = api.device_json("shell-02");
    assert_eq!(device["worker"], "worker-01");
    assert_eq!(device["device_type"], "shell");
    let unknown = api.fault(
        admin,
        "scheduler.devices.add",
        &[s("shell-03"), s("shell"), s("worker-09")],
    );
    assert_eq!(unknown.code, 404, "{unknown}");

    // A dictionary that renders is stored where the master reads it.
    assert_eq!(
        api.ok(
            admin,
            "scheduler.devices.set_dictionary",
            &[s("shell-02"), s(DICTIONARY)]
        ),
        Value::Bool(true)
    );
    let dict_file = api.config_file("dispatcher-config/devices/shell-02.jinja2");
    assert_eq!(std::fs::read_to_string(&dict_file).unwrap(), DICTIONARY);
    let got = api.ok(admin, "scheduler.devices.get_dictionary", &[s("shell-02")]);
    assert_eq!(text_of(&got), DICTIONARY);
    let rendered = api.ok(
        admin,
        "scheduler.devices.get_dictionary",
        &[s("shell-02"), Value::Bool(true)],
    );
    assert!(
        text_of(&rendered).contains("      do: \"echo hello\""),
        "{rendered:?}"
    );
    // One that does not render (unknown parent, not a mapping) never replaces it.
    for bad in [
        "{% extends 'no-such-type.jinja2' %}\n",
        "- a list\n- not a mapping\n",
        "{% if %}\n",
    ] {
        let fault = api.fault(
            admin,
            "scheduler.devices.set_dictionary",
            &[s("shell-02"), s(bad)],
        );
        assert_eq!(fault.code, 400, "{bad}: {fault}");
        assert!(fault.message.contains("shell-02"), "{fault}");
        assert_eq!(std::fs::read_to_string(&dict_file).unwrap(), DICTIONARY);
    }

    // Device-type templates: written in the lab's tree, read back.
    let template = api.ok(admin, "scheduler.device_types.get_template", &[s("shell")]);
    assert!(text_of(&template).contains("A hardware-free device type"));
    api.ok(
        admin,
        "scheduler.device_types.set_template",
        &[s("other"), s("{# other #}\nx: 1\n")],
    );
    assert_eq!(
        std::fs::read_to_string(api.config_file("dispatcher-config/device-types/other.jinja2"))
            .unwrap(),
        "{# other #}\nx: 1\n"
    );

    // Per-worker files and the certificate.
    let config = "dispatcher_ip: 192.0.2.1\n";
    api.ok(
        admin,
        "scheduler.workers.set_config",
        &[s("worker-01"), s(config)],
    );
    assert_eq!(
        std::fs::read_to_string(api.config_file("dispatcher.d/worker-01/dispatcher.yaml")).unwrap(),
        config
    );
    let got = api.ok(admin, "scheduler.workers.get_config", &[s("worker-01")]);
    assert_eq!(text_of(&got), config);
    let fault = api.fault(
        admin,
        "scheduler.workers.set_env",
        &[s("worker-01"), s("- not a mapping\n")],
    );
    assert_eq!(fault.code, 400, "{fault}");
    assert!(!api.config_file("dispatcher.d/worker-01/env.yaml").exists());
    let key = "public-key = \"abc\"\n";
    api.ok(
        admin,
        "scheduler.workers.set_certificate",
        &[s("worker-01"), s(key)],
    );
    assert_eq!(
        std::fs::read_to_string(api.config_file("certificates.d/worker-01.key")).unwrap(),
        key
    );

    // A worker going to maintenance takes its devices along.
    api.ok(
        admin,
        "scheduler.workers.update",
        &[s("worker-01"), Value::Nil, s("MAINTENANCE")],
    );
    assert_eq!(api.device_json("shell-02")["health"], "Maintenance");
    let worker = api.ok(admin, "scheduler.workers.show", &[s("worker-01")]);
    assert_eq!(member(&worker, "health"), &s("Maintenance"));
    api.ok(
        admin,
        "scheduler.devices.update",
        &[
            s("shell-02"),
            Value::Nil,
            Value::Nil,
            Value::Nil,
            Value::Nil,
            s("GOOD"),
        ],
    );
    assert_eq!(api.device_json("shell-02")["health"], "Good");
}

#[test]
fn jobs_submit_show_cancel() {
    let api = ApiLab::start();
    // The worker never connects, so the job stays queued until canceled.
    api.lab.add_example_devices("worker-01");
    let job = shell_job("hello", None);
    let id = match api.ok(Some(&api.bob), "scheduler.jobs.submit", &[s(&job)]) {
        Value::Int(id) => id,
        other => panic!("submit answered {other:?}"),
    };
    let status = api.lab.job_status(&id.to_string());
    assert_eq!(status, ("Submitted".to_owned(), "Unknown".to_owned()));
    let shown = api.ok(Some(&api.bob), "scheduler.jobs.show", &[Value::Int(id)]);
    assert_eq!(member(&shown, "submitter"), &s("bob"));
    // Why it waits: the master's own pass (API) and a dry pass of lava-admin agree.
    let why = api.ok(None, "scheduler.jobs.why", &[Value::Int(id)]);
    assert_eq!(member(&why, "reason"), &s("workers_unavailable"), "{why:?}");
    let said = api.lab.admin_ok(&["jobs", "why", &id.to_string()]);
    assert!(
        said.starts_with(&format!("job {id}: ")) && said.contains("offline worker"),
        "{said}"
    );
    let definition = api.ok(None, "scheduler.jobs.definition", &[Value::Int(id)]);
    assert_eq!(text_of(&definition), job);

    // A bad definition and an unknown device type are refused; nothing is stored.
    let fault = api.fault(
        Some(&api.bob),
        "scheduler.jobs.submit",
        &[s("job_name: x\n")],
    );
    assert_eq!(fault.code, 400, "{fault}");
    let other_type = job.replace("device_type: shell", "device_type: nope");
    let fault = api.fault(Some(&api.bob), "scheduler.jobs.submit", &[s(&other_type)]);
    // LAVA 2020.05's answer for a device type it does not have.
    assert_eq!(
        (fault.code, fault.message.as_str()),
        (
            400,
            "Device unavailable: Device type 'nope' is unavailable."
        ),
        "{fault}"
    );
    let jobs = api.lab.admin_ok(&["jobs", "list"]);
    assert_eq!(
        jobs.lines().filter(|l| !l.trim().is_empty()).count(),
        1,
        "{jobs}"
    );

    // Only the submitter (or an admin) cancels.
    let fault = api.fault(Some(&api.eve), "scheduler.jobs.cancel", &[Value::Int(id)]);
    assert_eq!(fault.code, 403, "{fault}");
    api.ok(Some(&api.bob), "scheduler.jobs.cancel", &[Value::Int(id)]);
    assert_eq!(
        api.lab.job_status(&id.to_string()),
        ("Finished".to_owned(), "Canceled".to_owned())
    );
    let logs = api.ok(Some(&api.bob), "scheduler.jobs.logs", &[Value::Int(id)]);
    match &logs {
        Value::Array(items) => assert_eq!(items.first(), Some(&Value::Bool(true)), "{logs:?}"),
        other => panic!("logs answered {other:?}"),
    }
    let results = api.ok(
        Some(&api.bob),
        "results.get_testjob_results_yaml",
        &[Value::Int(id)],
    );
    assert_eq!(text_of(&results), "[]\n");
    let fault = api.fault(None, "scheduler.jobs.show", &[Value::Int(id + 100)]);
    assert_eq!(fault.code, 404, "{fault}");

    // A group asking for more devices than the type has is refused in LAVA's words, and
    // nothing is stored.
    let fault = api.fault(Some(&api.bob), "scheduler.jobs.submit", &[s(MULTINODE)]);
    assert_eq!(
        (fault.code, fault.message.as_str()),
        (
            400,
            "Device unavailable: Not enough devices of type shell are currently available to user bob"
        ),
        "{fault}"
    );
    for device in ["shell-02", "shell-03"] {
        api.lab.admin_ok(&[
            "devices",
            "add",
            device,
            "--device-type",
            "shell",
            "--worker",
            "worker-01",
        ]);
    }

    // A multinode group answers each sub-job by the id lava-admin and the API take.
    let ids = api.ok(Some(&api.bob), "scheduler.jobs.submit", &[s(MULTINODE)]);
    let Value::Array(ids) = ids else {
        panic!("multinode submit answered {ids:?}");
    };
    assert_eq!(ids.len(), 3, "{ids:?}");
    for sub in &ids {
        let Value::String(sub) = sub else {
            panic!("a sub-job id is not a string: {sub:?}");
        };
        let shown: serde_json::Value =
            serde_json::from_str(&api.lab.admin_ok(&["jobs", "show", sub, "--json"]))
                .expect("JSON");
        assert_eq!(shown["state"], "Submitted", "{shown}");
        assert!(shown["multinode_role"].is_string(), "{shown}");
    }

    // Pages, newest first, the same for an admin (paged in the store) and a user.
    let page = |who| {
        let listed = api.ok(
            Some(who),
            "scheduler.jobs.list",
            &[Value::Nil, Value::Nil, Value::Int(1), Value::Int(2)],
        );
        let Value::Array(jobs) = listed else {
            panic!("jobs.list answered {listed:?}");
        };
        jobs.iter()
            .map(|job| member(job, "id").clone())
            .collect::<Vec<_>>()
    };
    let expected = vec![Value::Int(id + 2), Value::Int(id + 1)];
    assert_eq!(page(&api.admin), expected);
    assert_eq!(page(&api.eve), expected);

    // A body over 64 KiB takes the large-request lane (a blocking thread) and still reaches
    // the SQLite store.
    let big = format!(
        "{job}metadata:\n{}",
        (0..6000)
            .map(|i| format!("  key{i}: value\n"))
            .collect::<String>()
    );
    assert!(big.len() > 64 * 1024);
    match api.ok(Some(&api.bob), "scheduler.jobs.submit", &[s(&big)]) {
        Value::Int(big_id) => assert_eq!(big_id, id + 4),
        other => panic!("submit answered {other:?}"),
    }
}

const MULTINODE: &str = "\
job_name: client-server
visibility: public
timeouts:
  job:
    minutes: 30
protocols:
  lava-multinode:
    timeout:
      minutes: 10
    roles:
      server:
        device_type: shell
        count: 1
      client:
        device_type: shell
        count: 2
actions:
- command:
    name: hello
    role: [server, client]
";

#[test]
fn stops_on_sigterm_and_refuses_a_busy_address() {
    let mut api = ApiLab::start();
    assert_eq!(api.ok(None, "system.version", &[]), s("2020.05"));

    // A second master on the same --http address (its own store) cannot start.
    let other = Lab::new();
    let out = master_command(&other, &api.http.to_string())
        .output()
        .expect("cannot run lava-master");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--http"), "{stderr}");
    let out = master_command(&other, "not-an-address")
        .output()
        .expect("cannot run lava-master");
    assert!(!out.status.success());

    api.master.stop(Duration::from_secs(10));
    let status = api.master.child.try_wait().expect("wait failed");
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}: {}",
        api.lab.master_log()
    );
    assert!(TcpStream::connect(api.http).is_err());
}
