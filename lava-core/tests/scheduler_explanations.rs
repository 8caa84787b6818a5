//! "Why is my job still waiting?": every queued job a pass does not start gets one reason,
//! with its numbers, and jobs that start get none.

#[path = "scheduler_support/lab.rs"]
mod lab;

use lab::*;
use lava_core::model::{DeviceHealth, DeviceState, JobState, WorkerState};
use lava_core::scheduler::{
    schedule_with, DeviceOrder, HealthCounts, PassOptions, SnapshotDictionaries, WaitReason,
};

fn panda_lab() -> Lab {
    Lab::new().with_type(device_type("panda", false))
}

#[test]
fn started_jobs_have_no_reason_and_waiting_ones_have_exactly_one() {
    let mut lab = panda_lab();
    lab.add_device("panda01", "panda", DeviceHealth::Good, &[]);
    for id in 1..=3 {
        lab.snapshot.jobs.push(job(id, "panda", 50));
    }
    let d = lab.pass();
    assert_eq!(
        pairs(&d),
        [(1, Some("panda01".into()), JobState::Scheduled)]
    );
    let ids: Vec<_> = d.waiting_jobs.iter().map(|w| w.job).collect();
    assert_eq!(ids, [2, 3]);
}

#[test]
fn busy_devices_give_the_queue_position_and_the_higher_priority_jobs_ahead() {
    let mut lab = panda_lab();
    lab.add_device("panda01", "panda", DeviceHealth::Good, &[])
        .state = DeviceState::Running;
    lab.add_device("panda02", "panda", DeviceHealth::Good, &[])
        .state = DeviceState::Reserved;
    // Queue order: 4 (high), 1 and 2 (medium, by submit time), 3 (low).
    lab.snapshot.jobs.push(job(1, "panda", 50));
    lab.snapshot.jobs.push(job(2, "panda", 50));
    lab.snapshot.jobs.push(job(3, "panda", 0));
    lab.snapshot.jobs.push(job(4, "panda", 100));
    let d = lab.pass();
    let busy = |position, higher_priority_ahead| WaitReason::AllDevicesBusy {
        device_type: "panda".into(),
        busy: 2,
        position,
        higher_priority_ahead,
    };
    assert_eq!(lab.why(&d, 4), busy(1, 0));
    assert_eq!(lab.why(&d, 1), busy(2, 1));
    assert_eq!(lab.why(&d, 2), busy(3, 1));
    assert_eq!(lab.why(&d, 3), busy(4, 3));
    // In queue order, as a queue page lists them.
    let ids: Vec<_> = d.waiting_jobs.iter().map(|w| w.job).collect();
    assert_eq!(ids, [4, 1, 2, 3]);
    assert_eq!(
        lab.why(&d, 3).to_string(),
        "all 2 'panda' devices that can run it are busy; the job is 4th in the 'panda' \
         queue, behind 3 jobs of higher priority"
    );
}

#[test]
fn a_device_taken_in_this_pass_counts_as_busy() {
    let mut lab = panda_lab();
    lab.add_device("panda01", "panda", DeviceHealth::Good, &[]);
    lab.snapshot.jobs.push(job(1, "panda", 50));
    lab.snapshot.jobs.push(job(2, "panda", 50));
    let d = lab.pass();
    assert_eq!(
        lab.why(&d, 2),
        WaitReason::AllDevicesBusy {
            device_type: "panda".into(),
            busy: 1,
            position: 1,
            higher_priority_ahead: 0
        }
    );
}

#[test]
fn no_device_of_the_type() {
    let mut lab = panda_lab();
    lab.snapshot.jobs.push(job(1, "panda", 50));
    lab.snapshot.jobs.push(job(2, "no-such-type", 50));
    let mut typeless = job(3, "panda", 50);
    typeless.requested_device_type = None;
    lab.snapshot.jobs.push(typeless);
    let d = lab.pass();
    assert_eq!(
        lab.why(&d, 1),
        WaitReason::NoDevice {
            device_type: "panda".into()
        }
    );
    assert_eq!(
        lab.why(&d, 2),
        WaitReason::NoDevice {
            device_type: "no-such-type".into()
        }
    );
    assert_eq!(lab.why(&d, 3).to_string(), "the job names no device type");
}

#[test]
fn hidden_device_type() {
    let mut lab = panda_lab();
    lab.snapshot.device_types[0].display = false;
    lab.add_device("panda01", "panda", DeviceHealth::Good, &[]);
    lab.snapshot.jobs.push(job(1, "panda", 50));
    let d = lab.pass();
    assert_eq!(
        lab.why(&d, 1),
        WaitReason::DeviceTypeHidden {
            device_type: "panda".into()
        }
    );
}

