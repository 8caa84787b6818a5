//! LAVA's scheduler scenarios (tests/lava_scheduler_app/test_scheduler.py and the facts of
//! scheduler.py), one test each.

#[path = "scheduler_support/lab.rs"]
mod lab;

use lab::*;
use lava_core::model::transitions;
use lava_core::model::{
    DeviceHealth, DeviceState, HealthDenominator, JobHealth, JobState, WorkerHealth, WorkerState,
};
use lava_core::scheduler::{DueReason, LastHealthCheck};

fn panda_lab(health: DeviceHealth) -> Lab {
    let mut lab = Lab::new().with_type(device_type("panda", true));
    lab.add_device("panda01", "panda", health, &[]);
    lab
}

#[test]
fn health_check_due_when_device_health_unknown() {
    let d = panda_lab(DeviceHealth::Unknown).pass();
    assert_eq!(checked(&d), ["panda01"]);
    assert_eq!(d.health_checks[0].reason, DueReason::HealthUnknown);
    assert_eq!(
        d.health_checks[0].definition,
        "job_name: panda health check\n"
    );
}

#[test]
fn health_check_due_when_device_looping() {
    let d = panda_lab(DeviceHealth::Looping).pass();
    assert_eq!(checked(&d), ["panda01"]);
    assert_eq!(d.health_checks[0].reason, DueReason::Looping);
}

#[test]
fn no_health_check_for_good_device_within_frequency() {
    let lab = panda_lab(DeviceHealth::Good);
    assert!(lab.pass().health_checks.is_empty());
}

#[test]
fn health_check_due_when_device_never_checked() {
    let mut lab = panda_lab(DeviceHealth::Good);
    lab.device("panda01").last_health_report_job = None;
    assert_eq!(lab.pass().health_checks[0].reason, DueReason::NeverChecked);
}

#[test]
fn health_check_due_after_frequency_hours() {
    let mut lab = panda_lab(DeviceHealth::Good);
    let last = |ago: i64| LastHealthCheck {
        job: 100_000,
        submit_time: NOW.add_secs(-ago),
        jobs_since: 0,
    };
    // Exactly 24 hours is not yet past: LAVA compares strictly.
    lab.snapshot
        .last_health_checks
        .insert("panda01".into(), last(24 * HOUR));
    assert!(lab.pass().health_checks.is_empty());
    lab.snapshot
        .last_health_checks
        .insert("panda01".into(), last(24 * HOUR + 1));
    assert_eq!(lab.pass().health_checks[0].reason, DueReason::HoursElapsed);
}

#[test]
fn health_check_due_after_frequency_jobs() {
    let mut lab = panda_lab(DeviceHealth::Good);
    lab.snapshot.device_types[0].health_denominator = HealthDenominator::Jobs;
    lab.snapshot.device_types[0].health_frequency = 5;
    let mut last = lab.snapshot.last_health_checks["panda01"];
    // Hours do not count for a per-jobs type.
    last.submit_time = NOW.add_secs(-1000 * HOUR);
    last.jobs_since = 4;
    lab.snapshot
        .last_health_checks
        .insert("panda01".into(), last);
    assert!(lab.pass().health_checks.is_empty());
    last.jobs_since = 5;
    lab.snapshot
        .last_health_checks
        .insert("panda01".into(), last);
    assert_eq!(lab.pass().health_checks[0].reason, DueReason::JobsElapsed);
}

#[test]
fn health_checks_disabled_per_device_type() {
    let mut lab = panda_lab(DeviceHealth::Unknown).with_job(job(1, "panda", 50));
    lab.snapshot.device_types[0].disable_health_check = true;
    let d = lab.pass();
    assert!(d.health_checks.is_empty());
    // The device takes jobs instead (Unknown devices do, when checks are off).
    assert_eq!(
        pairs(&d),
        [(1, Some("panda01".into()), JobState::Scheduled)]
    );
}

#[test]
fn no_health_check_when_type_has_no_definition() {
    let lab = Lab::new()
        .with_type(device_type("panda", false))
        .with_job(job(1, "panda", 50));
    let mut lab = lab;
    lab.add_device("panda01", "panda", DeviceHealth::Unknown, &[]);
    let d = lab.pass();
    assert!(d.health_checks.is_empty());
    assert_eq!(
        pairs(&d),
        [(1, Some("panda01".into()), JobState::Scheduled)]
    );
}

