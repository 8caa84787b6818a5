//! The web pages and `/metrics` over HTTP against a real lab: content, links, escaping,
//! 404s, who sees what, no change on GET; and the API's "why is my job still waiting?".

mod api_support;

use api_support::{definition, member, s, Lab, ADMIN, BOB};
use lava_core::model::{JobHealth, JobState};
use lava_http::auth::basic_header;
use lava_http::Value;

async fn get(lab: &Lab, path: &str, who: Option<(&str, &str)>) -> api_support::HttpResponse {
    let mut headers = Vec::new();
    if let Some((user, token)) = who {
        headers.push(("Authorization", basic_header(user, token)));
    }
    lab.http("GET", path, &headers, b"").await
}

fn header<'a>(response: &'a api_support::HttpResponse, name: &str) -> Option<&'a str> {
    response
        .headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

const HOSTILE: &str = "<script>alert(1)</script>";

/// A lab with a running public job whose name and log hold a script tag, a queued job and a
/// private job of bob's.
async fn lab_with_jobs() -> (Lab, i64, i64, i64) {
    let lab = Lab::start().await;
    lab.seed().await;
    let running = lab
        .ok(
            BOB,
            "scheduler.jobs.submit",
            &[s(&definition(&format!("'{HOSTILE}'"), "public"))],
        )
        .await;
    let Value::Int(running) = running else {
        panic!("{running:?}")
    };
    lab.set_job_state(
        running,
        JobState::Running,
        JobHealth::Unknown,
        Some("qemu01"),
    )
    .await;
    let mut device = lab.lab.device("qemu01").await.unwrap();
    device.state = lava_core::model::DeviceState::Running;
    lab.lab
        .store()
        .apply(&lava_store::ChangeSet::new().device(device))
        .await
        .unwrap();
    lab.append_logs(
        running,
        &[
            r#"{"dt": "2020-05-01T00:00:01", "lvl": "info", "msg": "booting <script>alert(2)</script>"}"#,
            r#"{"dt": "2020-05-01T00:00:02", "lvl": "results", "msg": {"definition": "0_smoke", "case": "ping", "result": "pass"}}"#,
        ],
    )
    .await;
    let Value::Int(queued) = lab
        .ok(
            BOB,
            "scheduler.jobs.submit",
            &[s(&definition("queued", "public"))],
        )
        .await
    else {
        panic!()
    };
    let Value::Int(private) = lab
        .ok(
            BOB,
            "scheduler.jobs.submit",
            &[s(&definition("secret", "personal"))],
        )
        .await
    else {
        panic!()
    };
    (lab, running, queued, private)
}