#[test]
fn no_device_carries_the_tags() {
    let mut lab = panda_lab();
    lab.add_device("panda01", "panda", DeviceHealth::Good, &["usb"]);
    lab.add_device("panda02", "panda", DeviceHealth::Good, &["hdmi"]);
    let mut both = job(1, "panda", 50);
    both.tags = tags(&["usb", "hdmi"]);
    lab.snapshot.jobs.push(both);
    let d = lab.pass();
    assert_eq!(
        lab.why(&d, 1),
        WaitReason::NoDeviceWithTags {
            device_type: "panda".into(),
            tags: vec!["hdmi".to_string(), "usb".to_string()].into()
        }
    );
    assert_eq!(
        lab.why(&d, 1).to_string(),
        "no 'panda' device carries all the tags the job requires: hdmi, usb"
    );
}

#[test]
fn devices_in_a_health_that_takes_no_job_are_counted_by_health() {
    let mut lab = panda_lab();
    lab.add_device("panda01", "panda", DeviceHealth::Bad, &[]);
    lab.add_device("panda02", "panda", DeviceHealth::Bad, &[]);
    lab.add_device("panda03", "panda", DeviceHealth::Looping, &[]);
    lab.add_device("panda04", "panda", DeviceHealth::Retired, &[]);
    lab.snapshot.jobs.push(job(1, "panda", 50));
    let d = lab.pass();
    let reason = lab.why(&d, 1);
    assert_eq!(
        reason,
        WaitReason::DevicesNotGood {
            device_type: "panda".into(),
            health: HealthCounts {
                looping: 1,
                bad: 2,
                maintenance: 0,
                retired: 1
            }
        }
    );
    assert_eq!(
        reason.to_string(),
        "no 'panda' device that can run it is in a health that takes jobs: 1 Looping, 2 Bad, \
         1 Retired"
    );
}

#[test]
fn offline_workers_and_workers_at_their_limit() {
    let mut lab = panda_lab();
    let mut offline = worker("worker-02");
    offline.state = WorkerState::Offline;
    lab.snapshot.workers.push(offline);
    lab.snapshot.workers[0].job_limit = 1;
    lab.add_device("panda01", "panda", DeviceHealth::Good, &[])
        .worker = Some("worker-02".into());
    lab.add_device("panda02", "panda", DeviceHealth::Good, &[]);
    lab.add_device("panda03", "panda", DeviceHealth::Bad, &[]);
    lab.add_device("qemu01", "qemu", DeviceHealth::Good, &[])
        .state = DeviceState::Running;
    lab.snapshot.jobs.push(job(1, "panda", 50));
    let d = lab.pass();
    assert!(d.assignments.is_empty());
    assert_eq!(
        lab.why(&d, 1),
        WaitReason::WorkersUnavailable {
            device_type: "panda".into(),
            offline: 1,
            at_job_limit: 1
        }
    );
}

#[test]
fn legacy_json_jobs() {
    let mut lab = panda_lab();
    lab.add_device("panda01", "panda", DeviceHealth::Good, &[]);
    lab.snapshot.jobs.push(job(1, "panda", 50));
    lab.snapshot.legacy_jobs.insert(1);
    let d = lab.pass();
    assert!(d.assignments.is_empty());
    assert_eq!(lab.why(&d, 1), WaitReason::LegacyJson);
}

#[test]
fn multinode_sub_jobs_holding_devices_say_which_roles_wait() {
    let mut lab = panda_lab();
    lab.add_device("panda01", "panda", DeviceHealth::Good, &[]);
    lab.add_device("panda02", "panda", DeviceHealth::Good, &[])
        .state = DeviceState::Running;
    lab.snapshot
        .jobs
        .push(sub_job(1, Some("panda"), "g", "server"));
    lab.snapshot
        .jobs
        .push(sub_job(2, Some("panda"), "g", "client"));
    lab.snapshot.jobs.push(sub_job(3, None, "g", "guest"));
    let d = lab.pass();
    assert_eq!(
        pairs(&d),
        [(1, Some("panda01".into()), JobState::Scheduling)]
    );
    let group = WaitReason::MultinodeGroupIncomplete {
        group: "g".into(),
        waiting_roles: vec!["client".to_string()].into(),
        blocking: Vec::new().into(),
    };
    // The sub-job holding a device, and the dynamic connection, wait for the group.
    assert_eq!(lab.why(&d, 1), group);
    assert_eq!(lab.why(&d, 3), group);
    // The sub-job still without a device says why it has none.
    assert!(matches!(
        lab.why(&d, 2),
        WaitReason::AllDevicesBusy { busy: 2, .. }
    ));
    assert_eq!(
        group.to_string(),
        "multinode group g is incomplete: role client waits for a device"
    );
}

#[test]
fn explanations_are_optional() {
    let mut lab = panda_lab();
    lab.snapshot.jobs.push(job(1, "panda", 50));
    let options = PassOptions {
        order: DeviceOrder::Hostname,
        device_types: None,
        explain: false,
    };
    let quiet = schedule_with(
        &lab.snapshot,
        &options,
        &mut SnapshotDictionaries::new(&lab.snapshot),
    );
    assert!(quiet.waiting_jobs.is_empty());
    let explained = lab.pass();
    assert_eq!(explained.waiting_jobs.len(), 1);
    // Everything else is the same.
    assert_eq!(
        lava_core::scheduler::Decisions {
            waiting_jobs: Vec::new(),
            ..explained
        },
        quiet
    );
}
