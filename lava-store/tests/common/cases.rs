//! The behaviour every store must have, as generic async functions over [`Store`].

use super::*;
use lava_core::model::{
    DeviceHealth, DeviceState, JobHealth, JobState, Priority, TestResult, WorkerState,
};
use lava_core::time::Timestamp;
use lava_store::{ChangeSet, JobFilter, JobLog, Precondition, Store, StoreError, TestCase, User};

/// A lab with device type `qemu`, worker `w1`, tags `a`/`b`, devices `qemu01`/`qemu02`.
pub async fn small_lab(s: &dyn Store) {
    s.add_device_type(&device_type("qemu")).await.unwrap();
    s.add_worker(&worker("w1")).await.unwrap();
    s.add_tag(&tag("a")).await.unwrap();
    s.add_tag(&tag("b")).await.unwrap();
    s.add_device(&device("qemu01", "qemu", "w1")).await.unwrap();
    s.add_device(&device("qemu02", "qemu", "w1")).await.unwrap();
}

pub async fn device_types(s: &dyn Store) {
    let mut dt = device_type("qemu");
    s.add_device_type(&dt).await.unwrap();
    s.add_device_type(&device_type("bbb")).await.unwrap();
    assert!(matches!(
        s.add_device_type(&dt).await,
        Err(StoreError::AlreadyExists(what)) if what == "device type qemu"
    ));
    dt.health_check_definition = Some("job_name: hc\n".into());
    dt.health_frequency = 7;
    dt.health_denominator = lava_core::model::HealthDenominator::Jobs;
    dt.disable_health_check = true;
    dt.display = false;
    dt.description = "emulated".into();
    s.update_device_type(&dt).await.unwrap();
    assert_eq!(s.device_type("qemu").await.unwrap(), Some(dt.clone()));
    let names: Vec<String> = s
        .device_types()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, ["bbb", "qemu"]);
    assert!(matches!(
        s.update_device_type(&device_type("nope")).await,
        Err(StoreError::NotFound(_))
    ));
    s.add_worker(&worker("w1")).await.unwrap();
    s.add_device(&device("qemu01", "qemu", "w1")).await.unwrap();
    let err = s.remove_device_type("qemu").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::InUse { by, .. } if by.contains("qemu01")),
        "{err}"
    );
    s.remove_device_type("bbb").await.unwrap();
    assert_eq!(s.device_type("bbb").await.unwrap(), None);
    assert!(matches!(
        s.remove_device_type("bbb").await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn device_type_with_jobs_is_in_use(s: &dyn Store) {
    s.add_device_type(&device_type("qemu")).await.unwrap();
    let ids = s.submit(&[job("qemu", 1)]).await.unwrap();
    let err = s.remove_device_type("qemu").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::InUse { by, .. } if by.contains(&ids[0].to_string())),
        "{err}"
    );
}

pub async fn workers(s: &dyn Store) {
    let mut w = worker("w1");
    s.add_worker(&w).await.unwrap();
    assert!(matches!(
        s.add_worker(&w).await,
        Err(StoreError::AlreadyExists(_))
    ));
    w.state = WorkerState::Online;
    w.health = lava_core::model::WorkerHealth::Maintenance;
    w.job_limit = 3;
    w.last_ping = Some(Timestamp(1_588_334_400_123_456));
    w.version = Some("2020.05".into());
    w.description = "rack 3".into();
    s.update_worker(&w).await.unwrap();
    assert_eq!(s.worker("w1").await.unwrap(), Some(w.clone()));
    assert!(matches!(
        s.update_worker(&worker("ghost")).await,
        Err(StoreError::NotFound(what)) if what == "worker ghost"
    ));
    s.add_worker(&worker("w0")).await.unwrap();
    let names: Vec<_> = s
        .workers()
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.hostname)
        .collect();
    assert_eq!(names, ["w0", "w1"]);
    s.add_device_type(&device_type("qemu")).await.unwrap();
    s.add_device(&device("qemu01", "qemu", "w1")).await.unwrap();
    assert!(matches!(
        s.remove_worker("w1").await,
        Err(StoreError::InUse { .. })
    ));
    s.remove_worker("w0").await.unwrap();
    assert_eq!(s.worker("w0").await.unwrap(), None);
}

