//! The HTTP side: authentication, malformed and hostile requests. After each, the server
//! must still answer.

mod api_support;

use api_support::*;
use lava_http::codec::{parse_response, write_method_call};
use lava_http::fault::codes::*;
use lava_http::{Api, Value};
use proptest::prelude::*;
use std::sync::Arc;

fn fault_code(body: &str) -> i32 {
    match parse_response(body.as_bytes()).expect("a methodResponse") {
        Err(fault) => fault.code,
        Ok(v) => panic!("expected a fault, got {v:?}"),
    }
}

async fn still_serving(lab: &Lab) {
    assert_eq!(lab.ok(ANON, "system.version", &[]).await, s("2020.05"));
}

#[tokio::test]
async fn python_request_and_response_shape() {
    let lab = Lab::start().await;
    let body = "<?xml version='1.0'?>\n<methodCall>\n<methodName>system.whoami</methodName>\n<params>\n</params>\n</methodCall>\n";
    let response = lab.post(ADMIN, body.as_bytes()).await;
    assert_eq!(response.status, 200);
    assert!(response
        .headers
        .iter()
        .any(|(n, v)| n == "content-type" && v == "application/xml"));
    assert_eq!(
        response.body,
        "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><string>admin</string></value>\n</param>\n</params>\n</methodResponse>\n"
    );
    // The path with a trailing slash works too.
    let response = lab.http("POST", "/RPC2/", &[], body.as_bytes()).await;
    assert_eq!(
        parse_response(response.body.as_bytes()).unwrap(),
        Ok(Value::Nil)
    );
}

#[tokio::test]
async fn authentication() {
    let lab = Lab::start().await;
    let call = write_method_call("system.whoami", &[]);
    let wrong = lab.post(Some(("admin", "wrong")), call.as_bytes()).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.body, "Invalid token");
    assert!(wrong
        .headers
        .iter()
        .any(|(n, v)| n == "www-authenticate" && v.starts_with("Basic")));
    let unknown = lab
        .post(Some(("mallory", "admin-token")), call.as_bytes())
        .await;
    assert_eq!(unknown.status, 401);
    for (header, text) in [
        ("Basic", "Invalid HTTP_AUTHORIZATION header"),
        (
            "Bearer abc",
            "Unsupported HTTP_AUTHORIZATION header, only Basic scheme is supported",
        ),
        (
            "Basic ***",
            "Corrupted HTTP_AUTHORIZATION header, bad base64 encoding",
        ),
        (
            "Basic YWRtaW4=",
            "Corrupted HTTP_AUTHORIZATION header, no user:pass",
        ),
    ] {
        let response = lab
            .http(
                "POST",
                "/RPC2",
                &[("Authorization", header.to_owned())],
                call.as_bytes(),
            )
            .await;
        assert_eq!(response.status, 400, "{header}");
        assert_eq!(response.body, text);
    }
    still_serving(&lab).await;
}

#[tokio::test]
async fn malformed_requests_are_faults() {
    let lab = Lab::start().await;
    for (body, code) in [
        (&b"this is not xml"[..], NOT_WELL_FORMED),
        (b"<methodCall><methodName>system.version</methodName>", NOT_WELL_FORMED),
        (b"<methodCall><methodName>system.version</methodName></methodCall>\xff", NOT_WELL_FORMED),
        (b"", NOT_WELL_FORMED),
        (b"<methodResponse/>", INVALID_XML_RPC),
        (b"<methodCall><params/></methodCall>", INVALID_XML_RPC),
        (b"<methodCall><methodName>system.version</methodName><params><param><value><struct><member/></struct></value></param></params></methodCall>", INVALID_XML_RPC),
        (b"<methodCall><methodName>scheduler.fly</methodName></methodCall>", METHOD_NOT_FOUND),
        (b"<methodCall><methodName>scheduler.jobs.show</methodName><params><param><value><array><data/></array></value></param></params></methodCall>", INVALID_PARAMS),
    ] {
        let response = lab.post(ANON, body).await;
        assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(body));
        assert_eq!(fault_code(&response.body), code, "{}", String::from_utf8_lossy(body));
    }
    still_serving(&lab).await;
}

#[tokio::test]
async fn deep_nesting_is_a_fault() {
    let lab = Lab::start().await;
    let depth = 50_000;
    let body = format!(
        "<methodCall><methodName>system.version</methodName><params><param>{}{}</param></params></methodCall>",
        "<value><array><data>".repeat(depth),
        "</data></array></value>".repeat(depth)
    );
    let response = lab.post(ANON, body.as_bytes()).await;
    assert_eq!(fault_code(&response.body), INVALID_XML_RPC);
    still_serving(&lab).await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let lab = Lab::start_with(|api| api.with_body_limit(4096)).await;
    let definition = "x".repeat(100_000);
    let body = write_method_call("scheduler.jobs.validate", &[Value::str(definition)]);
    let response = lab.post(ANON, body.as_bytes()).await;
    assert_eq!(response.status, 200);
    assert_eq!(fault_code(&response.body), INVALID_XML_RPC);
    assert!(
        response.body.contains("larger than 4096 bytes"),
        "{}",
        response.body
    );
    // Just under the limit is served.
    let small = write_method_call("system.methodHelp", &[Value::str("y".repeat(3800))]);
    assert!(small.len() < 4096);
    assert_eq!(
        lab.ok(ANON, "system.methodHelp", &[Value::str("y".repeat(3800))])
            .await,
        s("")
    );
    still_serving(&lab).await;
}