#[test]
fn invalid_device_dictionary_sends_device_to_bad() {
    let mut lab = panda_lab(DeviceHealth::Unknown).with_job(job(1, "panda", 50));
    lab.snapshot.valid_dictionaries.clear();
    let d = lab.pass();
    assert!(d.health_checks.is_empty());
    assert!(d.assignments.is_empty());
    assert_eq!(d.device_health.len(), 1);
    assert_eq!(
        (d.device_health[0].from, d.device_health[0].to),
        (DeviceHealth::Unknown, DeviceHealth::Bad)
    );
}

#[test]
fn invalid_device_dictionary_found_before_a_job_sends_device_to_bad() {
    let mut lab = panda_lab(DeviceHealth::Good).with_job(job(1, "panda", 50));
    lab.snapshot.valid_dictionaries.clear();
    let d = lab.pass();
    assert!(d.assignments.is_empty());
    assert_eq!(d.device_health[0].to, DeviceHealth::Bad);
}

#[test]
fn offline_worker_gets_no_health_check_nor_job() {
    let mut lab = panda_lab(DeviceHealth::Unknown).with_job(job(1, "panda", 50));
    lab.snapshot.workers[0].state = WorkerState::Offline;
    let d = lab.pass();
    assert!(d.health_checks.is_empty() && d.assignments.is_empty());
}

#[test]
fn worker_in_maintenance_gets_no_health_check_nor_job() {
    let mut lab = panda_lab(DeviceHealth::Unknown).with_job(job(1, "panda", 50));
    let worker = lab.snapshot.workers[0].clone();
    let changes =
        transitions::worker_health(&worker, &lab.snapshot.devices, WorkerHealth::Maintenance)
            .unwrap();
    lab.snapshot.workers[0] = changes.workers[0].clone();
    *lab.device("panda01") = changes.devices[0].clone();
    let d = lab.pass();
    assert!(d.health_checks.is_empty() && d.assignments.is_empty());
}

#[test]
fn worker_job_limit_bounds_health_checks() {
    for limit in [1, 2] {
        let mut lab = Lab::new().with_type(device_type("qemu", true));
        for i in 1..=4 {
            lab.add_device(&format!("qemu0{i}"), "qemu", DeviceHealth::Unknown, &[]);
        }
        lab.snapshot.workers[0].job_limit = limit;
        let d = lab.pass_and_apply();
        assert_eq!(d.health_checks.len(), limit as usize);
        // Once those end, the next pass again starts only `limit` checks.
        for h in d.health_checks {
            lab.finish_job_on(&h.device, JobHealth::Complete);
            lab.device(&h.device).health = DeviceHealth::Unknown;
        }
        assert_eq!(lab.pass().health_checks.len(), limit as usize);
    }
}

#[test]
fn worker_job_limit_counts_running_devices_and_bounds_jobs() {
    let mut lab = Lab::new().with_type(device_type("qemu", true));
    for i in 1..=4 {
        lab.add_device(&format!("qemu0{i}"), "qemu", DeviceHealth::Good, &[]);
    }
    lab.device("qemu01").state = DeviceState::Running;
    lab.snapshot.workers[0].job_limit = 2;
    for id in 1..=4 {
        lab.snapshot.jobs.push(job(id, "qemu", 50));
    }
    let d = lab.pass();
    assert_eq!(d.assignments.len(), 1);
}

#[test]
fn jobs_run_in_priority_order() {
    // LAVA's TestPriorities: one device, jobs LOW, MEDIUM, HIGH, MEDIUM, LOW, 40.
    let mut lab = Lab::new().with_type(device_type("panda", false));
    lab.add_device("panda01", "panda", DeviceHealth::Good, &[]);
    for (id, p) in [(0, 0), (1, 50), (2, 100), (3, 50), (4, 0), (5, 40)] {
        lab.snapshot.jobs.push(job(id, "panda", p));
    }
    let mut order = Vec::new();
    for _ in 0..6 {
        let d = lab.pass_and_apply();
        assert_eq!(d.assignments.len(), 1, "one device, one job per pass");
        order.push(d.assignments[0].job);
        assert_eq!(lab.device("panda01").state, DeviceState::Reserved);
        lab.finish_job_on("panda01", JobHealth::Complete);
    }
    assert_eq!(order, [2, 1, 3, 5, 0, 4]);
    assert!(lab.pass().assignments.is_empty());
}