pub async fn devices_and_tags(s: &dyn Store) {
    small_lab(s).await;
    let mut d = device("qemu03", "qemu", "w1");
    d.tags = ["a".to_owned(), "zz".to_owned()].into();
    let err = s.add_device(&d).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound(what) if what == "tag zz (of device qemu03)"),
        "{err}"
    );
    d.tags = ["a".to_owned(), "b".to_owned()].into();
    d.device_type = "missing".into();
    assert!(matches!(
        s.add_device(&d).await,
        Err(StoreError::NotFound(what)) if what.starts_with("device type missing")
    ));
    d.device_type = "qemu".into();
    d.worker = Some("ghost".into());
    assert!(matches!(
        s.add_device(&d).await,
        Err(StoreError::NotFound(what)) if what.starts_with("worker ghost")
    ));
    d.worker = None;
    s.add_device(&d).await.unwrap();
    assert_eq!(s.device("qemu03").await.unwrap(), Some(d.clone()));
    assert!(matches!(
        s.add_device(&d).await,
        Err(StoreError::AlreadyExists(_))
    ));

    d.tags = ["b".to_owned()].into();
    d.health = DeviceHealth::Maintenance;
    d.worker = Some("w1".into());
    d.description = "desk".into();
    d.last_health_report_job = Some(12);
    s.update_device(&d).await.unwrap();
    assert_eq!(s.device("qemu03").await.unwrap(), Some(d.clone()));
    let all = s.devices().await.unwrap();
    assert_eq!(
        all.iter().map(|d| d.hostname.as_str()).collect::<Vec<_>>(),
        ["qemu01", "qemu02", "qemu03"]
    );

    // Removing a tag removes it from devices and jobs.
    let mut j = job("qemu", 5);
    j.tags = ["a".to_owned(), "b".to_owned()].into();
    let id = s.submit(&[j]).await.unwrap()[0];
    s.remove_tag("b").await.unwrap();
    assert!(s.device("qemu03").await.unwrap().unwrap().tags.is_empty());
    assert_eq!(
        s.job(id).await.unwrap().unwrap().tags,
        BTreeSet::from(["a".to_owned()])
    );
    assert_eq!(s.tags().await.unwrap(), vec![tag("a")]);
    assert!(matches!(
        s.remove_tag("b").await,
        Err(StoreError::NotFound(_))
    ));

    s.remove_device("qemu03").await.unwrap();
    assert_eq!(s.device("qemu03").await.unwrap(), None);
    assert!(matches!(
        s.remove_device("qemu03").await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn busy_device_cannot_be_removed(s: &dyn Store) {
    small_lab(s).await;
    let id = s.submit(&[job("qemu", 1)]).await.unwrap()[0];
    let mut j = s.job(id).await.unwrap().unwrap();
    j.state = JobState::Scheduled;
    j.actual_device = Some("qemu01".into());
    s.apply(&ChangeSet::new().job(j)).await.unwrap();
    let err = s.remove_device("qemu01").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::InUse { by, .. } if by.contains(&id.to_string())),
        "{err}"
    );
}

