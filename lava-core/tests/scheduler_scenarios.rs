//! LAVA's scheduler scenarios (tests/lava_scheduler_app/test_scheduler.py and the facts of
//! scheduler.py), one test each.

#[path = "scheduler_support/lab.rs"]
mod lab;

use lab::*;
use lava_core::model::transitions;
use lava_core::model::{
    Device, DeviceHealth, DeviceState, DeviceType, HealthDenominator, Job, JobHealth, JobId,
    JobState, WorkerHealth, WorkerState,
};
use lava_core::scheduler::{
    schedule_with, DeviceDictionaries, DeviceOrder, DueReason, GroupPermission, HealthCounts,
    LastHealthCheck, ObjectPermission, PassOptions, Phase, SnapshotDictionaries, UserAccess, Vlan,
    VlanInterface, WaitReason,
};
use lava_core::time::Timestamp;
use std::collections::BTreeMap;

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
        "job_name: panda health check\nvisibility: public\n"
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

// ---- The health-check pass alone, and the available devices (LAVA's
// `schedule_health_checks()` returns them; TestHealthCheckScheduling checks them). ----

/// LAVA's TestHealthCheckScheduling lab: panda01 (online, Unknown), panda02 (offline
/// worker), panda03 (online, Unknown, checked an hour ago), and a hidden type.
fn health_check_lab() -> Lab {
    let mut lab = Lab::new().with_type(device_type("panda", true));
    let mut hidden = device_type("unknown", true);
    hidden.display = false;
    lab.snapshot.device_types.push(hidden);
    let mut offline = worker("worker-02");
    offline.state = WorkerState::Offline;
    lab.snapshot.workers.push(offline);
    lab.add_device("panda01", "panda", DeviceHealth::Unknown, &[]);
    lab.add_device("panda02", "panda", DeviceHealth::Unknown, &[])
        .worker = Some("worker-02".into());
    lab.add_device("panda03", "panda", DeviceHealth::Unknown, &[]);
    lab.add_device("unknown-01", "unknown", DeviceHealth::Retired, &[]);
    lab.device("panda01").last_health_report_job = None;
    lab.snapshot.last_health_checks.remove("panda01");
    lab
}

fn available(d: &lava_core::scheduler::Decisions) -> Vec<(&str, Vec<&str>)> {
    d.available_devices
        .iter()
        .map(|(t, hosts)| (t.as_str(), hosts.iter().map(String::as_str).collect()))
        .collect()
}

#[test]
fn health_check_pass_without_definitions_leaves_online_devices_available() {
    // test_without_health_checks: no health check → {"panda": ["panda01", "panda03"]}; the
    // offline worker's device and the hidden type are not listed.
    let mut lab = health_check_lab();
    lab.snapshot.device_types[0].health_check_definition = None;
    let d = lab.health_checks_only();
    assert!(d.health_checks.is_empty());
    assert_eq!(available(&d), [("panda", vec!["panda01", "panda03"])]);
    // The health-check pass alone assigns no job and explains nothing.
    assert!(d.assignments.is_empty() && d.waiting_jobs.is_empty());
}

#[test]
fn health_check_pass_with_checks_disabled_lists_good_and_unknown_devices() {
    // test_disabled_hc: {"panda": ["panda01", "panda03"]}.
    let mut lab = health_check_lab();
    lab.snapshot.device_types[0].disable_health_check = true;
    let d = lab.health_checks_only();
    assert!(d.health_checks.is_empty());
    assert_eq!(available(&d), [("panda", vec!["panda01", "panda03"])]);
}

#[test]
fn health_check_pass_checks_unknown_devices_and_leaves_none_available() {
    // test_without_previous_hc_device_health_unknown: {"panda": []}, checks on 01 and 03.
    let d = health_check_lab().health_checks_only();
    assert_eq!(checked(&d), ["panda01", "panda03"]);
    assert_eq!(available(&d), [("panda", vec![])]);
}