#[test]
fn health_check_runs_before_higher_priority_jobs_on_the_same_device() {
    let mut lab = panda_lab(DeviceHealth::Good);
    lab.snapshot.last_health_checks.clear();
    for (id, p) in [(0, 0), (1, 50), (2, 100)] {
        lab.snapshot.jobs.push(job(id, "panda", p));
    }
    let d = lab.pass_and_apply();
    assert_eq!(checked(&d), ["panda01"]);
    assert!(d.assignments.is_empty());
    lab.finish_job_on("panda01", JobHealth::Complete);
    assert_eq!(lab.device("panda01").health, DeviceHealth::Good);
    let d = lab.pass();
    assert!(d.health_checks.is_empty());
    assert_eq!(
        pairs(&d),
        [(2, Some("panda01".into()), JobState::Scheduled)]
    );
}

#[test]
fn equal_priorities_run_in_submit_order() {
    let mut lab = Lab::new().with_type(device_type("panda", false));
    lab.add_device("panda01", "panda", DeviceHealth::Good, &[]);
    let mut late = job(1, "panda", 50);
    late.submit_time = NOW.add_secs(-10);
    let mut early = job(2, "panda", 50);
    early.submit_time = NOW.add_secs(-20);
    lab.snapshot.jobs.extend([late, early]);
    assert_eq!(lab.pass().assignments[0].job, 2);
}

#[test]
fn job_tags_must_be_a_subset_of_device_tags() {
    let mut lab = Lab::new().with_type(device_type("panda", false));
    lab.add_device("panda01", "panda", DeviceHealth::Good, &["usb"]);
    lab.add_device("panda02", "panda", DeviceHealth::Good, &["usb", "hdmi"]);
    let mut both = job(1, "panda", 100);
    both.tags = tags(&["usb", "hdmi"]);
    let mut wifi = job(2, "panda", 100);
    wifi.tags = tags(&["wifi"]);
    let mut usb = job(3, "panda", 50);
    usb.tags = tags(&["usb"]);
    lab.snapshot.jobs.extend([both, wifi, usb]);
    let d = lab.pass();
    let mut got = pairs(&d);
    got.sort();
    assert_eq!(
        got,
        [
            (1, Some("panda02".into()), JobState::Scheduled),
            (3, Some("panda01".into()), JobState::Scheduled)
        ]
    );
}

#[test]
fn jobs_only_go_to_their_device_type() {
    let mut lab = Lab::new()
        .with_type(device_type("panda", false))
        .with_type(device_type("qemu", false));
    lab.add_device("qemu01", "qemu", DeviceHealth::Good, &[]);
    lab.snapshot.jobs.push(job(1, "panda", 100));
    lab.snapshot.jobs.push(job(2, "unknown-type", 100));
    assert!(lab.pass().assignments.is_empty());
}

#[test]
fn looping_devices_take_health_checks_but_no_jobs() {
    let mut lab = Lab::new().with_type(device_type("panda", false));
    lab.add_device("panda01", "panda", DeviceHealth::Looping, &[]);
    lab.snapshot.jobs.push(job(1, "panda", 100));
    assert!(lab.pass().assignments.is_empty());
    lab.snapshot.device_types[0] = device_type("panda", true);
    let d = lab.pass();
    assert_eq!(checked(&d), ["panda01"]);
    assert!(d.assignments.is_empty());
}

#[test]
fn bad_maintenance_and_retired_devices_take_nothing() {
    for health in [
        DeviceHealth::Bad,
        DeviceHealth::Maintenance,
        DeviceHealth::Retired,
    ] {
        let mut lab = Lab::new().with_type(device_type("panda", true));
        lab.add_device("panda01", "panda", health, &[]);
        lab.snapshot.last_health_checks.clear();
        lab.snapshot.jobs.push(job(1, "panda", 100));
        let d = lab.pass();
        assert!(
            d.health_checks.is_empty() && d.assignments.is_empty(),
            "{health}"
        );
    }
}

#[test]
fn busy_devices_take_nothing() {
    for state in [DeviceState::Reserved, DeviceState::Running] {
        let mut lab = panda_lab(DeviceHealth::Unknown).with_job(job(1, "panda", 50));
        lab.device("panda01").state = state;
        let d = lab.pass();
        assert!(d.health_checks.is_empty() && d.assignments.is_empty());
    }
}

