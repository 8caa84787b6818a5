//! Every method over HTTP against a real lab (in-memory store, temporary directory):
//! answers, permissions and faults.

mod api_support;

use api_support::*;
use lava_core::model::{JobHealth, JobState};
use lava_http::fault::codes::*;
use lava_http::methods::METHODS;
use lava_http::Value;

fn b(v: bool) -> Value {
    Value::Bool(v)
}

fn i(v: i64) -> Value {
    Value::Int(v)
}

#[tokio::test]
async fn system_methods() {
    let lab = Lab::start().await;
    assert_eq!(lab.ok(ANON, "system.version", &[]).await, s("2020.05"));
    assert_eq!(lab.ok(ANON, "system.api_version", &[]).await, i(2));
    assert_eq!(lab.ok(ADMIN, "system.whoami", &[]).await, s("admin"));
    assert_eq!(lab.ok(ANON, "system.whoami", &[]).await, Value::Nil);
    let Value::Array(names) = lab.ok(ANON, "system.listMethods", &[]).await else {
        panic!("not a list")
    };
    assert_eq!(names.len(), METHODS.len());
    for wanted in [
        "scheduler.jobs.submit",
        "scheduler.workers.set_certificate",
        "results.get_testjob_results_yaml",
        "system.methodHelp",
    ] {
        assert!(names.contains(&s(wanted)), "{wanted}");
    }
    let Value::String(help) = lab
        .ok(ANON, "system.methodHelp", &[s("scheduler.workers.add")])
        .await
    else {
        panic!("not a string")
    };
    assert!(help.contains("disabled"), "{help}");
    assert_eq!(
        lab.ok(ANON, "system.methodHelp", &[s("no.such")]).await,
        s("")
    );
    lab.fault(ANON, "system.version", &[s("extra")], INVALID_PARAMS)
        .await;
    lab.fault(ANON, "system.methodHelp", &[], INVALID_PARAMS)
        .await;
    let msg = lab
        .fault(ANON, "scheduler.nothing", &[], METHOD_NOT_FOUND)
        .await;
    assert!(msg.contains("scheduler.nothing"), "{msg}");
}

#[tokio::test]
async fn every_listed_method_is_dispatched() {
    let lab = Lab::start().await;
    for (name, _) in METHODS {
        if let Err(f) = lab.call(ADMIN, name, &[]).await {
            assert_ne!(
                f.code, METHOD_NOT_FOUND,
                "{name} is listed but not dispatched"
            );
        }
    }
}

#[tokio::test]
async fn workers() {
    let lab = Lab::start().await;
    let add = "scheduler.workers.add";
    assert_eq!(
        lab.ok(ADMIN, add, &[s("w1"), s("rack 1"), b(false)]).await,
        Value::Nil
    );
    lab.ok(ADMIN, add, &[s("w2"), Value::Nil, b(true)]).await;
    lab.ok(ADMIN, add, &[s("w3")]).await;
    let msg = lab.fault(ADMIN, add, &[s("w1")], BAD_REQUEST).await;
    assert_eq!(msg, "Bad request: worker already exists?");
    lab.fault(ANON, add, &[s("w4")], AUTH_REQUIRED).await;
    let msg = lab.fault(BOB, add, &[s("w4")], FORBIDDEN).await;
    assert_eq!(
        msg,
        "User 'bob' is missing permission lava_scheduler_app.add_worker ."
    );
    lab.fault(ADMIN, add, &[s("../w4")], BAD_REQUEST).await;
    lab.fault(ADMIN, add, &[i(4)], INVALID_PARAMS).await;
    lab.fault(ADMIN, add, &[], INVALID_PARAMS).await;
    lab.fault(
        ADMIN,
        add,
        &[s("w4"), Value::Nil, b(false), b(false)],
        INVALID_PARAMS,
    )
    .await;

    assert_eq!(
        lab.ok(ANON, "scheduler.workers.list", &[]).await,
        Value::str_array(["w1", "w2", "w3"])
    );

    lab.ok(
        ADMIN,
        "scheduler.device_types.add",
        &[s("qemu"), Value::Nil, b(true), b(false), i(24), s("hours")],
    )
    .await;
    lab.ok(
        ADMIN,
        "scheduler.devices.add",
        &[s("qemu02"), s("qemu"), s("w1")],
    )
    .await;
    lab.ok(
        ADMIN,
        "scheduler.devices.add",
        &[s("qemu01"), s("qemu"), s("w1")],
    )
    .await;
    let w1 = lab.ok(ANON, "scheduler.workers.show", &[s("w1")]).await;
    assert_eq!(
        member_names(&w1),
        [
            "hostname",
            "description",
            "state",
            "health",
            "devices",
            "last_ping",
            "job_limit"
        ]
    );
    assert_eq!(member(&w1, "description"), &s("rack 1"));
    assert_eq!(member(&w1, "state"), &s("Offline"));
    assert_eq!(member(&w1, "health"), &s("Active"));
    assert_eq!(
        member(&w1, "devices"),
        &Value::str_array(["qemu01", "qemu02"])
    );
    assert_eq!(member(&w1, "last_ping"), &Value::Nil);
    assert_eq!(member(&w1, "job_limit"), &i(0));
    let w2 = lab.ok(ANON, "scheduler.workers.show", &[s("w2")]).await;
    assert_eq!(
        member(&w2, "health"),
        &s("Retired"),
        "disabled workers are retired"
    );
    assert_eq!(member(&w2, "description"), &Value::Nil);
    let msg = lab
        .fault(ANON, "scheduler.workers.show", &[s("nope")], NOT_FOUND)
        .await;
    assert_eq!(msg, "Worker 'nope' was not found.");

    let update = "scheduler.workers.update";
    lab.ok(ADMIN, update, &[s("w2"), s("back"), s("MAINTENANCE"), i(3)])
        .await;
    let w2 = lab.ok(ANON, "scheduler.workers.show", &[s("w2")]).await;
    assert_eq!(member(&w2, "health"), &s("Maintenance"));
    assert_eq!(member(&w2, "description"), &s("back"));
    assert_eq!(member(&w2, "job_limit"), &i(3));
    lab.ok(ADMIN, update, &[s("w2"), Value::Nil, s("ACTIVE")])
        .await;
    let w2 = lab.ok(ANON, "scheduler.workers.show", &[s("w2")]).await;
    assert_eq!(member(&w2, "health"), &s("Active"));
    assert_eq!(
        member(&w2, "description"),
        &s("back"),
        "nil leaves it alone"
    );
    let msg = lab
        .fault(
            ADMIN,
            update,
            &[s("w2"), Value::Nil, s("active")],
            BAD_REQUEST,
        )
        .await;
    assert_eq!(msg, "Invalid health: active");
    lab.fault(
        ADMIN,
        update,
        &[s("w2"), Value::Nil, Value::Nil, i(-1)],
        BAD_REQUEST,
    )
    .await;
    lab.fault(
        ADMIN,
        update,
        &[s("w2"), Value::Nil, Value::Nil, s("3")],
        BAD_REQUEST,
    )
    .await;
    lab.fault(ADMIN, update, &[s("nope")], NOT_FOUND).await;
    lab.fault(BOB, update, &[s("w2")], FORBIDDEN).await;
    lab.fault(ANON, update, &[s("w2")], AUTH_REQUIRED).await;
}