#[tokio::test]
async fn pages_show_the_lab_with_links_and_escaped_values() {
    let (lab, running, queued, private) = lab_with_jobs().await;
    let index = get(&lab, "/scheduler/", None).await;
    assert_eq!(index.status, 200, "{}", index.body);
    assert_eq!(
        header(&index, "content-type"),
        Some("text/html; charset=utf-8")
    );
    for expected in [
        "w1",
        "qemu01",
        "zmq",
        &format!("/scheduler/job/{running}"),
        "2 jobs queued",
    ] {
        assert!(
            index.body.contains(expected),
            "{expected} missing:\n{}",
            index.body
        );
    }

    let job = get(&lab, &format!("/scheduler/job/{running}"), None).await;
    assert_eq!(job.status, 200, "{}", job.body);
    // Job → device → worker.
    assert!(
        job.body.contains(r#"href="/scheduler/device/qemu01""#),
        "{}",
        job.body
    );
    assert!(
        job.body.contains(r#"href="/scheduler/worker/w1""#),
        "{}",
        job.body
    );
    assert!(
        job.body.contains("0_smoke") && job.body.contains("ping"),
        "{}",
        job.body
    );
    // Every value is escaped: the job's name and its log line are text.
    assert!(!job.body.contains(HOSTILE), "{}", job.body);
    assert!(!job.body.contains("<script>alert(2)"), "{}", job.body);
    assert!(
        job.body
            .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "{}",
        job.body
    );
    assert!(
        job.body
            .contains("&lt;script&gt;alert(2)&lt;&#x2f;script&gt;"),
        "{}",
        job.body
    );
    let alljobs = get(&lab, "/scheduler/alljobs", None).await;
    assert!(!alljobs.body.contains(HOSTILE));
    assert!(alljobs.body.contains(&format!("/scheduler/job/{queued}")));
    assert!(
        !alljobs
            .body
            .contains(&format!("/scheduler/job/{private}\"")),
        "{}",
        alljobs.body
    );

    let plain = get(
        &lab,
        &format!("/scheduler/job/{running}/log_file/plain"),
        None,
    )
    .await;
    assert_eq!(plain.status, 200);
    assert_eq!(
        header(&plain, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(header(&plain, "x-content-type-options"), Some("nosniff"));
    assert!(plain.body.starts_with("- {"), "{}", plain.body);
    assert_eq!(plain.body.lines().count(), 2);

    let more = get(
        &lab,
        &format!("/scheduler/job/{running}/log_pipeline_incremental?line=1"),
        None,
    )
    .await;
    let json: serde_json::Value = serde_json::from_str(&more.body).unwrap();
    assert_eq!(json["lines"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json["lines"][0]["n"], 1);
    assert_eq!(json["finished"], false);

    let queue = get(&lab, "/scheduler/queue", None).await;
    assert_eq!(queue.status, 200);
    assert!(queue.body.contains(&format!("/scheduler/job/{queued}")));
    assert!(
        queue.body.contains("busy"),
        "the reason is shown:\n{}",
        queue.body
    );
    assert!(
        queue.body.contains("1 private jobs not shown"),
        "{}",
        queue.body
    );

    let device = get(&lab, "/scheduler/device/qemu01", None).await;
    assert_eq!(device.status, 200);
    assert!(device.body.contains(r#"href="/scheduler/worker/w1""#));
    assert!(device.body.contains(&format!("/scheduler/job/{running}")));
    let worker = get(&lab, "/scheduler/worker/w1", None).await;
    assert_eq!(worker.status, 200);
    assert!(worker.body.contains(r#"href="/scheduler/device/qemu01""#));
    for page in ["/scheduler/alldevices", "/scheduler/allworkers"] {
        let response = get(&lab, page, None).await;
        assert_eq!(response.status, 200, "{page}");
        assert!(response.body.contains("qemu01") || response.body.contains("w1"));
    }
}

#[tokio::test]
async fn unknown_ids_are_404_pages() {
    let (lab, ..) = lab_with_jobs().await;
    for path in [
        "/scheduler/job/999",
        "/scheduler/job/abc",
        "/scheduler/job/-1",
        "/scheduler/job/999/log_file/plain",
        "/scheduler/device/nope",
        "/scheduler/device/%3Cscript%3E",
        "/scheduler/worker/nope",
    ] {
        let response = get(&lab, path, None).await;
        assert_eq!(response.status, 404, "{path}: {}", response.body);
        assert!(response.body.contains("Not found"), "{path}");
        assert!(!response.body.contains("<script>"), "{path}");
    }
}

#[tokio::test]
async fn private_jobs_need_their_user_and_changes_need_a_post_by_one() {
    let (lab, running, queued, private) = lab_with_jobs().await;
    let anonymous = get(&lab, &format!("/scheduler/job/{private}"), None).await;
    assert_eq!(anonymous.status, 401);
    assert!(header(&anonymous, "www-authenticate").is_some_and(|v| v.starts_with("Basic")));
    let bob = get(&lab, &format!("/scheduler/job/{private}"), BOB).await;
    assert_eq!(bob.status, 200);
    assert!(bob.body.contains("secret") && bob.body.contains("Cancel this job"));
    let eve = get(
        &lab,
        &format!("/scheduler/job/{private}"),
        Some(("eve", "eve-token")),
    )
    .await;
    assert_eq!(eve.status, 404);
    let wrong = get(&lab, "/scheduler/", Some(("bob", "wrong"))).await;
    assert_eq!(wrong.status, 401);
    let login = get(&lab, "/scheduler/login?next=/scheduler/queue", BOB).await;
    assert_eq!(
        (login.status, header(&login, "location")),
        (303, Some("/scheduler/queue"))
    );
    let elsewhere = get(&lab, "/scheduler/login?next=//evil.example/", BOB).await;
    assert_eq!(header(&elsewhere, "location"), Some("/scheduler/"));

    // GET never cancels.
    let cancel = format!("/scheduler/job/{queued}/cancel");
    let response = get(&lab, &cancel, ADMIN).await;
    assert_eq!(response.status, 405);
    assert_eq!(
        lab.lab.job(queued).await.unwrap().state,
        JobState::Submitted
    );
    let response = lab.http("POST", &cancel, &[], b"").await;
    assert_eq!(response.status, 401);
    let eve = [("Authorization", basic_header("eve", "eve-token"))];
    assert_eq!(lab.http("POST", &cancel, &eve, b"").await.status, 403);
    let cross = [
        ("Authorization", basic_header("bob", "bob-token")),
        ("Origin", "http://evil.example".to_owned()),
    ];
    assert_eq!(lab.http("POST", &cancel, &cross, b"").await.status, 403);
    assert_eq!(
        lab.lab.job(queued).await.unwrap().state,
        JobState::Submitted
    );
    let bob = [("Authorization", basic_header("bob", "bob-token"))];
    let done = lab.http("POST", &cancel, &bob, b"").await;
    assert_eq!(done.status, 303);
    assert_eq!(lab.lab.job(queued).await.unwrap().state, JobState::Finished);
    let _ = running;
}

#[tokio::test]
async fn metrics_in_the_prometheus_text_format() {
    let (lab, ..) = lab_with_jobs().await;
    lab.ok(None, "system.version", &[]).await;
    lab.fault(None, "no.such.method", &[], -32601).await;
    let metrics = get(&lab, "/metrics", None).await;
    assert_eq!(metrics.status, 200);
    for expected in [
        r#"lava_jobs{state="Running",health="Unknown"} 1"#,
        r#"lava_jobs{state="Submitted",health="Unknown"} 2"#,
        r#"lava_queue_depth{device_type="qemu"} 2"#,
        r#"lava_devices{state="Running",health="Unknown"} 1"#,
        r#"lava_workers_online{protocol="zmq"} 0"#,
        r#"lava_log_lines_total 2"#,
        r#"lava_api_requests_total{method="system.version",status="ok"} 1"#,
        r#"lava_api_requests_total{method="unknown",status="-32601"} 1"#,
        "# TYPE lava_scheduling_pass_seconds histogram",
        "# EOF",
    ] {
        assert!(
            metrics.body.contains(expected),
            "{expected} missing:\n{}",
            metrics.body
        );
    }
}

#[tokio::test]
async fn the_api_says_why_a_job_waits() {
    let (lab, running, queued, _) = lab_with_jobs().await;
    let shown = lab
        .ok(None, "scheduler.jobs.show", &[Value::Int(queued)])
        .await;
    let Value::String(reason) = member(&shown, "waiting_reason") else {
        panic!("{shown:?}")
    };
    assert!(reason.contains("busy"), "{reason}");
    let why = lab
        .ok(None, "scheduler.jobs.why", &[Value::Int(queued)])
        .await;
    assert_eq!(member(&why, "reason"), &s("all_devices_busy"));
    assert_eq!(member(&why, "state"), &s("Submitted"));
    let why = lab
        .ok(None, "scheduler.jobs.why", &[Value::Int(running)])
        .await;
    assert_eq!(member(&why, "reason"), &s("not_queued"));
    let shown = lab
        .ok(None, "scheduler.jobs.show", &[Value::Int(running)])
        .await;
    assert_eq!(member(&shown, "waiting_reason"), &Value::Nil);
    lab.fault(None, "scheduler.jobs.why", &[Value::Int(999)], 404)
        .await;
}

#[tokio::test]
async fn a_worker_shows_the_protocol_it_last_connected_with() {
    let (lab, ..) = lab_with_jobs().await;
    let worker = get(&lab, "/scheduler/worker/w1", None).await;
    assert!(
        worker.body.contains("<th>Protocol</th><td>zmq</td>"),
        "{}",
        worker.body
    );
    lab.lab
        .store()
        .set_worker_protocol("w1", lava_core::model::WorkerProtocol::Http, None)
        .await
        .unwrap();
    let worker = get(&lab, "/scheduler/worker/w1", None).await;
    assert!(
        worker.body.contains("<th>Protocol</th><td>http</td>"),
        "{}",
        worker.body
    );
    let metrics = get(&lab, "/metrics", None).await;
    assert!(
        metrics
            .body
            .contains(r#"lava_workers_online{protocol="http"} 0"#),
        "{}",
        metrics.body
    );
}
