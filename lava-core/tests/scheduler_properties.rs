//! Properties of any scheduling pass, over random labs: no device gets two jobs, no job runs
//! on a device of another type, without its tags, against its submitter's permissions or
//! without its VLANs; priority order holds, multinode groups start all or nothing (never
//! with a sub-job gone), worker limits hold, every job left waiting has one reason and
//! started ones none, dictionaries asked lazily decide as the eager sets, and the decisions
//! apply as transitions.

#[path = "scheduler_support/lab.rs"]
mod lab;

use lab::*;
use lava_core::model::{Device, DeviceHealth, DeviceState, DeviceType, Job, JobState, WorkerState};
use lava_core::scheduler::{
    match_vlan_interface, queue_order, schedule, schedule_with, DeviceDictionaries, DeviceOrder,
    GroupPermission, LabSnapshot, ObjectPermission, PassOptions, SnapshotDictionaries, UserAccess,
    Vlan, VlanInterface, WaitReason,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};

const USERS: &[&str] = &["alice", "bob", "carol"];

const TYPES: &[&str] = &["panda", "qemu", "x86"];
const TAGS: &[&str] = &["usb", "hdmi", "wifi"];

fn tag_subset() -> impl Strategy<Value = Vec<&'static str>> {
    proptest::sample::subsequence(TAGS, 0..=TAGS.len())
}

/// Jobs mostly ask for no tag, so that enough of them fit to make passes busy.
fn job_tags() -> impl Strategy<Value = Vec<&'static str>> {
    prop_oneof![3 => Just(Vec::new()), 1 => proptest::sample::subsequence(TAGS, 1..=2)]
}

fn mostly<T: Clone + std::fmt::Debug + 'static>(usual: T, rare: T) -> impl Strategy<Value = T> {
    prop_oneof![5 => Just(usual), 1 => Just(rare)]
}

fn health() -> impl Strategy<Value = DeviceHealth> {
    prop_oneof![
        4 => Just(DeviceHealth::Good),
        2 => Just(DeviceHealth::Unknown),
        1 => Just(DeviceHealth::Looping),
        1 => Just(DeviceHealth::Bad),
        1 => Just(DeviceHealth::Maintenance),
        1 => Just(DeviceHealth::Retired),
    ]
}

fn state() -> impl Strategy<Value = DeviceState> {
    prop_oneof![
        6 => Just(DeviceState::Idle),
        1 => Just(DeviceState::Reserved),
        1 => Just(DeviceState::Running),
    ]
}