#[test]
fn health_check_pass_on_good_devices_checks_only_the_never_checked_one() {
    // test_device_health_good: panda01 was never checked; panda03 was, recently.
    let mut lab = health_check_lab();
    for host in ["panda01", "panda02", "panda03"] {
        lab.device(host).health = DeviceHealth::Good;
    }
    let d = lab.health_checks_only();
    assert_eq!(checked(&d), ["panda01"]);
    assert_eq!(available(&d), [("panda", vec!["panda03"])]);
}

#[test]
fn health_check_pass_ignores_bad_maintenance_and_retired_devices() {
    // test_device_health_wrong: {"panda": []} and no check, for each of these healths.
    for health in [
        DeviceHealth::Bad,
        DeviceHealth::Maintenance,
        DeviceHealth::Retired,
    ] {
        let mut lab = health_check_lab();
        for host in ["panda01", "panda02", "panda03"] {
            lab.device(host).health = health;
        }
        let d = lab.health_checks_only();
        assert!(d.health_checks.is_empty(), "{health}");
        assert_eq!(available(&d), [("panda", vec![])], "{health}");
    }
}

#[test]
fn health_check_pass_can_be_limited_to_some_device_types() {
    // LAVA's `schedule(logger, available_dt)`: only the named types are looked at.
    let mut lab = health_check_lab().with_type(device_type("qemu", false));
    lab.add_device("qemu01", "qemu", DeviceHealth::Good, &[]);
    lab.snapshot.jobs.push(job(1, "qemu", 50));
    lab.snapshot.jobs.push(job(2, "panda", 50));
    let options = PassOptions {
        device_types: Some(["qemu".to_string()].into()),
        ..PassOptions::explained(DeviceOrder::Hostname)
    };
    let d = schedule_with(
        &lab.snapshot,
        &options,
        &mut SnapshotDictionaries::new(&lab.snapshot),
    );
    assert!(d.health_checks.is_empty(), "panda is not in this pass");
    assert_eq!(available(&d), [("qemu", vec!["qemu01"])]);
    assert_eq!(pairs(&d), [(1, Some("qemu01".into()), JobState::Scheduled)]);
    // Jobs of types outside the pass get no reason from it.
    assert!(d.waiting_jobs.iter().all(|w| w.job != 2));
}

#[test]
fn job_pass_alone_uses_only_the_given_available_devices() {
    // LAVA's schedule_jobs(available_devices) skips a device missing from the list, even
    // an idle one ("it's possible that a device is made IDLE between the two functions").
    let mut lab = Lab::new().with_type(device_type("panda", false));
    lab.add_device("panda01", "panda", DeviceHealth::Good, &[]);
    lab.add_device("panda02", "panda", DeviceHealth::Good, &[]);
    lab.snapshot
        .jobs
        .extend([job(1, "panda", 50), job(2, "panda", 50)]);
    let offered: BTreeMap<String, Vec<String>> =
        [("panda".to_string(), vec!["panda02".to_string()])].into();
    let d = lab.jobs_only(&offered);
    assert_eq!(
        pairs(&d),
        [(1, Some("panda02".into()), JobState::Scheduled)]
    );
    assert_eq!(
        lab.why(&d, 2),
        WaitReason::NotOffered {
            device_type: "panda".into(),
            free: 1
        }
    );
}

// ---- Health checks per device (`Device.get_health_check()`), and invalid ones. ----