pub async fn users_and_tokens(s: &dyn Store) {
    let mut alice = User {
        username: "alice".into(),
        is_admin: false,
        email: "alice@example.org".into(),
    };
    s.add_user(&alice).await.unwrap();
    assert!(matches!(
        s.add_user(&alice).await,
        Err(StoreError::AlreadyExists(_))
    ));
    alice.is_admin = true;
    s.update_user(&alice).await.unwrap();
    assert_eq!(s.user("alice").await.unwrap(), Some(alice.clone()));
    let bob = User {
        username: "bob".into(),
        is_admin: false,
        email: String::new(),
    };
    s.add_user(&bob).await.unwrap();
    assert_eq!(s.users().await.unwrap(), vec![alice.clone(), bob.clone()]);

    assert!(matches!(
        s.add_token("carol", "s3", "", Timestamp(1)).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.add_token("alice", "", "", Timestamp(1)).await,
        Err(StoreError::Invalid { .. })
    ));
    let secret = lava_store::generate_token().unwrap();
    let t1 = s
        .add_token("alice", &secret, "laptop", Timestamp(10))
        .await
        .unwrap();
    assert_eq!(t1.username, "alice");
    assert_eq!(t1.description, "laptop");
    assert_eq!(t1.created, Timestamp(10));
    assert!(matches!(
        s.add_token("bob", &secret, "", Timestamp(11)).await,
        Err(StoreError::AlreadyExists(_))
    ));
    let t2 = s
        .add_token("alice", "other-secret", "ci", Timestamp(12))
        .await
        .unwrap();
    assert_ne!(t1.id, t2.id);
    assert_eq!(
        s.tokens("alice").await.unwrap(),
        vec![t1.clone(), t2.clone()]
    );

    assert_eq!(
        s.authenticate("alice", &secret).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(s.authenticate("bob", &secret).await.unwrap(), None);
    assert_eq!(s.authenticate("alice", "wrong").await.unwrap(), None);

    s.remove_token(t1.id).await.unwrap();
    assert_eq!(s.authenticate("alice", &secret).await.unwrap(), None);
    assert!(matches!(
        s.remove_token(t1.id).await,
        Err(StoreError::NotFound(_))
    ));
    s.remove_user("alice").await.unwrap();
    assert_eq!(s.authenticate("alice", "other-secret").await.unwrap(), None);
    assert!(s.tokens("alice").await.unwrap().is_empty());
    assert_eq!(s.user("alice").await.unwrap(), None);
}

pub async fn groups_and_grants(s: &dyn Store) {
    use lava_core::scheduler::ObjectPermission;
    use lava_store::{Grant, GrantOn};
    small_lab(s).await;
    for name in ["alice", "bob"] {
        let user = User {
            username: name.into(),
            is_admin: false,
            email: String::new(),
        };
        s.add_user(&user).await.unwrap();
    }
    s.add_group("lab").await.unwrap();
    s.add_group("admins").await.unwrap();
    assert!(matches!(
        s.add_group("lab").await,
        Err(StoreError::AlreadyExists(_))
    ));
    s.add_group_member("lab", "alice").await.unwrap();
    s.add_group_member("lab", "alice").await.unwrap();
    s.add_group_member("lab", "bob").await.unwrap();
    assert!(matches!(
        s.add_group_member("lab", "carol").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.add_group_member("nope", "alice").await,
        Err(StoreError::NotFound(_))
    ));
    s.remove_group_member("lab", "bob").await.unwrap();
    assert!(matches!(
        s.remove_group_member("lab", "bob").await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        s.groups().await.unwrap(),
        vec![
            ("admins".to_owned(), vec![]),
            ("lab".to_owned(), vec!["alice".to_owned()])
        ]
    );
    let device = s.devices().await.unwrap()[0].clone();
    let on_device = Grant {
        on: GrantOn::Device,
        object: device.hostname.clone(),
        group: "lab".into(),
        permission: ObjectPermission::Submit,
    };
    let on_type = Grant {
        on: GrantOn::DeviceType,
        object: device.device_type.clone(),
        group: "admins".into(),
        permission: ObjectPermission::Change,
    };
    s.add_grant(&on_device).await.unwrap();
    s.add_grant(&on_device).await.unwrap();
    s.add_grant(&on_type).await.unwrap();
    assert!(matches!(
        s.add_grant(&Grant {
            object: "no-such-device".into(),
            ..on_device.clone()
        })
        .await,
        Err(StoreError::NotFound(_))
    ));
    let mut both = vec![on_device.clone(), on_type.clone()];
    both.sort();
    assert_eq!(s.grants().await.unwrap(), both);
    // A user removed leaves their groups; a group removed takes its grants along.
    s.remove_user("alice").await.unwrap();
    assert_eq!(s.groups().await.unwrap()[1].1, Vec::<String>::new());
    s.remove_group("admins").await.unwrap();
    assert_eq!(s.grants().await.unwrap(), vec![on_device.clone()]);
    s.remove_grant(&on_device).await.unwrap();
    assert!(matches!(
        s.remove_grant(&on_device).await,
        Err(StoreError::NotFound(_))
    ));
    // A device removed takes its grants along.
    s.add_grant(&on_device).await.unwrap();
    s.remove_device(&device.hostname).await.unwrap();
    assert!(s.grants().await.unwrap().is_empty());
}

pub async fn submission(s: &dyn Store) {
    small_lab(s).await;
    let mut single = job("qemu", 100);
    single.tags = ["a".to_owned()].into();
    single.priority = Priority::HIGH;
    single.failure_comment = Some("none yet".into());
    single.is_public = false;
    let ids = s.submit(std::slice::from_ref(&single)).await.unwrap();
    assert_eq!(ids.len(), 1);
    let stored = s.job(ids[0]).await.unwrap().unwrap();
    assert_eq!(
        stored,
        lava_core::model::Job {
            id: ids[0],
            ..single
        }
    );

    let group = [
        multinode("qemu", "g-1", "server"),
        multinode("qemu", "g-1", "client"),
        lava_core::model::Job {
            requested_device_type: None,
            ..multinode("qemu", "g-1", "dynamic")
        },
    ];
    let group_ids = s.submit(&group).await.unwrap();
    assert_eq!(group_ids.len(), 3);
    assert!(group_ids.windows(2).all(|w| w[0] < w[1]));
    assert!(group_ids[0] > ids[0]);
    let members = s.multinode_group("g-1").await.unwrap();
    assert_eq!(members.iter().map(|j| j.id).collect::<Vec<_>>(), group_ids);
    assert_eq!(members[2].requested_device_type, None);
    assert_eq!(
        members[1].multinode.as_ref().map(|m| m.role.as_str()),
        Some("client")
    );

    // All or nothing: one bad sub-job stores none of the group.
    let mut bad = multinode("qemu", "g-2", "client");
    bad.tags = ["nope".to_owned()].into();
    let err = s
        .submit(&[multinode("qemu", "g-2", "server"), bad])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound(what) if what == "tag nope (of new job #2)"),
        "{err}"
    );
    assert!(s.multinode_group("g-2").await.unwrap().is_empty());
    assert_eq!(s.jobs(&JobFilter::default()).await.unwrap().len(), 4);

    // Filters, newest first.
    let mut other = job("qemu", 200);
    other.submitter = "bob".into();
    let bob_id = s.submit(&[other]).await.unwrap()[0];
    let bobs = s
        .jobs(&JobFilter {
            submitter: Some("bob".into()),
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(bobs.iter().map(|j| j.id).collect::<Vec<_>>(), [bob_id]);
    let newest = s
        .jobs(&JobFilter {
            limit: Some(2),
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        newest.iter().map(|j| j.id).collect::<Vec<_>>(),
        [bob_id, group_ids[2]]
    );
    let by_type = s
        .jobs(&JobFilter {
            device_type: Some("qemu".into()),
            states: vec![JobState::Submitted],
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(by_type.len(), 4);
    assert!(s
        .jobs(&JobFilter {
            states: vec![JobState::Running],
            ..JobFilter::default()
        })
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.job(9_999).await.unwrap(), None);
}

/// Schedule job on qemu01 the way the master would: preconditions + job + device rows.
fn schedule(job: &lava_core::model::Job, device: &lava_core::model::Device) -> ChangeSet {
    let mut j = job.clone();
    j.state = JobState::Scheduled;
    j.actual_device = Some(device.hostname.clone());
    let mut d = device.clone();
    d.state = DeviceState::Reserved;
    ChangeSet::new()
        .require(Precondition::JobState(job.id, JobState::Submitted))
        .require(Precondition::DeviceState(
            device.hostname.clone(),
            DeviceState::Idle,
        ))
        .job(j)
        .device(d)
}

pub async fn transitions(s: &dyn Store) {
    small_lab(s).await;
    let ids = s.submit(&[job("qemu", 1), job("qemu", 2)]).await.unwrap();
    let j1 = s.job(ids[0]).await.unwrap().unwrap();
    let j2 = s.job(ids[1]).await.unwrap().unwrap();
    let qemu01 = s.device("qemu01").await.unwrap().unwrap();

    s.apply(&schedule(&j1, &qemu01)).await.unwrap();
    assert_eq!(
        s.job(j1.id).await.unwrap().unwrap().state,
        JobState::Scheduled
    );
    assert_eq!(
        s.device("qemu01").await.unwrap().unwrap().state,
        DeviceState::Reserved
    );

    // The same device again: the device precondition fails, and nothing of the set is
    // written, not even the new job it carries.
    let racing = schedule(&j2, &qemu01).new_job(job("qemu", 3));
    let err = s.apply(&racing).await.unwrap_err();
    match &err {
        StoreError::Conflict(msg) => {
            assert!(msg.contains("device qemu01"), "{msg}");
            assert!(msg.contains("Reserved"), "{msg}");
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert_eq!(
        s.job(j2.id).await.unwrap().unwrap().state,
        JobState::Submitted
    );
    assert_eq!(s.jobs(&JobFilter::default()).await.unwrap().len(), 2);

    // A missing row is a conflict too.
    let err = s
        .apply(&ChangeSet::new().require(Precondition::JobState(777, JobState::Submitted)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("job 777")),
        "{err}"
    );

    let active = s.active_jobs().await.unwrap();
    assert_eq!(active.iter().map(|j| j.id).collect::<Vec<_>>(), [j1.id]);

    // Running, then END: job finished, device idle, END recorded, in one set.
    let mut running = s.job(j1.id).await.unwrap().unwrap();
    running.state = JobState::Running;
    running.start_time = Some(Timestamp::from_secs(10));
    let mut dev = s.device("qemu01").await.unwrap().unwrap();
    dev.state = DeviceState::Running;
    s.apply(
        &ChangeSet::new()
            .require(Precondition::JobState(j1.id, JobState::Scheduled))
            .job(running.clone())
            .device(dev.clone()),
    )
    .await
    .unwrap();
    assert_eq!(s.job_end(j1.id).await.unwrap(), Default::default());

    let mut finished = running.clone();
    finished.state = JobState::Finished;
    finished.health = JobHealth::Incomplete;
    finished.end_time = Some(Timestamp::from_secs(20));
    finished.failure_comment = Some("boot failed".into());
    dev.state = DeviceState::Idle;
    dev.health = DeviceHealth::Unknown;
    let applied = s
        .apply(
            &ChangeSet::new()
                .require(Precondition::JobState(j1.id, JobState::Running))
                .require(Precondition::DeviceState(
                    "qemu01".into(),
                    DeviceState::Running,
                ))
                .require(Precondition::DeviceHealth(
                    "qemu01".into(),
                    DeviceHealth::Good,
                ))
                .require(Precondition::WorkerState("w1".into(), WorkerState::Offline))
                .require(Precondition::WorkerHealth(
                    "w1".into(),
                    lava_core::model::WorkerHealth::Active,
                ))
                .job(finished.clone())
                .device(dev.clone())
                .end(
                    j1.id,
                    Some("description: yaml".into()),
                    Timestamp::from_secs(21),
                ),
        )
        .await
        .unwrap();
    assert!(applied.new_jobs.is_empty());
    assert_eq!(s.job(j1.id).await.unwrap(), Some(finished));
    assert_eq!(s.device("qemu01").await.unwrap(), Some(dev));
    let end = s.job_end(j1.id).await.unwrap();
    assert!(end.processed);
    assert_eq!(end.description.as_deref(), Some("description: yaml"));
    assert_eq!(end.processed_at, Some(Timestamp::from_secs(21)));
    assert!(s.active_jobs().await.unwrap().is_empty());
}

pub async fn change_sets_are_atomic(s: &dyn Store) {
    small_lab(s).await;
    let id = s.submit(&[job("qemu", 1)]).await.unwrap()[0];
    let mut j = s.job(id).await.unwrap().unwrap();
    j.state = JobState::Canceling;
    let mut w = worker("w1");
    w.state = WorkerState::Online;
    // The last row is unknown: the job, new job and worker rows before it are rolled back.
    let err = s
        .apply(
            &ChangeSet::new()
                .new_job(job("qemu", 2))
                .job(j)
                .worker(w)
                .device(device("ghost", "qemu", "w1")),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound(w) if w == "device ghost"),
        "{err}"
    );
    assert_eq!(s.job(id).await.unwrap().unwrap().state, JobState::Submitted);
    assert_eq!(
        s.worker("w1").await.unwrap().unwrap().state,
        WorkerState::Offline
    );
    assert_eq!(s.jobs(&JobFilter::default()).await.unwrap().len(), 1);

    // Health checks created by the scheduler get ids back, in order.
    let mut hc = job("qemu", 3);
    hc.health_check = true;
    hc.state = JobState::Scheduled;
    hc.actual_device = Some("qemu02".into());
    let applied = s
        .apply(&ChangeSet::new().new_job(hc.clone()).new_job(job("qemu", 4)))
        .await
        .unwrap();
    assert_eq!(applied.new_jobs.len(), 2);
    assert!(applied.new_jobs[0] > id && applied.new_jobs[1] > applied.new_jobs[0]);
    let stored = s.job(applied.new_jobs[0]).await.unwrap().unwrap();
    assert!(stored.health_check);
    assert_eq!(stored.actual_device.as_deref(), Some("qemu02"));
    assert!(matches!(
        s.apply(&ChangeSet::new().end(5_000, None, Timestamp(1)))
            .await,
        Err(StoreError::NotFound(_))
    ));
}

/// A job's final result, its log position and its end go in one change set: all or nothing.
pub async fn results_and_the_end_in_one_change_set(s: &dyn Store) {
    small_lab(s).await;
    let id = s.submit(&[job("qemu", 1)]).await.unwrap()[0];
    let case = TestCase {
        suite: "lava".into(),
        test_set: None,
        name: "job".into(),
        result: TestResult::Pass,
        measurement: None,
        units: String::new(),
        metadata: Some("{case: job}".into()),
        logged: Timestamp(7),
        start_log_line: None,
        end_log_line: None,
    };
    let log = JobLog {
        output_dir: "/out/1".into(),
        line_count: 12,
    };
    let mut finished = s.job(id).await.unwrap().unwrap();
    finished.state = JobState::Finished;
    // A failed precondition: neither the result nor the log position is written.
    let err = s
        .apply(
            &ChangeSet::new()
                .require(Precondition::JobState(id, JobState::Running))
                .job(finished.clone())
                .test_case(id, case.clone())
                .log(id, log.clone()),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert!(s.test_cases(id).await.unwrap().is_empty());
    assert_eq!(s.job_log(id).await.unwrap(), None);
    // An unknown job in the last part: nothing is written either.
    let err = s
        .apply(
            &ChangeSet::new()
                .test_case(id, case.clone())
                .log(4_242, log.clone()),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    assert!(s.test_cases(id).await.unwrap().is_empty());
    s.apply(
        &ChangeSet::new()
            .require(Precondition::JobState(id, JobState::Submitted))
            .job(finished.clone())
            .test_case(id, case.clone())
            .log(id, log.clone()),
    )
    .await
    .unwrap();
    assert_eq!(s.test_cases(id).await.unwrap(), vec![case]);
    assert_eq!(s.job_log(id).await.unwrap(), Some(log));
    assert_eq!(s.job(id).await.unwrap().unwrap().state, JobState::Finished);
    assert_eq!(s.job_end(id).await.unwrap().processed_at, None);
}

pub async fn scheduler_snapshot(s: &dyn Store) {
    small_lab(s).await;
    let mut tagged = device("qemu03", "qemu", "w1");
    tagged.tags = ["a".to_owned()].into();
    s.add_device(&tagged).await.unwrap();

    // qemu01: a health check submitted at t=100, then jobs started before and after it.
    let mut hc = job("qemu", 100);
    hc.health_check = true;
    hc.state = JobState::Finished;
    hc.health = JobHealth::Complete;
    hc.actual_device = Some("qemu01".into());
    hc.start_time = Some(Timestamp::from_secs(105));
    let started = |device: &str, at: i64, health_check: bool| {
        let mut j = job("qemu", at - 1);
        j.state = JobState::Finished;
        j.health = JobHealth::Complete;
        j.actual_device = Some(device.to_owned());
        j.start_time = Some(Timestamp::from_secs(at));
        j.health_check = health_check;
        j
    };
    let mut history = vec![hc];
    history.push(started("qemu01", 50, false)); // before the check: not counted
    history.push(started("qemu01", 100, false)); // at its submit time: counted
    history.push(started("qemu01", 200, false)); // counted
    history.push(started("qemu01", 300, true)); // another check: not counted
    history.push(started("qemu02", 400, false)); // other device: not counted
    let mut never_started = job("qemu", 500);
    never_started.state = JobState::Finished;
    never_started.actual_device = Some("qemu01".into());
    history.push(never_started);
    let ids = s.submit(&history).await.unwrap();
    let hc_id = ids[0];
    let mut qemu01 = s.device("qemu01").await.unwrap().unwrap();
    qemu01.last_health_report_job = Some(hc_id);
    s.update_device(&qemu01).await.unwrap();

    let mut waiting = job("qemu", 600);
    waiting.tags = ["a".to_owned()].into();
    let mut scheduling = multinode("qemu", "g", "server");
    scheduling.state = JobState::Scheduling;
    scheduling.actual_device = Some("qemu02".into());
    let mut running = job("qemu", 700);
    running.state = JobState::Running;
    // A sub-job of the waiting group that already ended is in the snapshot; a finished
    // group with nobody waiting is not.
    let mut finished_member = multinode("qemu", "g", "client");
    finished_member.state = JobState::Finished;
    let mut other_group = multinode("qemu", "h", "server");
    other_group.state = JobState::Finished;
    let queued_ids = s
        .submit(&[waiting, scheduling, running, finished_member, other_group])
        .await
        .unwrap();

    let snap = s.scheduler_snapshot().await.unwrap();
    assert_eq!(snap.device_types, s.device_types().await.unwrap());
    assert_eq!(snap.devices, s.devices().await.unwrap());
    assert_eq!(snap.devices[2].tags, BTreeSet::from(["a".to_owned()]));
    assert_eq!(snap.workers, s.workers().await.unwrap());
    assert_eq!(
        snap.queued_jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
        [queued_ids[0], queued_ids[1], queued_ids[3]]
    );
    assert_eq!(snap.queued_jobs[0].tags, BTreeSet::from(["a".to_owned()]));
    assert_eq!(snap.health_history.len(), 1);
    let h = snap.health_history["qemu01"];
    assert_eq!(h.last_health_check, hc_id);
    assert_eq!(h.submit_time, Timestamp::from_secs(100));
    assert_eq!(h.jobs_since, 2);
}

pub async fn job_records(s: &dyn Store) {
    small_lab(s).await;
    let id = s.submit(&[job("qemu", 1)]).await.unwrap()[0];
    let cases = vec![
        TestCase {
            suite: "lava".into(),
            test_set: None,
            name: "job".into(),
            result: TestResult::Pass,
            measurement: None,
            units: String::new(),
            metadata: Some("{case: job, result: pass}".into()),
            logged: Timestamp(5),
            start_log_line: Some(0),
            end_log_line: Some(12),
        },
        TestCase {
            suite: "0_smoke".into(),
            test_set: Some("net".into()),
            name: "ping-latency".into(),
            result: TestResult::Fail,
            measurement: Some("12.3456789012".into()),
            units: "ms".into(),
            metadata: None,
            logged: Timestamp(6),
            start_log_line: None,
            end_log_line: None,
        },
    ];
    s.add_test_cases(id, &cases[..1]).await.unwrap();
    s.add_test_cases(id, &cases[1..]).await.unwrap();
    assert_eq!(s.test_cases(id).await.unwrap(), cases);
    assert!(matches!(
        s.add_test_cases(4_242, &cases).await,
        Err(StoreError::NotFound(w)) if w == "job 4242"
    ));
    assert!(matches!(
        s.test_cases(4_242).await,
        Err(StoreError::NotFound(_))
    ));

    assert_eq!(s.job_log(id).await.unwrap(), None);
    let log = JobLog {
        output_dir: "/var/lib/lava-server/default/media/job-output/2020/05/01/1".into(),
        line_count: 1234,
    };
    s.set_job_log(id, &log).await.unwrap();
    assert_eq!(s.job_log(id).await.unwrap(), Some(log.clone()));
    assert!(matches!(
        s.set_job_log(4_242, &log).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.job_end(4_242).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.job_log(4_242).await,
        Err(StoreError::NotFound(_))
    ));
}

/// Change sets larger than the stores' internal batches (`IN` lists of 100 keys).
pub async fn large_change_sets(s: &dyn Store) {
    small_lab(s).await;
    let mut base = job("qemu", 1);
    base.tags = ["a".to_owned()].into();
    let ids = s.submit(&vec![base; 250]).await.unwrap();
    let jobs: Vec<_> = s
        .jobs(&JobFilter::default())
        .await
        .unwrap()
        .into_iter()
        .rev()
        .collect();
    assert_eq!(jobs.iter().map(|j| j.id).collect::<Vec<_>>(), ids);
    let changed: Vec<_> = jobs
        .iter()
        .map(|j| {
            let mut j = j.clone();
            j.state = JobState::Canceling;
            j.tags = ["b".to_owned()].into();
            j
        })
        .collect();
    let mut set = ChangeSet::new();
    for j in &jobs {
        set = set.require(Precondition::JobState(j.id, JobState::Submitted));
    }
    set.jobs = changed.clone();

    // The very last precondition fails: nothing is written.
    let last = *ids.last().unwrap();
    let failing = set
        .clone()
        .require(Precondition::JobState(last, JobState::Running));
    let err = s.apply(&failing).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains(&format!("job {last}"))),
        "{err}"
    );
    assert!(s
        .jobs(&JobFilter::default())
        .await
        .unwrap()
        .iter()
        .all(|j| { j.state == JobState::Submitted && j.tags == BTreeSet::from(["a".to_owned()]) }));

    s.apply(&set).await.unwrap();
    let after = s.jobs(&JobFilter::default()).await.unwrap();
    assert_eq!(after.len(), 250);
    assert!(after
        .iter()
        .all(|j| { j.state == JobState::Canceling && j.tags == BTreeSet::from(["b".to_owned()]) }));

    // The same row twice in one set: the last one wins, tags included.
    let mut first = changed[0].clone();
    first.tags = ["a".to_owned()].into();
    let mut second = changed[0].clone();
    second.tags = BTreeSet::new();
    second.failure_comment = Some("second".into());
    s.apply(&ChangeSet::new().job(first).job(second.clone()))
        .await
        .unwrap();
    assert_eq!(s.job(second.id).await.unwrap(), Some(second));
}

/// lava-worker's records: worker tokens, protocols and refusals beside the worker row (an
/// admin's `update_worker` leaves them alone), and job tokens.
pub async fn worker_access_and_job_tokens(s: &dyn Store) {
    use lava_core::model::WorkerProtocol;
    use lava_store::WorkerAccess;
    small_lab(s).await;
    assert_eq!(
        s.worker_access("w1").await.unwrap(),
        Some(WorkerAccess::default())
    );
    assert_eq!(s.worker_access("ghost").await.unwrap(), None);
    s.set_worker_token("w1", "tok1").await.unwrap();
    s.set_worker_protocol("w1", WorkerProtocol::Http, Some("version 2026.07 refused"))
        .await
        .unwrap();
    let mut w = s.worker("w1").await.unwrap().unwrap();
    w.description = "changed by an admin".into();
    s.update_worker(&w).await.unwrap();
    assert_eq!(
        s.worker_access("w1").await.unwrap(),
        Some(WorkerAccess {
            protocol: Some(WorkerProtocol::Http),
            token: Some("tok1".into()),
            refusal: Some("version 2026.07 refused".into()),
        })
    );
    s.set_worker_protocol("w1", WorkerProtocol::Zmq, None)
        .await
        .unwrap();
    let access = s.worker_access("w1").await.unwrap().unwrap();
    assert_eq!(
        (access.protocol, access.refusal),
        (Some(WorkerProtocol::Zmq), None)
    );
    assert!(matches!(
        s.set_worker_token("ghost", "x").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.set_worker_protocol("ghost", WorkerProtocol::Http, None)
            .await,
        Err(StoreError::NotFound(_))
    ));

    let id = s.submit(&[job("qemu", 1)]).await.unwrap()[0];
    assert_eq!(s.job_token(id).await.unwrap(), None);
    s.set_job_token(id, "jobtok").await.unwrap();
    assert_eq!(s.job_token(id).await.unwrap().as_deref(), Some("jobtok"));
    assert!(matches!(
        s.set_job_token(id + 100, "x").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.job_token(id + 100).await,
        Err(StoreError::NotFound(_))
    ));
}

/// Declares one `#[tokio::test]` per case, each on a fresh store from `$open`.
#[macro_export]
macro_rules! store_suite {
    ($open:path) => {
        $crate::store_suite!(@cases $open =>
            device_types,
            device_type_with_jobs_is_in_use,
            workers,
            devices_and_tags,
            busy_device_cannot_be_removed,
            users_and_tokens,
            groups_and_grants,
            submission,
            transitions,
            change_sets_are_atomic,
            results_and_the_end_in_one_change_set,
            scheduler_snapshot,
            job_records,
            large_change_sets,
            worker_access_and_job_tokens,
        );
    };
    (@cases $open:path => $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let Some((store, _guard)) = $open().await else { return };
                $crate::common::cases::$case(&store).await;
            }
        )*
    };
}