#[tokio::test]
async fn other_http_methods_and_paths() {
    let lab = Lab::start().await;
    assert_eq!(lab.http("GET", "/RPC2", &[], b"").await.status, 405);
    assert_eq!(lab.http("POST", "/api", &[], b"").await.status, 404);
    still_serving(&lab).await;
}

#[tokio::test]
async fn concurrent_clients() {
    let lab = Arc::new(Lab::start().await);
    lab.seed().await;
    let mut tasks = Vec::new();
    for n in 0..16 {
        let lab = lab.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("w-{n}");
            lab.ok(ADMIN, "scheduler.workers.add", &[s(&name)]).await;
            lab.ok(ANON, "scheduler.workers.show", &[s(&name)]).await
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let Value::Array(workers) = lab.ok(ANON, "scheduler.workers.list", &[]).await else {
        panic!()
    };
    assert_eq!(workers.len(), 17);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the body, the API answers HTTP 200 with a well-formed methodResponse.
    #[test]
    fn any_body_gets_a_response(
        cut in 0usize..600,
        flip in any::<(usize, u8)>(),
        method in prop::sample::select(vec!["scheduler.jobs.show", "scheduler.workers.add", "system.methodHelp", "scheduler.devices.update"]),
        arg in any::<i64>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let api = Api::new(runtime.block_on(new_lab(dir.path())));
        let call = write_method_call(method, &[Value::Int(arg), Value::str("w"), Value::Nil]);
        let mut body = call.into_bytes();
        body.truncate(cut.max(1));
        let at = flip.0 % body.len();
        body[at] ^= flip.1;
        let header = lava_http::auth::basic_header("admin", "admin-token");
        let (status, text) = runtime.block_on(api.handle(Some(header.as_bytes()), &body));
        prop_assert_eq!(status, 200);
        prop_assert!(parse_response(text.as_bytes()).is_ok(), "{}", text);
    }
}

#[tokio::test]
async fn graceful_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let lab = new_lab(dir.path()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(Api::new(lab).serve_until(listener, async {
        let _ = stopped.await;
    }));
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// Arguments of any type, including nested ones.
fn arb_arg() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(Value::Int),
        (-3i64..5).prop_map(Value::Int),
        any::<bool>().prop_map(Value::Bool),
        prop::sample::select(vec![
            "w1",
            "qemu",
            "qemu01",
            "1",
            "",
            "../x",
            "MAINTENANCE",
            "hours",
            "job_name: x"
        ])
        .prop_map(Value::str),
        "[a-z0-9 ]{0,8}".prop_map(Value::String),
        Just(Value::Nil),
        Just(Value::Double(1.5)),
        Just(Value::DateTime("20200501T00:00:00".into())),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(Value::Base64),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::vec(("[a-z]{1,4}", inner), 0..3).prop_map(Value::Struct),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Every method, any arguments, any caller: a value or a fault with a known code.
    #[test]
    fn any_arguments_to_any_method(
        method in prop::sample::select(lava_http::methods::METHODS.iter().map(|(n, _)| *n).collect::<Vec<_>>()),
        args in prop::collection::vec(arb_arg(), 0..9),
        caller in 0usize..3,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let api = Api::new(runtime.block_on(new_lab(dir.path())));
        let admin = lava_http::auth::basic_header("admin", "admin-token");
        let bob = lava_http::auth::basic_header("bob", "bob-token");
        let seed = [
            write_method_call("scheduler.workers.add", &[s("w1")]),
            write_method_call("scheduler.device_types.add", &[s("qemu"), Value::Nil, Value::Bool(true), Value::Bool(false), Value::Int(1), s("jobs")]),
            write_method_call("scheduler.devices.add", &[s("qemu01"), s("qemu"), s("w1")]),
            write_method_call("scheduler.jobs.submit", &[s(&definition("j", "personal"))]),
        ];
        for call in &seed {
            runtime.block_on(api.handle(Some(admin.as_bytes()), call.as_bytes()));
        }
        let auth = [Some(admin.as_bytes()), Some(bob.as_bytes()), None][caller];
        let body = write_method_call(method, &args);
        let (status, text) = runtime.block_on(api.handle(auth, body.as_bytes()));
        prop_assert_eq!(status, 200);
        if let Err(fault) = parse_response(text.as_bytes()).expect("a methodResponse") {
            prop_assert!(
                [BAD_REQUEST, AUTH_REQUIRED, FORBIDDEN, NOT_FOUND, INVALID_PARAMS].contains(&fault.code),
                "{} {:?}: {}", method, args, fault
            );
        }
    }
}

#[tokio::test]
async fn large_bodies_under_the_default_limit_are_served() {
    let lab = Lab::start().await;
    // Larger than axum's 2 MiB default for extractors, under the API's 10 MiB.
    let text = "z".repeat(3 * 1024 * 1024);
    assert_eq!(
        lab.ok(ANON, "system.methodHelp", &[Value::str(text)]).await,
        s("")
    );
}