#[test]
fn each_device_runs_its_own_health_check() {
    // LAVA reads a device's check from the file named after its dictionary's `extends`:
    // two devices of one type may run different checks, or none.
    let mut lab = Lab::new().with_type(device_type("panda", true));
    for host in ["panda01", "panda02", "panda03"] {
        lab.add_device(host, "panda", DeviceHealth::Unknown, &[]);
    }
    let own = "job_name: panda-es check\nvisibility: public\n".to_string();
    lab.snapshot
        .health_checks
        .insert("panda01".into(), Some(own.clone()));
    lab.snapshot.health_checks.insert("panda02".into(), None);
    lab.snapshot.jobs.push(job(1, "panda", 50));
    let d = lab.pass();
    let checks: Vec<(&str, &str)> = d
        .health_checks
        .iter()
        .map(|h| (h.device.as_str(), h.definition.as_str()))
        .collect();
    // panda03 is not in the map: its type's definition applies.
    assert_eq!(
        checks,
        [
            ("panda01", own.as_str()),
            (
                "panda03",
                "job_name: panda health check\nvisibility: public\n"
            )
        ]
    );
    // panda02 has no health check: LAVA leaves it available, and it takes the job.
    assert_eq!(
        pairs(&d),
        [(1, Some("panda02".into()), JobState::Scheduled)]
    );
}

#[test]
fn invalid_health_check_sends_the_device_to_bad() {
    // schedule_health_checks_for_device_type: when the health-check job cannot be created,
    // "Invalid health check" and the device goes Bad; it takes no job either.
    let mut lab = panda_lab(DeviceHealth::Unknown).with_job(job(1, "panda", 50));
    lab.snapshot
        .health_checks
        .insert("panda01".into(), Some("job_name: no visibility\n".into()));
    let d = lab.pass();
    assert!(d.health_checks.is_empty() && d.assignments.is_empty());
    let change = &d.device_health[0];
    assert_eq!(
        (change.from, change.to),
        (DeviceHealth::Unknown, DeviceHealth::Bad)
    );
    assert_eq!(change.reason, "Invalid health check");
    assert_eq!(change.detail.as_deref(), Some("visibility: missing"));
    assert!(d.available_devices["panda"].is_empty());
    assert_eq!(
        lab.why(&d, 1),
        WaitReason::DevicesNotGood {
            device_type: "panda".into(),
            health: HealthCounts {
                bad: 1,
                ..HealthCounts::default()
            }
        }
    );
}

#[test]
fn invalid_dictionary_is_found_before_the_health_check_definition() {
    // LAVA asks `is_valid()` first: a device with both problems goes Bad for its dictionary.
    let mut lab = panda_lab(DeviceHealth::Unknown);
    lab.snapshot
        .health_checks
        .insert("panda01".into(), Some("not: [yaml".into()));
    lab.snapshot.valid_dictionaries.clear();
    let d = lab.pass();
    assert_eq!(d.device_health.len(), 1);
    assert_eq!(d.device_health[0].reason, "Invalid device configuration");
}

// ---- Dictionaries asked lazily, as LAVA calls `Device.is_valid()`. ----

/// Answers like the snapshot, recording which devices were asked about.
struct Recording<'a> {
    inner: SnapshotDictionaries<'a>,
    asked: Vec<String>,
}

impl DeviceDictionaries for Recording<'_> {
    fn is_valid(&mut self, device: &Device) -> bool {
        self.asked.push(device.hostname.clone());
        self.inner.is_valid(device)
    }
    fn health_check(&mut self, device: &Device, device_type: &DeviceType) -> Option<String> {
        self.inner.health_check(device, device_type)
    }
    fn vlan_interfaces(&mut self, device: &Device) -> Option<Vec<VlanInterface>> {
        self.inner.vlan_interfaces(device)
    }
}