#[tokio::test]
async fn worker_files() {
    let lab = Lab::start().await;
    lab.seed().await;
    for (get, set, missing) in [
        (
            "scheduler.workers.get_config",
            "scheduler.workers.set_config",
            "Worker 'w1' does not have a dispatcher configuration",
        ),
        (
            "scheduler.workers.get_env",
            "scheduler.workers.set_env",
            "Worker 'w1' does not have an env file",
        ),
    ] {
        assert_eq!(lab.fault(ANON, get, &[s("w1")], NOT_FOUND).await, missing);
        lab.fault(ANON, get, &[s("nope")], NOT_FOUND).await;
        assert_eq!(
            lab.fault(ANON, get, &[s("../etc")], BAD_REQUEST).await,
            "Invalid worker name"
        );
        lab.fault(ANON, set, &[s("w1"), s("x: 1\n")], AUTH_REQUIRED)
            .await;
        lab.fault(BOB, set, &[s("w1"), s("x: 1\n")], FORBIDDEN)
            .await;
        lab.fault(ADMIN, set, &[s("nope"), s("x: 1\n")], NOT_FOUND)
            .await;
        lab.fault(ADMIN, set, &[s("w1")], INVALID_PARAMS).await;
        assert_eq!(lab.ok(ADMIN, set, &[s("w1"), s("x: 1\n")]).await, b(true));
        // Reading needs no authentication in LAVA 2020.05.
        assert_eq!(
            lab.ok(ANON, get, &[s("w1")]).await,
            Value::Base64(b"x: 1\n".to_vec())
        );
    }
    let (get, set) = (
        "scheduler.workers.get_certificate",
        "scheduler.workers.set_certificate",
    );
    let msg = lab.fault(BOB, get, &[s("w1")], FORBIDDEN).await;
    assert_eq!(
        msg,
        "Insufficient permissions. Please contact system administrator."
    );
    lab.fault(ANON, set, &[s("w1"), s("key")], FORBIDDEN).await;
    let msg = lab.fault(ADMIN, get, &[s("w1")], NOT_FOUND).await;
    assert_eq!(msg, "Worker 'w1' does not have a certificate uploaded");
    assert_eq!(
        lab.ok(ADMIN, set, &[s("w1"), s("curve key")]).await,
        b(true)
    );
    assert_eq!(
        lab.ok(ADMIN, get, &[s("w1")]).await,
        Value::Base64(b"curve key".to_vec())
    );
    // Files may also arrive as base64.
    assert_eq!(
        lab.ok(ADMIN, set, &[s("w1"), Value::Base64(b"other".to_vec())])
            .await,
        b(true)
    );
    assert_eq!(
        lab.ok(ADMIN, get, &[s("w1")]).await,
        Value::Base64(b"other".to_vec())
    );
    lab.fault(
        ADMIN,
        set,
        &[s("w1"), Value::Base64(vec![0xff])],
        BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn device_types() {
    let lab = Lab::start().await;
    let add = "scheduler.device_types.add";
    let args = |name: &str, denominator: &str| {
        vec![s(name), s("QEMU"), b(true), b(false), i(24), s(denominator)]
    };
    assert_eq!(lab.ok(ADMIN, add, &args("qemu", "hours")).await, Value::Nil);
    lab.ok(ADMIN, add, &args("bbb", "jobs")).await;
    let msg = lab
        .fault(ADMIN, add, &args("qemu", "hours"), BAD_REQUEST)
        .await;
    assert_eq!(msg, "Bad request: device-type name is already used.");
    let msg = lab
        .fault(ADMIN, add, &args("x86", "days"), BAD_REQUEST)
        .await;
    assert_eq!(msg, "Bad request: invalid health_denominator.");
    lab.fault(ADMIN, add, &args("bad name", "hours"), BAD_REQUEST)
        .await;
    lab.fault(
        ADMIN,
        add,
        &[s("x86"), s("d"), b(true), b(false), i(-1), s("hours")],
        BAD_REQUEST,
    )
    .await;
    lab.fault(ADMIN, add, &[s("x86")], INVALID_PARAMS).await;
    lab.fault(
        ADMIN,
        add,
        &[s("x86"), s("d"), s("yes"), b(false), i(1), s("hours")],
        INVALID_PARAMS,
    )
    .await;
    lab.fault(BOB, add, &args("x86", "hours"), FORBIDDEN).await;
    lab.fault(ANON, add, &args("x86", "hours"), AUTH_REQUIRED)
        .await;

    let (get, set) = (
        "scheduler.device_types.get_template",
        "scheduler.device_types.set_template",
    );
    let msg = lab.fault(ANON, get, &[s("qemu")], NOT_FOUND).await;
    assert_eq!(msg, "Device-type 'qemu' was not found.");
    let msg = lab.fault(ANON, get, &[s("../qemu")], BAD_REQUEST).await;
    assert_eq!(msg, "Invalid device-type '../qemu'");
    lab.fault(ADMIN, set, &[s(".hidden"), s("t")], BAD_REQUEST)
        .await;
    lab.fault(BOB, set, &[s("qemu"), s("t")], FORBIDDEN).await;
    lab.fault(ANON, set, &[s("qemu"), s("t")], AUTH_REQUIRED)
        .await;
    assert_eq!(
        lab.ok(ADMIN, set, &[s("qemu"), s("{# qemu #}\n")]).await,
        Value::Nil
    );
    lab.ok(ADMIN, set, &[s("juno"), s("{# juno #}\n")]).await;
    lab.ok(ADMIN, set, &[s("base-uboot"), s("{# base #}\n")])
        .await;
    assert_eq!(
        lab.ok(ANON, get, &[s("qemu")]).await,
        Value::Base64(b"{# qemu #}\n".to_vec())
    );

    lab.seed_devices_for_types().await;
    let list = lab.ok(ANON, "scheduler.device_types.list", &[]).await;
    let Value::Array(items) = &list else { panic!() };
    assert_eq!(items.len(), 2);
    assert_eq!(
        member_names(&items[0]),
        ["name", "devices", "installed", "template"]
    );
    assert_eq!(member(&items[0], "name"), &s("bbb"));
    assert_eq!(member(&items[0], "template"), &b(false));
    assert_eq!(member(&items[1], "name"), &s("qemu"));
    assert_eq!(member(&items[1], "devices"), &i(2));
    assert_eq!(member(&items[1], "template"), &b(true));
    let Value::Array(all) = lab
        .ok(ANON, "scheduler.device_types.list", &[b(true)])
        .await
    else {
        panic!()
    };
    // Templates without a device type are listed, base templates are not.
    assert_eq!(all.len(), 3);
    assert_eq!(member(&all[2], "name"), &s("juno"));
    assert_eq!(member(&all[2], "installed"), &b(false));

    let qemu = lab
        .ok(ANON, "scheduler.device_types.show", &[s("qemu")])
        .await;
    assert_eq!(
        member_names(&qemu),
        [
            "name",
            "description",
            "display",
            "health_disabled",
            "aliases",
            "devices"
        ]
    );
    assert_eq!(member(&qemu, "description"), &s("QEMU"));
    assert_eq!(
        member(&qemu, "devices"),
        &Value::str_array(["qemu01", "qemu02"])
    );
    lab.fault(ANON, "scheduler.device_types.show", &[s("juno")], NOT_FOUND)
        .await;
}

trait SeedTypes {
    async fn seed_devices_for_types(&self);
}

impl SeedTypes for Lab {
    async fn seed_devices_for_types(&self) {
        self.ok(ADMIN, "scheduler.workers.add", &[s("w1")]).await;
        for d in ["qemu01", "qemu02"] {
            self.ok(ADMIN, "scheduler.devices.add", &[s(d), s("qemu"), s("w1")])
                .await;
        }
    }
}

#[tokio::test]
async fn devices() {
    let lab = Lab::start().await;
    lab.seed().await;
    lab.ok(ADMIN, "scheduler.workers.add", &[s("w2")]).await;
    let add = "scheduler.devices.add";
    let full = |name: &str, health: Value| {
        vec![
            s(name),
            s("qemu"),
            s("w1"),
            Value::Nil,
            Value::Nil,
            b(true),
            health,
            s("desk"),
        ]
    };
    lab.ok(ADMIN, add, &full("qemu02", s("RETIRED"))).await;
    let msg = lab
        .fault(ADMIN, add, &full("qemu03", s("Broken")), BAD_REQUEST)
        .await;
    assert_eq!(msg, "Invalid health");
    let msg = lab
        .fault(ADMIN, add, &[s("qemu03"), s("juno"), s("w1")], NOT_FOUND)
        .await;
    assert_eq!(msg, "DeviceType 'juno' was not found.");
    let msg = lab
        .fault(ADMIN, add, &[s("qemu03"), s("qemu"), s("w9")], NOT_FOUND)
        .await;
    assert_eq!(msg, "Worker 'w9' was not found.");
    let msg = lab
        .fault(ADMIN, add, &[s("qemu01"), s("qemu"), s("w1")], BAD_REQUEST)
        .await;
    assert_eq!(msg, "Bad request: device already exists?");
    lab.fault(BOB, add, &[s("qemu03"), s("qemu"), s("w1")], FORBIDDEN)
        .await;
    lab.fault(ANON, add, &[s("qemu03"), s("qemu"), s("w1")], AUTH_REQUIRED)
        .await;
    lab.fault(ADMIN, add, &[s("qemu03"), s("qemu")], INVALID_PARAMS)
        .await;

    let Value::Array(listed) = lab.ok(ANON, "scheduler.devices.list", &[]).await else {
        panic!()
    };
    assert_eq!(listed.len(), 1, "retired devices are hidden");
    assert_eq!(
        member_names(&listed[0]),
        [
            "hostname",
            "type",
            "health",
            "state",
            "current_job",
            "pipeline"
        ]
    );
    assert_eq!(member(&listed[0], "health"), &s("Unknown"));
    assert_eq!(member(&listed[0], "state"), &s("Idle"));
    let Value::Array(all) = lab.ok(ANON, "scheduler.devices.list", &[b(true)]).await else {
        panic!()
    };
    assert_eq!(all.len(), 2);

    let show = lab.ok(ANON, "scheduler.devices.show", &[s("qemu02")]).await;
    assert_eq!(
        member_names(&show),
        [
            "hostname",
            "device_type",
            "health",
            "state",
            "health_job",
            "description",
            "pipeline",
            "has_device_dict",
            "worker",
            "current_job",
            "tags"
        ]
    );
    assert_eq!(member(&show, "health"), &s("Retired"));
    assert_eq!(member(&show, "description"), &s("desk"));
    assert_eq!(member(&show, "worker"), &s("w1"));
    assert_eq!(member(&show, "has_device_dict"), &b(false));
    let msg = lab
        .fault(ANON, "scheduler.devices.show", &[s("nope")], NOT_FOUND)
        .await;
    assert_eq!(msg, "Device 'nope' was not found.");

    let update = "scheduler.devices.update";
    lab.ok(
        ADMIN,
        update,
        &[
            s("qemu01"),
            s("w2"),
            Value::Nil,
            Value::Nil,
            b(true),
            s("MAINTENANCE"),
            s("moved"),
        ],
    )
    .await;
    let show = lab.ok(ANON, "scheduler.devices.show", &[s("qemu01")]).await;
    assert_eq!(member(&show, "worker"), &s("w2"));
    assert_eq!(member(&show, "health"), &s("Maintenance"));
    assert_eq!(member(&show, "description"), &s("moved"));
    let msg = lab
        .fault(ADMIN, update, &[s("qemu01"), s("w9")], NOT_FOUND)
        .await;
    assert_eq!(msg, "Unable to find worker 'w9'");
    let msg = lab
        .fault(
            ADMIN,
            update,
            &[
                s("qemu01"),
                Value::Nil,
                Value::Nil,
                Value::Nil,
                b(true),
                s("Fine"),
            ],
            BAD_REQUEST,
        )
        .await;
    assert_eq!(msg, "Health 'Fine' is invalid");
    let msg = lab.fault(ANON, update, &[s("qemu01")], FORBIDDEN).await;
    assert_eq!(
        msg,
        "User 'AnonymousUser' needs admin permission on device qemu01."
    );
    lab.fault(BOB, update, &[s("qemu01")], FORBIDDEN).await;
    lab.fault(ADMIN, update, &[s("nope")], NOT_FOUND).await;
}

#[tokio::test]
async fn device_dictionaries() {
    let lab = Lab::start().await;
    lab.seed().await;
    let (get, set) = (
        "scheduler.devices.get_dictionary",
        "scheduler.devices.set_dictionary",
    );
    let msg = lab.fault(ANON, get, &[s("qemu01")], NOT_FOUND).await;
    assert_eq!(msg, "Device 'qemu01' does not have a configuration");
    lab.fault(ANON, get, &[s("nope")], NOT_FOUND).await;
    let dict = "{% extends 'qemu.jinja2' %}\n{% set memory = 1024 %}\n";
    let msg = lab
        .fault(BOB, set, &[s("qemu01"), s(dict)], FORBIDDEN)
        .await;
    assert_eq!(msg, "User 'bob' needs admin permission on device qemu01.");
    lab.fault(ADMIN, set, &[s("nope"), s(dict)], NOT_FOUND)
        .await;
    assert_eq!(lab.ok(ADMIN, set, &[s("qemu01"), s(dict)]).await, b(true));
    assert_eq!(
        lab.ok(ANON, get, &[s("qemu01")]).await,
        Value::Base64(dict.as_bytes().to_vec())
    );
    let show = lab.ok(ANON, "scheduler.devices.show", &[s("qemu01")]).await;
    assert_eq!(member(&show, "has_device_dict"), &b(true));
    // Rendered as the master renders it for a job with this context.
    let Value::Base64(rendered) = lab
        .ok(ANON, get, &[s("qemu01"), b(true), s("{arch: amd64}")])
        .await
    else {
        panic!("not base64")
    };
    assert!(
        String::from_utf8(rendered)
            .unwrap()
            .starts_with("commands: {connect: telnet"),
        "rendered"
    );
    // A dictionary that does not render never replaces the one in place.
    let msg = lab
        .fault(
            ADMIN,
            set,
            &[s("qemu01"), s("{% extends 'none.jinja2' %}")],
            BAD_REQUEST,
        )
        .await;
    assert!(msg.contains("none.jinja2"), "{msg}");
    lab.fault(
        ANON,
        get,
        &[s("qemu01"), b(true), s("{unclosed")],
        BAD_REQUEST,
    )
    .await;
    lab.fault(ANON, get, &[s("qemu01"), s("yes")], INVALID_PARAMS)
        .await;
    // An empty dictionary deletes it.
    assert_eq!(lab.ok(ADMIN, set, &[s("qemu01"), s("")]).await, b(true));
    lab.fault(ANON, get, &[s("qemu01")], NOT_FOUND).await;
}

#[tokio::test]
async fn job_submission_and_details() {
    let lab = Lab::start().await;
    lab.seed().await;
    let public = definition("public job", "public");
    let private = definition("private job", "personal");
    for method in ["scheduler.jobs.submit", "scheduler.submit_job"] {
        let msg = lab.fault(ANON, method, &[s(&public)], AUTH_REQUIRED).await;
        assert_eq!(
            msg,
            "Authentication with user and token required for this API."
        );
    }
    assert_eq!(
        lab.ok(BOB, "scheduler.jobs.submit", &[s(&public)]).await,
        i(1)
    );
    assert_eq!(
        lab.ok(BOB, "scheduler.submit_job", &[s(&private)]).await,
        i(2)
    );
    let msg = lab
        .fault(
            BOB,
            "scheduler.jobs.submit",
            &[s("job_name: [")],
            BAD_REQUEST,
        )
        .await;
    assert!(msg.starts_with("Decoding job submission failed"), "{msg}");
    let msg = lab
        .fault(
            BOB,
            "scheduler.jobs.submit",
            &[s("job_name: x\n")],
            BAD_REQUEST,
        )
        .await;
    assert!(
        msg.starts_with("Problem with submitted job data: required key not provided @ data["),
        "{msg}"
    );
    let other_type = public.replace("device_type: qemu", "device_type: juno");
    // LAVA 2020.05 turns the unknown type into DevicesUnavailableException (400).
    let msg = lab
        .fault(BOB, "scheduler.jobs.submit", &[s(&other_type)], BAD_REQUEST)
        .await;
    assert_eq!(
        msg,
        "Device unavailable: Device type 'juno' is unavailable."
    );
    lab.fault(BOB, "scheduler.jobs.submit", &[i(3)], INVALID_PARAMS)
        .await;

    let show = lab.ok(ANON, "scheduler.jobs.show", &[s("1")]).await;
    assert_eq!(
        member_names(&show),
        [
            "id",
            "description",
            "device",
            "device_type",
            "health_check",
            "pipeline",
            "health",
            "state",
            "submitter",
            "submit_time",
            "start_time",
            "end_time",
            "tags",
            "visibility",
            "failure_comment",
            // lava-rs' own, after LAVA's fields (lavacli ignores it).
            "waiting_reason"
        ]
    );
    assert_eq!(member(&show, "id"), &i(1));
    assert_eq!(member(&show, "description"), &s("public job"));
    assert_eq!(member(&show, "submitter"), &s("bob"));
    assert_eq!(member(&show, "state"), &s("Submitted"));
    assert_eq!(member(&show, "health"), &s("Unknown"));
    assert_eq!(member(&show, "visibility"), &s("Public"));
    assert_eq!(member(&show, "device"), &Value::Nil);
    let submitted = lab.lab.job(1).await.unwrap().submit_time;
    assert_eq!(member(&show, "submit_time"), &Value::datetime(submitted));
    assert_eq!(lab.ok(ANON, "scheduler.jobs.show", &[i(1)]).await, show);

    // A personal job is visible to its submitter and admins only.
    let msg = lab
        .fault(ANON, "scheduler.jobs.show", &[i(2)], FORBIDDEN)
        .await;
    assert_eq!(msg, "Job '2' not available to user 'AnonymousUser'.");
    let msg = lab
        .fault(EVE, "scheduler.jobs.show", &[i(2)], FORBIDDEN)
        .await;
    assert_eq!(msg, "Job '2' not available to user 'eve'.");
    let show = lab.ok(ADMIN, "scheduler.jobs.show", &[i(2)]).await;
    assert_eq!(member(&show, "visibility"), &s("Personal"));
    let msg = lab
        .fault(ANON, "scheduler.jobs.show", &[i(99)], NOT_FOUND)
        .await;
    assert_eq!(msg, "Job '99' was not found.");
    lab.fault(ANON, "scheduler.jobs.show", &[s("abc")], NOT_FOUND)
        .await;
    lab.fault(ANON, "scheduler.jobs.show", &[b(true)], INVALID_PARAMS)
        .await;

    assert_eq!(
        lab.ok(BOB, "scheduler.jobs.definition", &[i(2)]).await,
        s(&private)
    );
    lab.fault(EVE, "scheduler.jobs.definition", &[i(2)], FORBIDDEN)
        .await;
    lab.fault(EVE, "scheduler.jobs.definition", &[i(7)], NOT_FOUND)
        .await;
}

#[tokio::test]
async fn job_lists_and_logs() {
    let lab = Lab::start().await;
    lab.seed().await;
    for n in 0..5 {
        lab.ok(
            BOB,
            "scheduler.jobs.submit",
            &[s(&definition(&format!("job {n}"), "public"))],
        )
        .await;
    }
    lab.ok(
        BOB,
        "scheduler.jobs.submit",
        &[s(&definition("mine", "personal"))],
    )
    .await;
    lab.set_job_state(2, JobState::Running, JobHealth::Unknown, Some("qemu01"))
        .await;
    lab.set_job_state(3, JobState::Finished, JobHealth::Complete, Some("qemu01"))
        .await;

    let ids = |v: Value| match v {
        Value::Array(items) => items
            .iter()
            .map(|j| member(j, "id").clone())
            .collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    let list = "scheduler.jobs.list";
    assert_eq!(
        ids(lab.ok(ANON, list, &[]).await),
        [i(5), i(4), i(3), i(2), i(1)]
    );
    assert_eq!(ids(lab.ok(BOB, list, &[]).await).len(), 6);
    assert_eq!(ids(lab.ok(ANON, list, &[s("running")]).await), [i(2)]);
    assert_eq!(
        ids(lab.ok(ANON, list, &[Value::Nil, s("COMPLETE")]).await),
        [i(3)]
    );
    assert_eq!(
        ids(lab
            .ok(ANON, list, &[Value::Nil, Value::Nil, i(1), i(2)])
            .await),
        [i(4), i(3)]
    );
    let msg = lab.fault(ANON, list, &[s("Sleeping")], BAD_REQUEST).await;
    assert_eq!(msg, "Invalid state 'Sleeping'");
    let msg = lab
        .fault(ANON, list, &[Value::Nil, s("Meh")], BAD_REQUEST)
        .await;
    assert_eq!(msg, "Invalid health 'Meh'");
    lab.fault(
        ANON,
        list,
        &[Value::Nil, Value::Nil, s("0")],
        INVALID_PARAMS,
    )
    .await;
    let Value::Array(verbose) = lab
        .ok(
            ANON,
            list,
            &[s("Finished"), Value::Nil, i(0), i(25), i(0), b(true)],
        )
        .await
    else {
        panic!()
    };
    assert_eq!(
        member_names(&verbose[0]),
        [
            "id",
            "description",
            "device_type",
            "health",
            "state",
            "submitter",
            "actual_device",
            "start_time",
            "end_time",
            "error_msg",
            "error_type"
        ]
    );
    assert_eq!(member(&verbose[0], "actual_device"), &s("qemu01"));
    let ended = lab.lab.job(3).await.unwrap().end_time.unwrap();
    assert_eq!(
        member(&verbose[0], "end_time"),
        &s(&lava_http::value::python_datetime_str(ended))
    );
    assert_eq!(member(&verbose[0], "description"), &s("job 2"));

    let show = lab.ok(ANON, "scheduler.devices.show", &[s("qemu01")]).await;
    assert_eq!(member(&show, "current_job"), &i(2));

    lab.append_logs(
        3,
        &[
            "{dt: x, lvl: info, msg: a}",
            "{dt: x, lvl: info, msg: b}",
            "{dt: x, lvl: info, msg: c}",
        ],
    )
    .await;
    let logs = "scheduler.jobs.logs";
    assert_eq!(
        lab.ok(ANON, logs, &[i(3)]).await,
        Value::Array(vec![b(true), Value::Base64(b"- {dt: x, lvl: info, msg: a}\n- {dt: x, lvl: info, msg: b}\n- {dt: x, lvl: info, msg: c}\n".to_vec())])
    );
    assert_eq!(
        lab.ok(ANON, logs, &[i(3), i(1), i(2)]).await,
        Value::Array(vec![
            b(true),
            Value::Base64(b"- {dt: x, lvl: info, msg: b}\n".to_vec())
        ])
    );
    assert_eq!(
        lab.ok(ANON, logs, &[i(2)]).await,
        Value::Array(vec![b(false), Value::Base64(Vec::new())])
    );
    lab.fault(ANON, logs, &[i(3), i(-1)], BAD_REQUEST).await;
    lab.fault(ANON, logs, &[i(6)], FORBIDDEN).await;
    lab.fault(ANON, logs, &[i(60)], NOT_FOUND).await;
}

#[tokio::test]
async fn cancelling() {
    let lab = Lab::start().await;
    lab.seed().await;
    lab.ok(
        BOB,
        "scheduler.jobs.submit",
        &[s(&definition("a", "public"))],
    )
    .await;
    lab.ok(
        BOB,
        "scheduler.jobs.submit",
        &[s(&definition("b", "personal"))],
    )
    .await;
    lab.ok(
        BOB,
        "scheduler.jobs.submit",
        &[s(&definition("c", "public"))],
    )
    .await;
    lab.set_job_state(3, JobState::Running, JobHealth::Unknown, Some("qemu01"))
        .await;
    let cancel = "scheduler.jobs.cancel";
    lab.fault(ANON, cancel, &[i(1)], AUTH_REQUIRED).await;
    assert_eq!(
        lab.fault(EVE, cancel, &[i(1)], FORBIDDEN).await,
        "Permission denied."
    );
    assert_eq!(
        lab.fault(EVE, cancel, &[i(2)], FORBIDDEN).await,
        "Job '2' not available to user 'eve'."
    );
    lab.fault(BOB, cancel, &[i(9)], NOT_FOUND).await;
    let msg = lab.fault(BOB, cancel, &[i(0)], BAD_REQUEST).await;
    assert_eq!(msg, "Bad request: TestJob id was not specified.");
    assert_eq!(lab.ok(BOB, cancel, &[s("1")]).await, b(true));
    let show = lab.ok(ANON, "scheduler.jobs.show", &[i(1)]).await;
    assert_eq!(member(&show, "state"), &s("Finished"));
    assert_eq!(member(&show, "health"), &s("Canceled"));
    assert_eq!(
        lab.ok(ADMIN, "scheduler.cancel_job", &[i(3)]).await,
        b(true)
    );
    let show = lab.ok(ANON, "scheduler.jobs.show", &[i(3)]).await;
    assert_eq!(member(&show, "state"), &s("Canceling"));
    // Cancelling a finished job changes nothing.
    assert_eq!(lab.ok(BOB, cancel, &[i(1)]).await, b(true));
}

#[tokio::test]
async fn validation() {
    let lab = Lab::start().await;
    let validate = "scheduler.jobs.validate";
    let good = definition("v", "public");
    assert_eq!(
        lab.ok(ANON, validate, &[s(&good)]).await,
        Value::Struct(Vec::new())
    );
    let missing = good.replace("visibility: public\n", "");
    let issue = lab.ok(ANON, validate, &[s(&missing)]).await;
    assert_eq!(member(&issue, "path"), &s("['visibility']"));
    // LAVA's words, and the line in the submitted text.
    assert_eq!(
        member(&issue, "msg"),
        &s("required key not provided (line 1)")
    );
    let extra = format!("{good}colour: blue\n");
    let issue = lab.ok(ANON, validate, &[s(&extra), b(true)]).await;
    let Value::String(msg) = member(&issue, "msg") else {
        panic!("{issue:?}")
    };
    assert!(msg.starts_with("extra keys not allowed"), "{msg}");
    lab.fault(ANON, validate, &[s("a: [")], BAD_REQUEST).await;
    lab.fault(ANON, validate, &[], INVALID_PARAMS).await;
}

#[tokio::test]
async fn tags() {
    let lab = Lab::start().await;
    let add = "scheduler.tags.add";
    assert_eq!(
        lab.ok(ADMIN, add, &[s("usb"), s("has USB")]).await,
        Value::Nil
    );
    lab.ok(ADMIN, add, &[s("big")]).await;
    let msg = lab.fault(ADMIN, add, &[s("usb")], BAD_REQUEST).await;
    assert_eq!(msg, "Bad request: tag already exists?");
    lab.fault(ADMIN, add, &[s(" ")], BAD_REQUEST).await;
    let msg = lab.fault(BOB, add, &[s("x")], FORBIDDEN).await;
    assert_eq!(
        msg,
        "User 'bob' is missing permission lava_scheduler_app.add_tag ."
    );
    lab.fault(ANON, add, &[s("x")], AUTH_REQUIRED).await;
    let Value::Array(tags) = lab.ok(ANON, "scheduler.tags.list", &[]).await else {
        panic!()
    };
    assert_eq!(tags.len(), 2);
    assert_eq!(member(&tags[0], "name"), &s("big"));
    assert_eq!(member(&tags[0], "description"), &Value::Nil);
    assert_eq!(member(&tags[1], "description"), &s("has USB"));
}

#[tokio::test]
async fn results() {
    let lab = Lab::start().await;
    lab.seed().await;
    lab.ok(
        BOB,
        "scheduler.jobs.submit",
        &[s(&definition("r", "personal"))],
    )
    .await;
    let method = "results.get_testjob_results_yaml";
    lab.fault(ANON, method, &[i(1)], AUTH_REQUIRED).await;
    let msg = lab.fault(EVE, method, &[i(1)], AUTH_REQUIRED).await;
    assert_eq!(msg, "Permission denied for user to job 1");
    let msg = lab.fault(BOB, method, &[i(5)], NOT_FOUND).await;
    assert_eq!(msg, "Specified job not found.");
    assert_eq!(lab.ok(BOB, method, &[i(1)]).await, s("[]\n"));
    lab.append_logs(
        1,
        &[r#"{"dt": "2020-05-01T00:00:01", "lvl": "results", "msg": {"definition": "lava", "case": "boot", "result": "pass", "level": "1.1"}}"#],
    )
    .await;
    let Value::String(yaml) = lab.ok(ADMIN, method, &[s("1")]).await else {
        panic!("not a string")
    };
    let cases: Vec<serde_json::Value> = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(cases.len(), 1, "{yaml}");
    assert_eq!(cases[0]["job"], "1");
    assert_eq!(cases[0]["suite"], "lava");
    assert_eq!(cases[0]["name"], "boot");
    assert_eq!(cases[0]["result"], "pass");
    assert_eq!(cases[0]["level"], "1.1");
}

#[tokio::test]
async fn watching_a_job_run() {
    let lab = Lab::start().await;
    lab.seed().await;
    lab.ok(
        ADMIN,
        "scheduler.devices.update",
        &[
            s("qemu01"),
            Value::Nil,
            Value::Nil,
            Value::Nil,
            b(true),
            s("MAINTENANCE"),
        ],
    )
    .await;
    lab.ok(
        BOB,
        "scheduler.jobs.submit",
        &[s(&definition("watched", "public"))],
    )
    .await;
    lab.ok(
        ADMIN,
        "scheduler.devices.set_dictionary",
        &[s("qemu01"), s("{% extends 'qemu.jinja2' %}\n")],
    )
    .await;
    lab.lab.worker_online("w1").await.unwrap();
    assert!(lab.lab.schedule().await.unwrap().is_empty());
    let show = lab.ok(ANON, "scheduler.jobs.show", &[i(1)]).await;
    assert_eq!(
        member(&show, "state"),
        &s("Submitted"),
        "no device in good health"
    );

    lab.ok(
        ADMIN,
        "scheduler.devices.update",
        &[
            s("qemu01"),
            Value::Nil,
            Value::Nil,
            Value::Nil,
            b(true),
            s("GOOD"),
        ],
    )
    .await;
    // What the master does: a scheduling pass, then START_OK.
    let scheduled = lab.lab.schedule().await.unwrap();
    assert_eq!(scheduled.iter().map(|j| j.id).collect::<Vec<_>>(), [1]);
    lab.lab.job_running(1).await.unwrap();
    let show = lab.ok(ANON, "scheduler.jobs.show", &[i(1)]).await;
    assert_eq!(member(&show, "state"), &s("Running"));
    assert_eq!(member(&show, "device"), &s("qemu01"));
    assert!(matches!(member(&show, "start_time"), Value::DateTime(_)));
    let device = lab.ok(ANON, "scheduler.devices.show", &[s("qemu01")]).await;
    assert_eq!(member(&device, "current_job"), &i(1));
    let Value::Array(first) = lab.ok(ANON, "scheduler.jobs.logs", &[i(1)]).await else {
        panic!()
    };
    assert_eq!(first[0], b(false));

    // lava-run's records reach the log sink; the final result finishes the job.
    lab.run_log(
        1,
        &[
            r#"{"dt": "2020-05-01T00:00:01", "lvl": "info", "msg": "start"}"#,
            r#"{"dt": "2020-05-01T00:00:02", "lvl": "marker", "msg": {"case": "x", "type": "start_test_case"}}"#,
            r#"{"dt": "2020-05-01T00:00:03", "lvl": "target", "msg": "hello"}"#,
            r#"{"dt": "2020-05-01T00:00:04", "lvl": "results", "msg": {"definition": "lava", "case": "job", "result": "pass"}}"#,
            r#"{"dt": "2020-05-01T00:00:05", "lvl": "info", "msg": "Job finished correctly"}"#,
        ],
    )
    .await;
    let show = lab.ok(ANON, "scheduler.jobs.show", &[i(1)]).await;
    assert_eq!(member(&show, "state"), &s("Finished"));
    assert_eq!(member(&show, "health"), &s("Complete"));
    let Value::Array(logs) = lab.ok(ANON, "scheduler.jobs.logs", &[i(1)]).await else {
        panic!()
    };
    assert_eq!(logs[0], b(true));
    let Value::Base64(text) = &logs[1] else {
        panic!("{logs:?}")
    };
    // What lavacli does with it: a YAML list of {dt, lvl, msg}.
    let lines: Vec<serde_json::Value> =
        serde_saphyr::from_str(std::str::from_utf8(text).unwrap()).unwrap();
    // The marker is not written (LAVA's lava-logs); the records after the final result are.
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[1]["lvl"], "target");
    assert_eq!(lines[2]["lvl"], "results");
    let device = lab.ok(ANON, "scheduler.devices.show", &[s("qemu01")]).await;
    assert_eq!(member(&device, "current_job"), &Value::Nil);
}
