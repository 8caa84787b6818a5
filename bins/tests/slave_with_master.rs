//! The lava-rs slave with the lava-rs master: jobs submitted with lava-admin run on
//! `lava-slave` (with the lava-run test double as lava-run) to the end, with their logs.
//! Also: the slave is killed with -9 in the middle of a job and restarted, and the job still
//! completes, once.
//!
//! Real processes on 127.0.0.1 ports; every wait is bounded by `jobs wait --timeout`.

mod common;
mod slave_support;

use common::{shell_job, Lab};
use slave_support::lava_run_double;

const WORKER: &str = "rs-worker";

fn with_mode(definition: String, mode: &str) -> String {
    format!("{definition}metadata:\n  lava-run-double: \"{mode}\"\n")
}

#[test]
fn jobs_run_to_the_end_on_the_lava_rs_slave() {
    let lab = Lab::new();
    lab.add_example_devices(WORKER);
    let good = lab.submit(&shell_job("hello", None));
    let failing = lab.submit(&with_mode(shell_job("hello", None), "fail"));
    let _master = lab.start_master();
    let _slave = lab.start_slave(WORKER, lava_run_double(), &[]);

    for id in [&good, &failing] {
        let code = lab.wait(id, 60);
        assert!(
            code == 0 || code == 1,
            "job {id}: jobs wait exit {code}\n{}",
            lab.logs()
        );
    }
    assert_eq!(
        lab.job_status(&good),
        ("Finished".into(), "Complete".into()),
        "{}",
        lab.logs()
    );
    let log = lab.admin_ok(&["jobs", "logs", &good]);
    assert!(
        log.contains(r#""case": "job", "definition": "lava", "result": "pass""#),
        "the final result is in the log:\n{log}"
    );
    assert_eq!(
        lab.job_status(&failing),
        ("Finished".into(), "Incomplete".into()),
        "{}",
        lab.logs()
    );

    // What the master counted, and the job's page, on its --http port.
    let (status, metrics) = http_get(&lab.http_addr(), "/metrics");
    assert_eq!(status, 200, "{metrics}");
    for expected in [
        r#"lava_protocol_messages_total{protocol="zmq",action="HELLO",direction="received"}"#,
        r#"lava_protocol_messages_total{protocol="zmq",action="START",direction="sent"}"#,
        r#"lava_protocol_messages_total{protocol="zmq",action="END",direction="received"}"#,
        r#"lava_workers_online{protocol="zmq"} 1"#,
        r#"lava_jobs{state="Finished",health="Complete"} 1"#,
        "lava_scheduling_pass_seconds_count",
    ] {
        assert!(metrics.contains(expected), "{expected} missing:\n{metrics}");
    }
    let lines = metrics
        .lines()
        .find_map(|l| l.strip_prefix("lava_log_lines_total "))
        .and_then(|n| n.trim().parse::<u64>().ok());
    assert!(lines.is_some_and(|n| n > 0), "{metrics}");
    let (status, page) = http_get(&lab.http_addr(), &format!("/scheduler/job/{good}"));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Complete") && page.contains(WORKER), "{page}");
}

/// One GET on the master's HTTP port: status and body.
fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("the master's HTTP port");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, body.to_owned())
}

#[test]
fn a_job_survives_a_kill_9_of_the_slave() {
    let lab = Lab::new();
    lab.add_example_devices(WORKER);
    let id = lab.submit(&with_mode(shell_job("hello", None), "pass:4"));
    let _master = lab.start_master();
    let mut slave = lab.start_slave(WORKER, lava_run_double(), &[]);
    let table = lab.data_dir().join("slave").join("db.sqlite3");
    // Wait (bounded) until the job's row exists, i.e. lava-run was started.
    let started = (0..400).any(|_| {
        let running = rusqlite::Connection::open(&table).is_ok_and(|c| {
            c.query_row("SELECT count(*) FROM jobs WHERE pid > 0", [], |r| {
                r.get::<_, i64>(0)
            })
            .is_ok_and(|n| n > 0)
        });
        if !running {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        running
    });
    assert!(started, "the job never started\n{}", lab.logs());
    slave.kill9();
    let _slave = lab.start_slave(WORKER, lava_run_double(), &[]);

    let code = lab.wait(&id, 60);
    assert_eq!(code, 0, "job {id}: jobs wait exit {code}\n{}", lab.logs());
    let slave_log = std::fs::read_to_string(lab.data_dir().join("slave.log")).unwrap_or_default();
    assert_eq!(
        slave_log.matches("lava-run started").count(),
        1,
        "the job ran once:\n{slave_log}"
    );
}