#[test]
fn dictionaries_are_asked_only_for_devices_the_pass_would_use() {
    let mut lab = Lab::new().with_type(device_type("panda", true));
    lab.add_device("panda01", "panda", DeviceHealth::Good, &[]); // free, recently checked
    lab.add_device("panda02", "panda", DeviceHealth::Unknown, &[]); // due for a check
    lab.add_device("panda03", "panda", DeviceHealth::Good, &[])
        .state = DeviceState::Running;
    lab.add_device("panda04", "panda", DeviceHealth::Maintenance, &[]);
    lab.add_device("panda05", "panda", DeviceHealth::Good, &[]);
    lab.snapshot.valid_dictionaries.remove("panda05");
    lab.snapshot.jobs.push(job(1, "panda", 50));
    let mut recording = Recording {
        inner: SnapshotDictionaries::new(&lab.snapshot),
        asked: Vec::new(),
    };
    let options = PassOptions::explained(DeviceOrder::Hostname);
    let lazy = schedule_with(&lab.snapshot, &options, &mut recording);
    // As LAVA: the due check (panda02) and every available device of the job pass, even
    // one no job fits (panda05 goes Bad); never the busy or Maintenance devices.
    let mut asked = recording.asked.clone();
    asked.sort();
    assert_eq!(asked, ["panda01", "panda02", "panda05"]);
    assert_eq!(lazy, lab.pass(), "the eager sets decide the same");
    assert_eq!(lazy.device_health[0].device, "panda05");
}

// ---- Submit permissions (`Device.can_submit(job.submitter)`). ----

fn restricted_lab() -> Lab {
    let mut lab = Lab::new().with_type(device_type("panda", false));
    lab.add_device("panda01", "panda", DeviceHealth::Good, &[]);
    lab.add_device("panda02", "panda", DeviceHealth::Good, &[]);
    lab.snapshot.permissions.devices.insert(
        "panda01".into(),
        vec![GroupPermission {
            group: "lab-team".into(),
            permission: ObjectPermission::Submit,
        }],
    );
    lab.snapshot.permissions.users.insert(
        "member".into(),
        UserAccess {
            groups: ["lab-team".to_string()].into(),
            ..UserAccess::default()
        },
    );
    lab
}

fn job_by(id: JobId, submitter: &str, priority: u8) -> Job {
    let mut j = job(id, "panda", priority);
    j.submitter = submitter.into();
    j
}

#[test]
fn a_device_restricted_to_a_group_skips_other_users_jobs() {
    // schedule_jobs_for_device: `if not device.can_submit(job.submitter): continue`. The
    // restricted panda01 skips the outsider's better job and takes the member's; the
    // outsider's job goes to the open panda02. (test_device.py / test_model_permissions.py
    // test_device_can_submit: a submit_to_device grant keeps other users out.)
    let mut lab = restricted_lab();
    lab.snapshot.jobs.push(job_by(1, "outsider", 100));
    lab.snapshot.jobs.push(job_by(2, "member", 50));
    let mut got = pairs(&lab.pass());
    got.sort();
    assert_eq!(
        got,
        [
            (1, Some("panda02".into()), JobState::Scheduled),
            (2, Some("panda01".into()), JobState::Scheduled)
        ]
    );
}

#[test]
fn a_job_whose_submitter_may_use_no_device_waits_and_says_so() {
    let mut lab = restricted_lab();
    lab.snapshot.devices.retain(|d| d.hostname == "panda01");
    lab.snapshot.jobs.push(job_by(1, "outsider", 100));
    lab.snapshot.jobs.push(job_by(2, "lava-health", 50));
    let d = lab.pass();
    // lava-health may use every device (its health checks run everywhere).
    assert_eq!(
        pairs(&d),
        [(2, Some("panda01".into()), JobState::Scheduled)]
    );
    assert_eq!(
        lab.why(&d, 1),
        WaitReason::NotAllowed {
            device_type: "panda".into(),
            submitter: "outsider".into(),
            devices: 1
        }
    );
}