#[test]
fn multinode_group_is_scheduled_all_at_once() {
    let mut lab = Lab::new()
        .with_type(device_type("panda", false))
        .with_type(device_type("qemu", false));
    lab.add_device("panda01", "panda", DeviceHealth::Good, &[]);
    lab.add_device("qemu01", "qemu", DeviceHealth::Good, &[]);
    lab.snapshot
        .jobs
        .push(sub_job(1, Some("panda"), "g", "server"));
    lab.snapshot
        .jobs
        .push(sub_job(2, Some("qemu"), "g", "client"));
    lab.snapshot.jobs.push(sub_job(3, None, "g", "ssh-guest"));
    let d = lab.pass_and_apply();
    let mut got = pairs(&d);
    got.sort();
    assert_eq!(
        got,
        [
            (1, Some("panda01".into()), JobState::Scheduled),
            (2, Some("qemu01".into()), JobState::Scheduled),
            (3, None, JobState::Scheduled),
        ]
    );
    assert!(d.waiting_groups.is_empty());
    assert_eq!(lab.device("panda01").state, DeviceState::Reserved);
}

#[test]
fn multinode_group_larger_than_free_devices_waits_holding_its_devices() {
    let mut lab = Lab::new().with_type(device_type("qemu", false));
    lab.add_device("qemu01", "qemu", DeviceHealth::Good, &[]);
    lab.add_device("qemu02", "qemu", DeviceHealth::Good, &[]);
    for id in 1..=3 {
        lab.snapshot
            .jobs
            .push(sub_job(id, Some("qemu"), "big", "node"));
    }
    let d = lab.pass_and_apply();
    assert_eq!(d.assignments.len(), 2);
    assert!(d
        .assignments
        .iter()
        .all(|a| a.state == JobState::Scheduling));
    assert_eq!(d.waiting_groups.len(), 1);
    assert_eq!(d.waiting_groups[0].reserved.len(), 2);
    assert_eq!(d.waiting_groups[0].waiting, [(3, "node".to_string())]);

    // Next pass: nothing free, still waiting, nobody Scheduled.
    let d = lab.pass_and_apply();
    assert!(d.assignments.is_empty());
    assert_eq!(d.waiting_groups.len(), 1);

    // A third device appears: the last sub-job takes it and the whole group goes.
    lab.add_device("qemu03", "qemu", DeviceHealth::Good, &[]);
    let d = lab.pass_and_apply();
    assert_eq!(d.assignments.len(), 3);
    assert!(d.assignments.iter().all(|a| a.state == JobState::Scheduled));
    assert!(d.waiting_groups.is_empty());
    for id in 1..=3 {
        assert_eq!(lab.state_of(id).0, JobState::Scheduled);
    }
}

#[test]
fn multinode_sub_jobs_wait_their_turn_in_queue_order() {
    let mut lab = Lab::new().with_type(device_type("qemu", false));
    lab.add_device("qemu01", "qemu", DeviceHealth::Good, &[]);
    let mut high = job(9, "qemu", 100);
    high.submit_time = NOW;
    lab.snapshot.jobs.push(high);
    lab.snapshot.jobs.push(sub_job(1, Some("qemu"), "g", "a"));
    lab.snapshot.jobs.push(sub_job(2, Some("qemu"), "g", "b"));
    let d = lab.pass();
    assert_eq!(pairs(&d), [(9, Some("qemu01".into()), JobState::Scheduled)]);
    assert!(d.waiting_groups.is_empty());
}

#[test]
fn hidden_device_types_get_no_work() {
    let mut lab = panda_lab(DeviceHealth::Unknown).with_job(job(1, "panda", 50));
    lab.snapshot.device_types[0].display = false;
    let d = lab.pass();
    assert!(d.health_checks.is_empty() && d.assignments.is_empty());
}

#[test]
fn legacy_json_jobs_are_never_scheduled() {
    let mut lab = panda_lab(DeviceHealth::Good).with_job(job(1, "panda", 100));
    lab.snapshot.legacy_jobs.insert(1);
    assert!(lab.pass().assignments.is_empty());
}

#[test]
fn changes_match_the_decisions() {
    let mut lab = panda_lab(DeviceHealth::Good).with_job(job(1, "panda", 50));
    lab.add_device("panda02", "panda", DeviceHealth::Unknown, &[]);
    let d = lab.pass();
    let changes = d.changes(&lab.snapshot).unwrap();
    assert_eq!(changes.jobs.len(), 1);
    assert_eq!(changes.jobs[0].state, JobState::Scheduled);
    assert_eq!(changes.jobs[0].actual_device.as_deref(), Some("panda01"));
    let states: Vec<_> = changes
        .devices
        .iter()
        .map(|d| (d.hostname.as_str(), d.state))
        .collect();
    assert_eq!(
        states,
        [
            ("panda01", DeviceState::Reserved),
            ("panda02", DeviceState::Reserved)
        ]
    );
    // Applying the same decisions twice is refused: the devices are no longer Idle.
    lab.pass_and_apply();
    assert!(d.changes(&lab.snapshot).is_err());
}