prop_compose! {
    fn a_lab()(
        hc in proptest::collection::vec((any::<bool>(), any::<bool>()), TYPES.len()),
        workers in proptest::collection::vec((mostly(true, false), prop_oneof![3 => Just(0u32), 1 => 1u32..4]), 1..4),
        devices in proptest::collection::vec(
            (0..TYPES.len(), 0usize..3, health(), state(), tag_subset(), mostly(true, false), 0i64..30),
            0..24,
        ),
        jobs in proptest::collection::vec(
            (0..TYPES.len(), 0u8..=100, 0i64..50, job_tags(), 0u8..30, any::<bool>()),
            0..30,
        ),
        seed in any::<u64>(),
        // Per device: restricted to group "lab" (alice's), interfaces (tags), own check.
        extras in proptest::collection::vec((mostly(false, true), 0u8..4, 0u8..5), 24),
        // Per job: its submitter, a VLAN request, a finished sub-job in its group.
        job_extras in proptest::collection::vec((0..USERS.len(), 0u8..6, mostly(false, true)), 30),
        type_restricted in mostly(false, true),
    ) -> (LabSnapshot, u64) {
        let mut lab = Lab::new();
        lab.snapshot.workers.clear();
        for (i, (online, limit)) in workers.iter().enumerate() {
            let mut w = worker(&format!("worker-{i}"));
            w.state = if *online { WorkerState::Online } else { WorkerState::Offline };
            w.job_limit = *limit;
            lab.snapshot.workers.push(w);
        }
        for (t, (has_check, disabled)) in TYPES.iter().zip(&hc) {
            let mut dt = device_type(t, *has_check);
            dt.disable_health_check = *disabled && !*has_check;
            lab.snapshot.device_types.push(dt);
        }
        lab.snapshot.permissions.users.insert(
            "alice".into(),
            UserAccess { groups: ["lab".to_string()].into(), ..UserAccess::default() },
        );
        let lab_only = vec![GroupPermission { group: "lab".into(), permission: ObjectPermission::Submit }];
        if type_restricted {
            lab.snapshot.permissions.device_types.insert("qemu".into(), lab_only.clone());
        }
        let iface = |name: &str, tags: &[&str]| VlanInterface {
            name: name.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        };
        for (i, (t, w, h, s, tags, valid, hc_ago)) in devices.into_iter().enumerate() {
            let hostname = format!("{}-{i:02}", TYPES[t]);
            let worker = format!("worker-{}", w % workers.len());
            let d = lab.add_device(&hostname, TYPES[t], h, &tags);
            d.state = s;
            d.worker = Some(worker);
            let mut last = lab.snapshot.last_health_checks[&hostname];
            last.submit_time = NOW.add_secs(-hc_ago * HOUR);
            lab.snapshot.last_health_checks.insert(hostname.clone(), last);
            if !valid {
                lab.snapshot.valid_dictionaries.remove(&hostname);
            }
            let (restricted, interfaces, own_check) = extras[i];
            if restricted {
                lab.snapshot.permissions.devices.insert(hostname.clone(), lab_only.clone());
            }
            match interfaces {
                1 => { lab.snapshot.vlan_interfaces.insert(hostname.clone(), vec![iface("eth0", &["1G"])]); }
                2 => { lab.snapshot.vlan_interfaces.insert(hostname.clone(), vec![iface("eth0", &[]), iface("eth1", &["1G", "public"]), iface("eth2", &["100M"])]); }
                3 => { lab.snapshot.vlan_interfaces.insert(hostname.clone(), vec![iface("eth1", &["100M"])]); }
                _ => {}
            }
            // Some devices have a check of their own (one invalid), or none.
            match own_check {
                1 => { lab.snapshot.health_checks.insert(hostname.clone(), None); }
                2 => { lab.snapshot.health_checks.insert(hostname.clone(), Some("job_name: own\nvisibility: public\n".into())); }
                3 => { lab.snapshot.health_checks.insert(hostname.clone(), Some("job_name: own\npriority: urgent\nvisibility: public\n".into())); }
                _ => {}
            }
        }
        let vlan = |name: &str, tags: &[&str]| Vlan {
            name: name.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        };
        // About one job in five is a sub-job of one of six multinode groups.
        for (i, (t, p, ago, tags, group, legacy)) in jobs.into_iter().enumerate() {
            let id = i as i64 + 1;
            let mut j = job(id, TYPES[t], p);
            j.submit_time = NOW.add_secs(-ago);
            j.tags = tags.iter().map(|s| s.to_string()).collect();
            if group >= 24 {
                // A group's sub-jobs share a type, so that whole groups often fit.
                let t = TYPES[usize::from(group) % TYPES.len()];
                j = Job {
                    requested_device_type: Some(t.into()),
                    tags: Default::default(),
                    ..sub_job(id, Some(t), &format!("g{group}"), "r")
                };
                j.priority = lava_core::model::Priority::new(i64::from(p)).unwrap_or_default();
            } else if legacy && p % 7 == 0 {
                lab.snapshot.legacy_jobs.insert(id);
            }
            let (user, vlans, gone) = job_extras[i];
            j.submitter = USERS[user].into();
            match vlans {
                1 => { lab.snapshot.vlan_requests.insert(id, vec![vlan("v", &["1G"])]); }
                2 => { lab.snapshot.vlan_requests.insert(id, vec![vlan("a", &["100M"]), vlan("b", &["1G"])]); }
                _ => {}
            }
            // A sub-job canceled while Submitted is Finished: its group never starts.
            if gone && j.multinode.is_some() {
                j.state = JobState::Finished;
            }
            lab.snapshot.jobs.push(j);
        }
        (lab.snapshot, seed)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_pass_respects_the_rules((mut lab, seed) in a_lab()) {
        // Half the labs with lava-rs' bound on waiting groups (the master's), half as LAVA.
        lab.bound_waiting_groups = seed % 2 == 1;
        let decisions = schedule(&lab, DeviceOrder::Shuffled { seed });
        let devices: HashMap<&str, _> = lab.devices.iter().map(|d| (d.hostname.as_str(), d)).collect();
        let jobs: HashMap<i64, &Job> = lab.jobs.iter().map(|j| (j.id, j)).collect();
        let workers: HashMap<&str, _> = lab.workers.iter().map(|w| (w.hostname.as_str(), w)).collect();

        // No device gets two jobs, and only Idle devices on Online workers get any.
        let mut taken = HashSet::new();
        let newly: Vec<(&str, Option<i64>)> = decisions.health_checks.iter()
            .map(|h| (h.device.as_str(), None))
            .chain(decisions.assignments.iter().filter_map(|a| {
                let job = jobs[&a.job];
                (job.actual_device.is_none()).then_some(())?;
                a.device.as_deref().map(|d| (d, Some(a.job)))
            }))
            .collect();
        for (device, job) in &newly {
            prop_assert!(taken.insert(*device), "{device} got two jobs");
            let d = devices[device];
            prop_assert_eq!(d.state, DeviceState::Idle);
            let w = workers[d.worker.as_deref().unwrap_or_default()];
            prop_assert_eq!(w.state, WorkerState::Online);
            prop_assert!(lab.valid_dictionaries.contains(*device));
            match job {
                None => prop_assert!(matches!(d.health, DeviceHealth::Good | DeviceHealth::Unknown | DeviceHealth::Looping)),
                Some(id) => {
                    // Right type, tags carried, healthy device, not a legacy job.
                    let j = jobs[id];
                    prop_assert!(matches!(d.health, DeviceHealth::Good | DeviceHealth::Unknown));
                    prop_assert_eq!(j.requested_device_type.as_deref(), Some(d.device_type.as_str()));
                    prop_assert!(j.tags.is_subset(&d.tags), "job {} tags {:?} on {:?}", id, j.tags, d.tags);
                    prop_assert!(!lab.legacy_jobs.contains(id));
                    // Its submitter may use the device, which serves its VLANs.
                    prop_assert!(lab.permissions.can_submit(d, &j.submitter), "job {} of {} on {}", id, j.submitter, d.hostname);
                    if let Some(request) = lab.vlan_requests.get(id) {
                        prop_assert!(match_vlan_interface(request, lab.vlan_interfaces.get(&d.hostname).map(Vec::as_slice)));
                    }
                }
            }
        }

        // Worker job limits hold.
        let mut busy: BTreeMap<&str, u32> = BTreeMap::new();
        for d in &lab.devices {
            if d.state != DeviceState::Idle {
                *busy.entry(d.worker.as_deref().unwrap_or_default()).or_default() += 1;
            }
        }
        let before = busy.clone();
        for (device, _) in &newly {
            *busy.entry(devices[device].worker.as_deref().unwrap_or_default()).or_default() += 1;
        }
        for (w, n) in &busy {
            let limit = workers[w].job_limit;
            if limit > 0 {
                prop_assert!(*n <= limit.max(before.get(w).copied().unwrap_or(0)), "{w}: {n} > {limit}");
            }
        }

        // Priority order: a device that took job K had no better job it could run left.
        let assigned: HashSet<i64> = decisions.assignments.iter().map(|a| a.job).collect();
        // Sub-jobs of groups that can never start get no device, whatever their rank.
        let never: HashSet<i64> = decisions.waiting_jobs.iter().filter(|w| match &w.reason {
            WaitReason::MultinodeGroupCannotStart { .. } => true,
            WaitReason::MultinodeGroupIncomplete { blocking, .. } => !blocking.is_empty(),
            _ => false,
        }).map(|w| w.job).collect();
        for a in &decisions.assignments {
            let (Some(device), k) = (a.device.as_deref(), jobs[&a.job]) else { continue };
            if k.actual_device.is_some() { continue; }
            let d = devices[device];
            for j in &lab.jobs {
                let better = queue_order(j, k) == std::cmp::Ordering::Less;
                let fits = j.state == JobState::Submitted
                    && !never.contains(&j.id)
                    && j.requested_device_type.as_deref() == Some(d.device_type.as_str())
                    && j.tags.is_subset(&d.tags)
                    && !lab.legacy_jobs.contains(&j.id)
                    && lab.permissions.can_submit(d, &j.submitter)
                    && lab.vlan_requests.get(&j.id).is_none_or(|r| {
                        match_vlan_interface(r, lab.vlan_interfaces.get(&d.hostname).map(Vec::as_slice))
                    });
                prop_assert!(!(better && fits) || assigned.contains(&j.id),
                    "job {} (better) was skipped for job {} on {}", j.id, k.id, device);
            }
        }

        // Multinode: a group is Scheduled whole, or not at all.
        let mut groups: BTreeMap<&str, Vec<JobState>> = BTreeMap::new();
        let new_state: HashMap<i64, JobState> = decisions.assignments.iter().map(|a| (a.job, a.state)).collect();
        for j in &lab.jobs {
            if let Some(g) = j.target_group() {
                groups.entry(g).or_default().push(new_state.get(&j.id).copied().unwrap_or(j.state));
            }
        }
        for (g, states) in &groups {
            let scheduled = states.iter().filter(|s| **s == JobState::Scheduled).count();
            prop_assert!(scheduled == 0 || scheduled == states.len(), "group {g}: {states:?}");
            // ... and a group whose every sub-job holds a device does start.
            let holding = states.iter().filter(|s| **s == JobState::Scheduling).count();
            prop_assert!(holding < states.len(), "group {g} complete but left waiting");
        }
        for a in &decisions.assignments {
            if jobs[&a.job].multinode.is_none() {
                prop_assert_eq!(a.state, JobState::Scheduled);
            }
        }
        // A started group carries the role of each of its sub-jobs with a device.
        for started in &decisions.started_groups {
            let expected: BTreeMap<i64, String> = lab.jobs.iter()
                .filter(|j| j.target_group() == Some(started.group.as_str()) && !j.is_dynamic_connection())
                .map(|j| (j.id, j.multinode.as_ref().map(|m| m.role.clone()).unwrap_or_default()))
                .collect();
            prop_assert_eq!(&started.roles, &expected);
        }

        // Health checks: only definitions LAVA can create; an invalid one sends the device Bad.
        for check in &decisions.health_checks {
            prop_assert_eq!(lava_core::scheduler::health_check_problem(&check.definition), None);
        }
        for change in &decisions.device_health {
            prop_assert_eq!(change.to, DeviceHealth::Bad);
            if change.reason == "Invalid health check" {
                prop_assert!(change.detail.is_some());
            } else {
                prop_assert!(!lab.valid_dictionaries.contains(&change.device));
            }
        }

        // Every queued job the pass does not start has exactly one reason; started ones none.
        let mut reasons: HashMap<i64, &WaitReason> = HashMap::new();
        for w in &decisions.waiting_jobs {
            prop_assert!(reasons.insert(w.job, &w.reason).is_none(), "job {} explained twice", w.job);
        }
        for j in &lab.jobs {
            let after = new_state.get(&j.id).copied().unwrap_or(j.state);
            let queued = matches!(after, JobState::Submitted | JobState::Scheduling);
            prop_assert_eq!(queued, reasons.contains_key(&j.id), "job {} ({:?}): {:?}", j.id, after, reasons.get(&j.id));
        }
        for (id, reason) in &reasons {
            match reason {
                // A full pass offers every free device: none is left unoffered.
                WaitReason::NotOffered { .. } => prop_assert!(false, "job {id}: {reason}"),
                WaitReason::AllDevicesBusy { busy, position, higher_priority_ahead, .. } => {
                    prop_assert!(*busy >= 1 && *position >= 1 && *higher_priority_ahead < *position);
                }
                WaitReason::LegacyJson => prop_assert!(lab.legacy_jobs.contains(id)),
                WaitReason::NotAllowed { submitter, .. } => prop_assert_ne!(submitter.as_str(), "alice"),
                _ => {}
            }
            prop_assert!(!reason.to_string().is_empty());
        }

        // Dictionaries asked lazily decide as the eager sets, each question asked once.
        let mut recording = Recording { inner: SnapshotDictionaries::new(&lab), asked: Vec::new() };
        let lazy = schedule_with(&lab, &PassOptions::explained(DeviceOrder::Shuffled { seed }), &mut recording);
        prop_assert_eq!(&lazy, &decisions);
        let asked: HashSet<&String> = recording.asked.iter().collect();
        prop_assert_eq!(asked.len(), recording.asked.len(), "a device was asked twice");

        // The decisions apply as legal transitions.
        let changes = decisions.changes(&lab);
        prop_assert!(changes.is_ok(), "{:?}", changes.err());

        // The device order changes who runs where, never how much runs.
        let other = schedule(&lab, DeviceOrder::Hostname);
        prop_assert_eq!(other.health_checks.len(), decisions.health_checks.len());
    }
}

/// Answers like the snapshot, recording which devices were asked whether they are valid.
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
