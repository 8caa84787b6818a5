//! lava-worker's API on a real lava-master, driven request by request as lava-worker and
//! lava-run 2023.01 send them (worker-http.md §2, §9), with the bad input of the issue:
//! malformed forms, unknown workers and jobs, wrong and missing tokens, a job token used for
//! another job, log batches sent again or too large, duplicate FINISHED, refused versions,
//! auto-registration. Needs no Debian package: `lava_worker_2023.rs` runs the real worker.

mod common;

use common::{shell_job, worker_request as request, Lab, Proc};
use lava_core::worker_http::batch::join_records;
use lava_core::worker_http::form::Form;
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn start_master(lab: &Lab, extra: &[&str]) -> Proc {
    let master = lab.start_master_with(extra);
    let deadline = Instant::now() + Duration::from_secs(20);
    // Ready once a ping is answered by the daemon (503 while it starts).
    loop {
        if TcpStream::connect(lab.http_addr()).is_ok()
            && request(
                lab,
                "GET",
                "/scheduler/internal/v1/workers/x/?version=1",
                None,
                "",
            )
            .0 != 503
        {
            break;
        }
        assert!(Instant::now() < deadline, "{}", lab.master_log());
        std::thread::sleep(Duration::from_millis(100));
    }
    master
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn ping(lab: &Lab, worker: &str, token: &str, version: &str) -> (u16, serde_json::Value) {
    let (status, body) = request(
        lab,
        "GET",
        &format!("/scheduler/internal/v1/workers/{worker}/?version={version}"),
        Some(token),
        "",
    );
    (status, json(&body))
}

/// A lab with worker `w1` (its token) and device `shell-01`.
fn lab_with_worker() -> (Lab, String) {
    let lab = Lab::new();
    lab.add_example_devices("w1");
    let token = lab.admin_ok(&["workers", "token", "w1"]).trim().to_owned();
    (lab, token)
}

/// Pings until the job is listed in `list`; its job token.
fn listed(lab: &Lab, token: &str, list: &str, job: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, answer) = ping(lab, "w1", token, "2023.01");
        assert_eq!(status, 200, "{answer}");
        if let Some(entry) = answer[list].as_array().and_then(|jobs| {
            jobs.iter()
                .find(|j| j["id"].as_i64().map(|id| id.to_string()).as_deref() == Some(job))
        }) {
            return entry["token"].as_str().unwrap_or_default().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "job {job} never in {list}: {answer}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

const INFO: &str =
    r#"{"dt": "2023-01-01T00:00:00.000000", "lvl": "info", "msg": "hello over http"}"#;
const PASS: &str = r#"{"dt": "2023-01-01T00:00:01.000000", "lvl": "results", "msg": {"case": "job", "definition": "lava", "result": "pass"}}"#;

fn logs(lab: &Lab, job: &str, token: &str, records: &[&str], index: u64) -> (u16, String) {
    let body = Form::encode([
        ("lines", join_records(records).as_str()),
        ("index", index.to_string().as_str()),
    ]);
    request(
        lab,
        "POST",
        &format!("/scheduler/internal/v1/jobs/{job}/logs/"),
        Some(token),
        &body,
    )
}

#[test]
fn a_job_over_the_worker_api_with_every_bad_input_on_the_way() {
    let (lab, token) = lab_with_worker();
    let other = lab.submit(&shell_job("hello", None));
    let _master = start_master(&lab, &[]);

    // Pings: LAVA's refusals, then the worker comes online.
    let path = "/scheduler/internal/v1/workers/w1/";
    assert_eq!(
        request(&lab, "GET", path, Some(&token), ""),
        (400, r#"{"error":"Missing 'version'"}"#.into())
    );
    assert_eq!(
        request(&lab, "GET", &format!("{path}?version=1"), Some("wrong"), "").0,
        400
    );
    assert_eq!(
        request(
            &lab,
            "GET",
            &format!("{path}?version=%zz"),
            Some(&token),
            ""
        )
        .0,
        400
    );
    assert_eq!(request(&lab, "POST", path, Some(&token), "name=w1").0, 403);
    let job_token = listed(&lab, &token, "start", &other);
    assert_eq!(job_token.len(), 32);

    // The job: fetch, RUNNING twice, logs, FINISHED twice.
    let job_path = format!("/scheduler/internal/v1/jobs/{other}/");
    assert_eq!(
        request(&lab, "GET", &job_path, Some(&token), "").0,
        400,
        "the worker token is not a job token"
    );
    let (status, body) = request(&lab, "GET", &job_path, Some(&job_token), "");
    assert_eq!(status, 200, "{body}");
    let payload = json(&body);
    for key in ["definition", "device", "dispatcher", "env", "env-dut"] {
        assert!(
            payload[key].is_string(),
            "{key} must be a string, never null: {payload}"
        );
    }
    assert!(payload["definition"]
        .as_str()
        .unwrap_or_default()
        .contains("job_name"));
    assert_eq!(
        request(&lab, "POST", &job_path, Some(&job_token), "state=RUNNING"),
        (200, "{}".into())
    );
    assert_eq!(
        request(&lab, "POST", &job_path, Some(&job_token), "state=running").0,
        200
    );
    assert_eq!(lab.job_status(&other).0, "Running");
    assert_eq!(
        request(&lab, "POST", &job_path, Some(&job_token), "state=BOGUS").0,
        400
    );
    assert_eq!(
        request(
            &lab,
            "POST",
            &job_path,
            Some(&job_token),
            "state=FINISHED&result=maybe"
        ),
        (400, r#"{"error":"Invalid health"}"#.into())
    );
    assert_eq!(
        request(&lab, "POST", &job_path, Some(&job_token), "state=%GG").0,
        400,
        "a malformed form"
    );

    // Logs: a batch, the same batch again (not written twice), one more, bad ones.
    assert_eq!(
        logs(&lab, &other, &job_token, &[INFO, INFO], 0),
        (200, r#"{"line_count":2}"#.into())
    );
    assert_eq!(
        logs(&lab, &other, &job_token, &[INFO, INFO, PASS], 0),
        (200, r#"{"line_count":3}"#.into())
    );
    assert_eq!(
        request(
            &lab,
            "POST",
            &format!("{job_path}logs/"),
            Some(&job_token),
            "index=3"
        ),
        (400, r#"{"error":"Missing 'lines'"}"#.into())
    );
    assert_eq!(
        request(
            &lab,
            "POST",
            &format!("{job_path}logs/"),
            Some(&job_token),
            "lines=-+x&index=-1"
        ),
        (400, r#"{"error":"Invalid 'index'"}"#.into())
    );
    let log = lab.admin_ok(&["jobs", "logs", &other]);
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("hello over http"))
            .count(),
        2,
        "{log}"
    );
    assert_eq!(
        lab.job_status(&other).0,
        "Running",
        "the final result does not end an HTTP job"
    );

    // Another job's token opens nothing of this one.
    let second = lab.submit(&shell_job("hello", None));
    let (status, body) = logs(&lab, &other, "x".repeat(32).as_str(), &[INFO], 3);
    assert_eq!(
        (status, body.as_str()),
        (400, r#"{"error":"Invalid 'token'"}"#)
    );

    let finished =
        "state=FINISHED&result=pass&error_type=&errors=&description=compatibility%3A+2%0A";
    assert_eq!(
        request(&lab, "POST", &job_path, Some(&job_token), finished),
        (200, "{}".into())
    );
    assert_eq!(
        lab.job_status(&other),
        ("Finished".into(), "Complete".into())
    );
    let failed = "state=FINISHED&result=fail&error_type=Bug&errors=late&description=";
    assert_eq!(
        request(&lab, "POST", &job_path, Some(&job_token), failed),
        (200, "{}".into()),
        "a duplicate FINISHED is answered and changes nothing"
    );
    assert_eq!(
        lab.job_status(&other),
        ("Finished".into(), "Complete".into())
    );

    // The next job, and its token against the finished one.
    let second_token = listed(&lab, &token, "start", &second);
    assert_eq!(
        request(&lab, "GET", &job_path, Some(&second_token), "").0,
        400
    );
    assert_eq!(
        request(
            &lab,
            "GET",
            "/scheduler/internal/v1/jobs/abc/",
            Some(&second_token),
            ""
        ),
        (404, r#"{"error":"Unknown job 'abc'"}"#.into())
    );

    // Too large a batch: 413.
    let big = "x".repeat(65 << 20);
    let (status, _) = request(
        &lab,
        "POST",
        &format!("/scheduler/internal/v1/jobs/{second}/logs/"),
        Some(&second_token),
        &format!("index=0&lines={big}"),
    );
    assert_eq!(status, 413);
    let master_log = lab.master_log();
    for line in ["Invalid 'token'", "Missing 'version'", "Invalid health"] {
        assert!(master_log.contains(line), "the master's log names {line:?}");
    }
}

#[test]
fn a_job_fetched_again_after_it_started_ends_instead_of_running_twice() {
    let (lab, token) = lab_with_worker();
    let job = lab.submit(&shell_job("hello", None));
    let _master = start_master(&lab, &[]);
    let job_token = listed(&lab, &token, "start", &job);
    let path = format!("/scheduler/internal/v1/jobs/{job}/");
    assert_eq!(request(&lab, "GET", &path, Some(&job_token), "").0, 200);
    assert_eq!(
        request(&lab, "POST", &path, Some(&job_token), "state=RUNNING").0,
        200
    );
    assert_eq!(listed(&lab, &token, "running", &job), job_token);
    // A worker with a fresh state directory starts every `running` job it does not know.
    assert_eq!(request(&lab, "GET", &path, Some(&job_token), "").0, 409);
    assert_eq!(lab.wait(&job, 30), 1, "{}", lab.master_log());
    let shown = lab.admin_ok(&["jobs", "show", &job, "--json"]);
    assert!(
        shown.contains("Incomplete") && shown.contains("not run twice"),
        "{shown}"
    );
}

#[test]
fn strict_versions_and_auto_registration() {
    let (lab, token) = lab_with_worker();
    let _master = start_master(
        &lab,
        &[
            "--strict-worker-version",
            "2023.01",
            "--worker-auto-register",
        ],
    );
    let (status, answer) = ping(&lab, "w1", &token, "2026.07");
    assert_eq!(status, 409);
    assert_eq!(answer["error"], "Version mismatch '2026.07' vs '2023.01'");
    let shown = lab.admin_ok(&["workers", "show", "w1"]);
    assert!(
        shown.contains("refused     : version 2026.07 refused"),
        "{shown}"
    );
    assert!(shown.contains("state       : Offline"), "{shown}");
    assert_eq!(ping(&lab, "w1", &token, "2023.01").0, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lab
        .admin_ok(&["workers", "show", "w1"])
        .contains("state       : Online")
    {
        assert!(Instant::now() < deadline, "{}", lab.master_log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!lab.admin_ok(&["workers", "show", "w1"]).contains("refused"));

    // Registration from loopback (the default netmask), once.
    let register = "/scheduler/internal/v1/workers/";
    let (status, body) = request(&lab, "POST", register, None, "name=w2");
    assert_eq!(status, 200, "{body}");
    let registered = json(&body);
    assert_eq!(registered["name"], "w2");
    let new_token = registered["token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(lab.admin_ok(&["workers", "token", "w2"]).trim(), new_token);
    assert_eq!(request(&lab, "POST", register, None, "name=w2").0, 403);
    assert_eq!(request(&lab, "POST", register, None, "").0, 400);
    assert_eq!(ping(&lab, "w2", &new_token, "2023.01").0, 200);
}

#[test]
fn registration_is_refused_outside_the_netmask() {
    let lab = Lab::new();
    let _master = start_master(
        &lab,
        &[
            "--worker-auto-register",
            "--worker-auto-register-netmask",
            "10.0.0.0/8",
        ],
    );
    let (status, body) = request(
        &lab,
        "POST",
        "/scheduler/internal/v1/workers/",
        None,
        "name=w3",
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("not allowed from 127.0.0.1"), "{body}");
}