#[test]
fn a_device_type_restricted_to_a_group_restricts_its_devices() {
    // test_device_can_submit_through_device_type: submit_to_devicetype on the type.
    let mut lab = restricted_lab();
    lab.snapshot.permissions.devices.clear();
    lab.snapshot.permissions.device_types.insert(
        "panda".into(),
        vec![
            GroupPermission {
                group: "lab-team".into(),
                permission: ObjectPermission::Change,
            },
            GroupPermission {
                group: "lab-team".into(),
                permission: ObjectPermission::Submit,
            },
        ],
    );
    lab.snapshot.jobs.push(job_by(1, "outsider", 100));
    lab.snapshot.jobs.push(job_by(2, "member", 50));
    let d = lab.pass();
    assert_eq!(
        pairs(&d),
        [(2, Some("panda01".into()), JobState::Scheduled)]
    );
    assert!(matches!(
        lab.why(&d, 1),
        WaitReason::NotAllowed { devices: 2, .. }
    ));
}

// ---- lava-vland (`match_vlan_interface`). ----

fn vland_lab() -> Lab {
    let mut lab = Lab::new().with_type(device_type("bbb", false));
    lab.add_device("bbb-01", "bbb", DeviceHealth::Good, &[]);
    lab.add_device("bbb-02", "bbb", DeviceHealth::Good, &[]);
    lab.add_device("bbb-03", "bbb", DeviceHealth::Good, &[]);
    let iface = |name: &str, tags: &[&str]| VlanInterface {
        name: name.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
    };
    // bbb-01 has one 100M interface, bbb-02 one 1G and one 100M; bbb-03 has no map.
    lab.snapshot.vlan_interfaces.insert(
        "bbb-01".into(),
        vec![iface("eth0", &[]), iface("eth1", &["100M"])],
    );
    lab.snapshot.vlan_interfaces.insert(
        "bbb-02".into(),
        vec![iface("eth1", &["1G"]), iface("eth2", &["100M"])],
    );
    lab
}

fn vlans(names: &[(&str, &[&str])]) -> Vec<Vlan> {
    names
        .iter()
        .map(|(name, tags)| Vlan {
            name: name.to_string(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        })
        .collect()
}

#[test]
fn vland_jobs_go_only_to_devices_with_matching_interfaces() {
    // schedule_jobs_for_device: a job with protocols.lava-vland is skipped on a device
    // where match_vlan_interface fails (test_vlan.py test_match_devices_without_map: a
    // device without an interface map never matches).
    let mut lab = vland_lab();
    lab.snapshot.jobs.push(job(1, "bbb", 100));
    lab.snapshot
        .vlan_requests
        .insert(1, vlans(&[("public", &["1G"]), ("private", &["100M"])]));
    lab.snapshot.jobs.push(job(2, "bbb", 50));
    let mut got = pairs(&lab.pass());
    got.sort();
    // Only bbb-02 serves both VLANs; job 2 (no VLAN) takes bbb-01, the first device.
    assert_eq!(
        got,
        [
            (1, Some("bbb-02".into()), JobState::Scheduled),
            (2, Some("bbb-01".into()), JobState::Scheduled)
        ]
    );
}

#[test]
fn a_vland_job_no_device_serves_waits_and_says_so() {
    let mut lab = vland_lab();
    lab.snapshot.jobs.push(job(1, "bbb", 100));
    lab.snapshot
        .vlan_requests
        .insert(1, vlans(&[("a", &["100M"]), ("b", &["100M"])]));
    let d = lab.pass();
    assert!(d.assignments.is_empty());
    assert_eq!(
        lab.why(&d, 1),
        WaitReason::NoVlanInterfaces {
            device_type: "bbb".into(),
            devices: 3
        }
    );
}

// ---- Multinode: roles, and groups that can never start. ----

#[test]
fn a_started_group_carries_its_roles_into_every_sub_job() {
    // transition_multinode_jobs: {str(job id): role} of every sub-job with a device is
    // written into protocols.lava-multinode.roles of every sub-job, dynamic connections
    // included.
    let mut lab = Lab::new().with_type(device_type("qemu", false));
    lab.add_device("qemu01", "qemu", DeviceHealth::Good, &[]);
    lab.add_device("qemu02", "qemu", DeviceHealth::Good, &[]);
    lab.snapshot
        .jobs
        .push(sub_job(1, Some("qemu"), "g", "server"));
    lab.snapshot
        .jobs
        .push(sub_job(2, Some("qemu"), "g", "client"));
    lab.snapshot.jobs.push(sub_job(3, None, "g", "guest"));
    let d = lab.pass();
    let expected: BTreeMap<JobId, String> = [(1, "server".into()), (2, "client".into())].into();
    assert_eq!(d.started_groups.len(), 1);
    assert_eq!(d.started_groups[0].group, "g");
    assert_eq!(d.started_groups[0].roles, expected);

    let changes = d.changes(&lab.snapshot).unwrap();
    assert_eq!(changes.jobs.len(), 3);
    for job in &changes.jobs {
        let tree = lava_core::job::yaml::parse(&job.definition).unwrap();
        let roles = tree
            .get("protocols")
            .and_then(|p| p.get("lava-multinode"))
            .and_then(|p| p.get("roles"))
            .unwrap_or_else(|| panic!("job {} has no roles", job.id));
        assert_eq!(roles.get("1").and_then(|r| r.as_str()), Some("server"));
        assert_eq!(roles.get("2").and_then(|r| r.as_str()), Some("client"));
        assert!(
            roles.get("3").is_none(),
            "a dynamic connection has no device"
        );
    }
}

#[test]
fn a_group_with_a_finished_sub_job_never_starts() {
    // transition_multinode_jobs looks at every sub-job of the group (sub_jobs_list): one
    // that is Finished (e.g. canceled while Submitted) is neither Scheduling nor a dynamic
    // connection, so LAVA never moves the others from Scheduling to Scheduled.
    let mut lab = Lab::new().with_type(device_type("qemu", false));
    lab.add_device("qemu01", "qemu", DeviceHealth::Good, &[]);
    lab.add_device("qemu02", "qemu", DeviceHealth::Good, &[]);
    lab.snapshot
        .jobs
        .push(sub_job(1, Some("qemu"), "g", "server"));
    lab.snapshot
        .jobs
        .push(sub_job(2, Some("qemu"), "g", "client"));
    let mut gone = sub_job(3, Some("qemu"), "g", "client");
    gone.state = JobState::Finished;
    gone.health = JobHealth::Canceled;
    lab.snapshot.jobs.push(gone);
    let d = lab.pass_and_apply();
    assert!(d
        .assignments
        .iter()
        .all(|a| a.state == JobState::Scheduling));
    assert!(d.started_groups.is_empty());
    let group = &d.waiting_groups[0];
    assert_eq!(group.reserved.len(), 2);
    assert!(group.waiting.is_empty());
    assert_eq!(group.blocking, [(3, JobState::Finished)]);
    // Next pass: still not started, and the sub-jobs say why.
    let d = lab.pass();
    assert!(d.assignments.is_empty());
    assert_eq!(
        lab.why(&d, 1),
        WaitReason::MultinodeGroupIncomplete {
            group: "g".into(),
            waiting_roles: Vec::new().into(),
            blocking: vec![(3, JobState::Finished)].into()
        }
    );
}

// ---- Devices skipped at their worker's job limit are reported. ----

#[test]
fn devices_skipped_at_the_worker_job_limit_are_reported() {
    // LAVA logs "SKIP healthcheck for <device> due to <worker> having n jobs (greater than
    // m)" in the health-check pass and "SKIP <device> due to …" in the job pass.
    let mut lab = Lab::new().with_type(device_type("qemu", true));
    lab.add_device("qemu01", "qemu", DeviceHealth::Unknown, &[]);
    lab.add_device("qemu02", "qemu", DeviceHealth::Unknown, &[]);
    lab.add_device("qemu03", "qemu", DeviceHealth::Good, &[]);
    lab.snapshot.workers[0].job_limit = 1;
    lab.snapshot.jobs.push(job(1, "qemu", 50));
    let d = lab.pass();
    assert_eq!(checked(&d), ["qemu01"]);
    let skipped: Vec<(&str, Phase, u32, u32)> = d
        .skipped_devices
        .iter()
        .map(|s| (s.device.as_str(), s.phase, s.busy, s.job_limit))
        .collect();
    assert_eq!(
        skipped,
        [
            ("qemu02", Phase::HealthChecks, 1, 1),
            ("qemu03", Phase::HealthChecks, 1, 1)
        ]
    );
    assert_eq!(
        lab.why(&d, 1),
        WaitReason::AllDevicesBusy {
            device_type: "qemu".into(),
            busy: 1,
            position: 1,
            higher_priority_ahead: 0
        }
    );
    // With health checks disabled (no limit check in that part of LAVA's pass), the job
    // pass skips the devices instead.
    lab.snapshot.device_types[0].disable_health_check = true;
    lab.device("qemu01").state = DeviceState::Running;
    let d = lab.pass();
    assert!(d.assignments.is_empty());
    assert!(d
        .skipped_devices
        .iter()
        .all(|s| s.phase == Phase::Jobs && s.worker == "worker-01"));
    assert_eq!(d.skipped_devices.len(), 2);
}

// ---- lava-rs' bound on what a waiting group may hold (issue 15). ----

#[test]
fn a_group_larger_than_its_type_never_holds_a_device_and_others_run() {
    // 2+2 roles on a type with one device: LAVA's submission check refuses it, but a group
    // already stored (or one whose devices were retired since) must not keep the device
    // Reserved while other jobs wait.
    let mut lab = Lab::new().with_type(device_type("qemu", false));
    lab.snapshot.bound_waiting_groups = true;
    lab.add_device("qemu01", "qemu", DeviceHealth::Good, &[]);
    for (id, role) in [(1, "server"), (2, "server"), (3, "client"), (4, "client")] {
        lab.snapshot.jobs.push(sub_job(id, Some("qemu"), "g", role));
    }
    let mut plain = job(5, "qemu", 50);
    plain.submit_time = Timestamp::from_secs(NOW.as_secs() + 10);
    lab.snapshot.jobs.push(plain);
    let d = lab.pass_and_apply();
    assert_eq!(
        d.assignments
            .iter()
            .map(|a| (a.job, a.state))
            .collect::<Vec<_>>(),
        [(5, JobState::Scheduled)]
    );
    assert!(d.waiting_groups.is_empty());
    match lab.why(&d, 1) {
        WaitReason::MultinodeGroupCannotStart { group, why } => {
            assert_eq!(&*group, "g");
            assert!(why.starts_with("Not enough devices of type qemu"), "{why}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_group_that_can_no_longer_start_gives_its_devices_back() {
    // Sub-job 1 holds qemu01 (Scheduling); then qemu02 is retired: the group of two can
    // never start, so qemu01 goes back to Idle and serves the plain job in the same pass.
    let mut lab = Lab::new().with_type(device_type("qemu", false));
    lab.snapshot.bound_waiting_groups = true;
    lab.add_device("qemu01", "qemu", DeviceHealth::Good, &[]);
    lab.add_device("qemu02", "qemu", DeviceHealth::Retired, &[]);
    let mut held = sub_job(1, Some("qemu"), "g", "node");
    held.state = JobState::Scheduling;
    held.actual_device = Some("qemu01".into());
    lab.device("qemu01").state = DeviceState::Reserved;
    lab.snapshot.jobs.push(held);
    lab.snapshot
        .jobs
        .push(sub_job(2, Some("qemu"), "g", "node"));
    lab.snapshot.jobs.push(job(3, "qemu", 50));
    let d = lab.pass_and_apply();
    assert_eq!(d.released.len(), 1);
    assert_eq!(
        (d.released[0].job, d.released[0].device.as_str()),
        (1, "qemu01")
    );
    assert_eq!(lab.state_of(1).0, JobState::Submitted);
    assert_eq!(lab.state_of(3).0, JobState::Scheduled);
    assert_eq!(lab.device("qemu01").state, DeviceState::Reserved);
    let one = lab.snapshot.jobs.iter().find(|j| j.id == 1).unwrap();
    assert_eq!(one.actual_device, None);
}

#[test]
fn a_group_within_its_submitters_permissions_runs_one_beyond_does_not() {
    // Two qemu devices, one restricted to group "lab": bob (not a member) may use one, so
    // his group of two can never start; alice (a member) may use both.
    let mut lab = Lab::new().with_type(device_type("qemu", false));
    lab.snapshot.bound_waiting_groups = true;
    lab.add_device("qemu01", "qemu", DeviceHealth::Good, &[]);
    lab.add_device("qemu02", "qemu", DeviceHealth::Good, &[]);
    lab.snapshot.permissions.devices.insert(
        "qemu02".into(),
        vec![GroupPermission {
            group: "lab".into(),
            permission: ObjectPermission::Submit,
        }],
    );
    lab.snapshot.permissions.users.insert(
        "alice".into(),
        UserAccess {
            groups: ["lab".to_owned()].into(),
            ..UserAccess::default()
        },
    );
    for id in [1, 2] {
        let mut j = sub_job(id, Some("qemu"), "bobs", "node");
        j.submitter = "bob".into();
        lab.snapshot.jobs.push(j);
    }
    let d = lab.pass_and_apply();
    assert!(d.assignments.is_empty(), "{:?}", d.assignments);
    for id in [3, 4] {
        let mut j = sub_job(id, Some("qemu"), "alices", "node");
        j.submitter = "alice".into();
        lab.snapshot.jobs.push(j);
    }
    let d = lab.pass_and_apply();
    assert_eq!(d.started_groups.len(), 1);
    assert_eq!(d.started_groups[0].group, "alices");
}

#[test]
fn with_the_bound_a_group_with_a_finished_sub_job_holds_nothing() {
    let mut lab = Lab::new().with_type(device_type("qemu", false));
    lab.snapshot.bound_waiting_groups = true;
    lab.add_device("qemu01", "qemu", DeviceHealth::Good, &[]);
    lab.add_device("qemu02", "qemu", DeviceHealth::Good, &[]);
    lab.snapshot
        .jobs
        .push(sub_job(1, Some("qemu"), "g", "server"));
    lab.snapshot
        .jobs
        .push(sub_job(2, Some("qemu"), "g", "client"));
    let mut gone = sub_job(3, Some("qemu"), "g", "client");
    gone.state = JobState::Finished;
    gone.health = JobHealth::Canceled;
    lab.snapshot.jobs.push(gone);
    let d = lab.pass_and_apply();
    assert!(d.assignments.is_empty());
    assert!(d.waiting_groups.is_empty());
    assert_eq!(lab.device("qemu01").state, DeviceState::Idle);
    assert!(matches!(
        lab.why(&d, 1),
        WaitReason::MultinodeGroupIncomplete { blocking, .. } if blocking.len() == 1
    ));
}

#[test]
fn without_the_bound_lava_keeps_a_hopeless_group_holding_its_device() {
    // LAVA 2020.05 (and the Python binding inside Django LAVA) reserve what they can.
    let mut lab = Lab::new().with_type(device_type("qemu", false));
    lab.add_device("qemu01", "qemu", DeviceHealth::Good, &[]);
    lab.snapshot.jobs.push(sub_job(1, Some("qemu"), "g", "a"));
    lab.snapshot.jobs.push(sub_job(2, Some("qemu"), "g", "b"));
    let d = lab.pass_and_apply();
    assert_eq!(d.assignments.len(), 1);
    assert_eq!(d.assignments[0].state, JobState::Scheduling);
    assert!(d.released.is_empty());
}
