"""lava_rs.scheduler: one pass over plain Python data (dicts, objects, names or codes)."""

import dataclasses
import datetime

import pytest

import lava_rs
from lava_rs import scheduler

NOW = 1_800_000_000.0


def lab(devices=("qemu-01", "qemu-02"), jobs=(), **extra):
    snapshot = {
        "device_types": [{"name": "qemu"}],
        "devices": [
            {"hostname": h, "device_type": "qemu", "worker": "worker-1"} for h in devices
        ],
        "workers": [{"hostname": "worker-1"}],
        "jobs": list(jobs),
        "now": NOW,
    }
    snapshot.update(extra)
    return snapshot


def job(id, submit=0.0, **fields):
    return dict(
        {"id": id, "requested_device_type": "qemu", "submit_time": NOW - 100 + submit},
        **fields,
    )


def assigned(decisions):
    return {a["job"]: (a["device"], a["state"]) for a in decisions["assignments"]}


HC = "job_name: hc\nvisibility: public\n"


def test_empty_lab_decides_nothing():
    assert scheduler.schedule({"now": NOW}) == {
        "assignments": [],
        "health_checks": [],
        "device_health": [],
        "waiting_groups": [],
        "started_groups": [],
        "available_devices": {},
        "skipped_devices": [],
        "waiting_jobs": [],
        "released": [],
    }


def test_one_job_goes_to_the_first_device_in_hostname_order():
    decisions = scheduler.schedule(lab(jobs=[job(1)]))
    assert assigned(decisions) == {1: ("qemu-01", "Scheduled")}


def test_every_free_device_takes_a_job():
    decisions = scheduler.schedule(lab(jobs=[job(1), job(2, submit=1), job(3, submit=2)]))
    got = assigned(decisions)
    assert set(got) == {1, 2}
    assert {d for d, _ in got.values()} == {"qemu-01", "qemu-02"}


def test_priority_then_submit_time():
    jobs = [job(1, priority="low"), job(2, submit=5, priority=100), job(3, submit=1)]
    decisions = scheduler.schedule(lab(devices=["qemu-01"], jobs=jobs))
    assert assigned(decisions) == {2: ("qemu-01", "Scheduled")}
    jobs = [job(1, submit=3), job(2, submit=1)]
    decisions = scheduler.schedule(lab(devices=["qemu-01"], jobs=jobs))
    assert assigned(decisions) == {2: ("qemu-01", "Scheduled")}


def test_tags_must_be_carried():
    snapshot = lab(jobs=[job(1, tags=["usb"])])
    snapshot["devices"][1]["tags"] = ["usb", "big"]
    assert assigned(scheduler.schedule(snapshot)) == {1: ("qemu-02", "Scheduled")}
    snapshot["devices"][1]["tags"] = []
    assert assigned(scheduler.schedule(snapshot)) == {}


@pytest.mark.parametrize(
    "where,field,value",
    [
        ("workers", "state", "Offline"),
        ("devices", "health", "Maintenance"),
        ("devices", "health", "Retired"),
        ("devices", "state", "Running"),
    ],
)
def test_unavailable_devices_get_nothing(where, field, value):
    snapshot = lab(devices=["qemu-01"], jobs=[job(1)])
    snapshot[where][0][field] = value
    assert assigned(scheduler.schedule(snapshot)) == {}


def test_invalid_dictionary_sends_device_to_bad():
    decisions = scheduler.schedule(lab(devices=["qemu-01"], jobs=[job(1)], valid_dictionaries=[]))
    assert assigned(decisions) == {}
    assert decisions["device_health"][0]["device"] == "qemu-01"
    assert decisions["device_health"][0]["to"] == "Bad"


def test_health_check_never_run_is_due():
    snapshot = lab(devices=["qemu-01"])
    snapshot["device_types"][0]["health_check_definition"] = HC
    [check] = scheduler.schedule(snapshot)["health_checks"]
    assert check["reason"] == "device never ran a health check"


def test_health_check_due_on_unknown_device():
    snapshot = lab(devices=["qemu-01"], jobs=[job(1)])
    snapshot["device_types"][0]["health_check_definition"] = HC
    snapshot["devices"][0]["health"] = "Unknown"
    decisions = scheduler.schedule(snapshot)
    assert [c["device"] for c in decisions["health_checks"]] == ["qemu-01"]
    assert decisions["health_checks"][0]["definition"] == HC
    assert decisions["health_checks"][0]["reason"]
    # The check holds the device: the queued job waits.
    assert assigned(decisions) == {}


def test_recent_health_check_is_not_due():
    snapshot = lab(devices=["qemu-01"], jobs=[job(1)])
    snapshot["device_types"][0]["health_check_definition"] = HC
    snapshot["devices"][0]["last_health_report_job"] = 99
    snapshot["last_health_checks"] = {
        "qemu-01": {"job": 99, "submit_time": NOW - 60, "jobs_since": 0}
    }
    decisions = scheduler.schedule(snapshot)
    assert decisions["health_checks"] == []
    # A day later (the default frequency is 24 hours) it is due again.
    snapshot["now"] = NOW + 24 * 3600
    later = scheduler.schedule(snapshot)
    assert [c["device"] for c in later["health_checks"]] == ["qemu-01"]
    assert assigned(decisions) == {1: ("qemu-01", "Scheduled")}


def multinode(id, role):
    return job(id, multinode={"group": "g1", "role": role})


def test_multinode_group_scheduled_when_complete():
    decisions = scheduler.schedule(lab(jobs=[multinode(1, "server"), multinode(2, "client")]))
    got = assigned(decisions)
    assert {state for _, state in got.values()} == {"Scheduled"}
    assert {device for device, _ in got.values()} == {"qemu-01", "qemu-02"}
    assert decisions["waiting_groups"] == []


def test_multinode_group_waits_for_devices():
    decisions = scheduler.schedule(
        lab(devices=["qemu-01"], jobs=[multinode(1, "server"), multinode(2, "client")])
    )
    assert list(assigned(decisions).values()) == [("qemu-01", "Scheduling")]
    [group] = decisions["waiting_groups"]
    assert group["group"] == "g1"
    assert len(group["reserved"]) == 1
    assert len(group["waiting"]) == 1


def test_seeded_order_is_reproducible():
    snapshot = lab(devices=[f"qemu-{i:02}" for i in range(8)], jobs=[job(1)])
    first = scheduler.schedule(snapshot, seed=7)
    assert first == scheduler.schedule(snapshot, seed=7)
    [(device, state)] = assigned(first).values()
    assert device.startswith("qemu-") and state == "Scheduled"


@dataclasses.dataclass
class Row:
    """A stand-in for a Django model instance: attributes, database codes."""

    hostname: str
    device_type: str = "qemu"
    worker: str = "worker-1"
    state: int = 0
    health: int = 0


def test_objects_codes_and_datetimes():
    now = datetime.datetime.fromtimestamp(NOW, tz=datetime.timezone.utc)
    snapshot = {
        "device_types": [{"name": "qemu"}],
        "devices": [Row("qemu-01", health=4), Row("qemu-02")],
        "workers": [{"hostname": "worker-1", "state": 0, "health": 0}],
        "jobs": [
            {"id": 5, "requested_device_type": "qemu", "state": 0, "submit_time": now}
        ],
        "now": now.replace(tzinfo=None),
    }
    # qemu-01 has health code 4 (Maintenance): the job goes to qemu-02.
    assert assigned(scheduler.schedule(snapshot)) == {5: ("qemu-02", "Scheduled")}


@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda s: s.pop("now"), "now"),
        (lambda s: s.update(now="yesterday"), "now"),
        (lambda s: s["devices"][1].update(state="Sleeping"), "devices[1].state"),
        (lambda s: s["devices"][0].update(health=42), "devices[0].health"),
        (lambda s: s["devices"][0].pop("hostname"), "devices[0].hostname"),
        (lambda s: s["devices"][0].update(tags="usb"), "devices[0].tags"),
        (lambda s: s["jobs"][0].pop("id"), "jobs[0].id"),
        (lambda s: s["jobs"][0].update(priority=101), "jobs[0].priority"),
        (lambda s: s["jobs"][0].update(multinode={"group": "g"}), "jobs[0].multinode.role"),
        (lambda s: s["workers"][0].update(job_limit=-1), "workers[0].job_limit"),
        (lambda s: s.update(devices=3), "devices"),
        (lambda s: s.update(last_health_checks=[]), "last_health_checks"),
    ],
)
def test_bad_snapshot_names_the_field(mutate, field):
    snapshot = lab(jobs=[job(1)])
    mutate(snapshot)
    with pytest.raises(lava_rs.SchedulerError) as info:
        scheduler.schedule(snapshot)
    assert isinstance(info.value, lava_rs.LavaError)
    assert info.value.field == field
    assert field in str(info.value)


# ---- LAVA's two halves, and the available devices. ----


def test_health_check_pass_returns_lavas_available_devices():
    snapshot = lab(devices=["qemu-01", "qemu-02"], jobs=[job(1)])
    snapshot["device_types"][0]["health_check_definition"] = HC
    snapshot["devices"][0]["health"] = "Unknown"
    snapshot["devices"][1]["last_health_report_job"] = 7
    snapshot["last_health_checks"] = {
        "qemu-02": {"job": 7, "submit_time": NOW - 60, "jobs_since": 0}
    }
    decisions = scheduler.schedule_health_checks(snapshot)
    assert [c["device"] for c in decisions["health_checks"]] == ["qemu-01"]
    assert decisions["available_devices"] == {"qemu": ["qemu-02"]}
    # The health-check half assigns no job and explains nothing.
    assert decisions["assignments"] == [] and decisions["waiting_jobs"] == []


def test_job_pass_offers_only_the_given_devices():
    snapshot = lab(jobs=[job(1), job(2, submit=1)])
    decisions = scheduler.schedule_jobs(snapshot, {"qemu": ["qemu-02"]})
    assert assigned(decisions) == {1: ("qemu-02", "Scheduled")}
    [waiting] = decisions["waiting_jobs"]
    assert waiting["job"] == 2 and waiting["reason"] == "not_offered"
    assert waiting["free"] == 1
    with pytest.raises(lava_rs.SchedulerError) as info:
        scheduler.schedule_jobs(snapshot, {"qemu": "qemu-02"})
    assert info.value.field == "available_devices"


def test_device_types_is_lavas_available_dt():
    snapshot = lab(jobs=[job(1)])
    snapshot["device_types"].append({"name": "panda"})
    decisions = scheduler.schedule(snapshot, device_types=["panda"])
    assert decisions["assignments"] == []
    assert decisions["available_devices"] == {"panda": []}


# ---- Health checks per device. ----


def test_health_checks_per_device_and_invalid_ones():
    snapshot = lab(devices=["qemu-01", "qemu-02", "qemu-03"], jobs=[job(1)])
    for device in snapshot["devices"]:
        device["health"] = "Unknown"
    snapshot["health_checks"] = {
        "qemu-01": HC,
        "qemu-02": None,  # no health check: available, takes the job
        "qemu-03": "job_name: no visibility\n",
    }
    decisions = scheduler.schedule(snapshot)
    assert [c["device"] for c in decisions["health_checks"]] == ["qemu-01"]
    assert assigned(decisions) == {1: ("qemu-02", "Scheduled")}
    [bad] = decisions["device_health"]
    assert (bad["device"], bad["to"], bad["reason"]) == ("qemu-03", "Bad", "Invalid health check")
    assert bad["detail"] == "visibility: missing"
    assert scheduler.health_check_problem(HC) is None
    assert scheduler.health_check_problem("job_name: x\n") == "visibility: missing"


def test_health_check_callable_gets_the_device_item():
    snapshot = lab(devices=["qemu-01", "qemu-02"])
    for device in snapshot["devices"]:
        device["health"] = "Unknown"
    asked = []

    def health_check(device):
        asked.append(device["hostname"])
        return HC if device["hostname"] == "qemu-02" else None

    decisions = scheduler.schedule(snapshot, health_check=health_check)
    assert asked == ["qemu-01", "qemu-02"]
    assert [c["device"] for c in decisions["health_checks"]] == ["qemu-02"]
    with pytest.raises(lava_rs.SchedulerError) as info:
        scheduler.schedule(snapshot, health_check=lambda device: 42)
    assert info.value.field == "health_check(qemu-01)"


# ---- Dictionaries checked lazily. ----


def test_is_valid_is_asked_only_for_devices_the_pass_uses():
    snapshot = lab(devices=["qemu-01", "qemu-02", "qemu-03"], jobs=[job(1)])
    snapshot["devices"][1]["state"] = "Running"
    snapshot["devices"][2]["health"] = "Maintenance"
    asked = []

    def is_valid(device):
        asked.append(device["hostname"])
        return True

    decisions = scheduler.schedule(snapshot, is_valid=is_valid)
    assert asked == ["qemu-01"]
    assert assigned(decisions) == {1: ("qemu-01", "Scheduled")}
    decisions = scheduler.schedule(snapshot, is_valid=lambda device: False)
    assert decisions["device_health"][0]["reason"] == "Invalid device configuration"


def test_a_callable_that_raises_fails_the_pass():
    def broken(device):
        raise RuntimeError("template missing")

    with pytest.raises(RuntimeError, match="template missing"):
        scheduler.schedule(lab(jobs=[job(1)]), is_valid=broken)
    with pytest.raises(lava_rs.SchedulerError) as info:
        scheduler.schedule(lab(), is_valid=42)
    assert info.value.field == "is_valid"


# ---- Permissions. ----


def test_restricted_device_takes_only_its_groups_jobs():
    snapshot = lab(
        jobs=[job(1, submitter="outsider", priority=100), job(2, submit=1, submitter="alice")]
    )
    snapshot["permissions"] = {
        "users": {"alice": {"groups": ["lab"]}},
        "devices": {"qemu-01": [("lab", "submit_to_device")]},
    }
    decisions = scheduler.schedule(snapshot)
    assert assigned(decisions) == {
        1: ("qemu-02", "Scheduled"),
        2: ("qemu-01", "Scheduled"),
    }
    snapshot["devices"].pop()
    snapshot["jobs"].pop()
    [waiting] = scheduler.schedule(snapshot)["waiting_jobs"]
    assert waiting["reason"] == "not_allowed"
    assert (waiting["submitter"], waiting["devices"]) == ("outsider", 1)


@dataclasses.dataclass
class Named:
    name: str


@dataclasses.dataclass
class Permission:
    codename: str


@dataclasses.dataclass
class Grant:
    """LAVA's GroupDevicePermission row."""

    group: Named
    permission: Permission


class Manager:
    """A Django related manager: iterate it through .all()."""

    def __init__(self, items):
        self.items = list(items)

    def all(self):
        return list(self.items)


@dataclasses.dataclass
class User:
    username: str
    groups: Manager
    is_superuser: bool = False
    is_active: bool = True
    global_permissions: tuple = ()

    def get_all_permissions(self):
        return set(self.global_permissions)


def test_permissions_as_django_rows():
    alice = User("alice", Manager([Named("lab")]))
    root = User("root", Manager([]), global_permissions=("lava_scheduler_app.submit_to_device",))
    snapshot = lab(devices=["qemu-01"], jobs=[job(1, submitter=root, priority=100), job(2, submitter=alice)])
    snapshot["permissions"] = {
        "users": {"alice": alice, "root": root},
        "devices": {"qemu-01": Manager([Grant(Named("lab"), Permission("submit_to_device"))])},
    }
    # root holds submit_to_device globally: its better job runs.
    assert assigned(scheduler.schedule(snapshot)) == {1: ("qemu-01", "Scheduled")}
    snapshot["permissions"]["devices"]["qemu-01"] = [("lab", "delete_device")]
    with pytest.raises(lava_rs.SchedulerError) as info:
        scheduler.schedule(snapshot)
    assert info.value.field == "permissions.devices['qemu-01'][0].permission"


# ---- lava-vland. ----

VLAN_JOB = """job_name: vlan
visibility: public
protocols:
  lava-vland:
    vlan_one:
      tags: [10G]
"""


def test_vland_jobs_need_matching_interfaces():
    snapshot = lab(jobs=[job(1, definition=VLAN_JOB)])
    snapshot["vlan_interfaces"] = {"qemu-02": {"eth0": {"tags": None}, "eth1": {"tags": ["10G"]}}}
    assert assigned(scheduler.schedule(snapshot)) == {1: ("qemu-02", "Scheduled")}
    del snapshot["vlan_interfaces"]
    seen = []

    def interfaces(device):
        seen.append(device["hostname"])
        return {"eth1": {"tags": ["1G"]}}

    decisions = scheduler.schedule(snapshot, vlan_interfaces=interfaces)
    assert decisions["assignments"] == []
    assert seen == ["qemu-01", "qemu-02"]
    assert decisions["waiting_jobs"][0]["reason"] == "no_vlan_interfaces"
    snapshot["jobs"][0]["definition"] = VLAN_JOB.replace("tags: [10G]", "speed: 10G")
    with pytest.raises(lava_rs.SchedulerError) as info:
        scheduler.schedule(snapshot)
    assert info.value.field == "jobs[0].definition"


# ---- Multinode roles, and explanations. ----


def test_started_group_carries_lavas_roles():
    decisions = scheduler.schedule(lab(jobs=[multinode(1, "server"), multinode(2, "client")]))
    assert decisions["started_groups"] == [
        {"group": "g1", "roles": {"1": "server", "2": "client"}}
    ]


def test_a_group_with_a_finished_sub_job_never_starts():
    gone = multinode(3, "client")
    gone["state"] = "Finished"
    decisions = scheduler.schedule(lab(jobs=[multinode(1, "server"), multinode(2, "client"), gone]))
    assert {state for _, state in assigned(decisions).values()} == {"Scheduling"}
    [group] = decisions["waiting_groups"]
    assert group["blocking"] == [(3, "Finished")]
    reasons = {w["job"]: w for w in decisions["waiting_jobs"]}
    assert reasons[1]["reason"] == "multinode_group_incomplete"
    assert reasons[1]["blocking"] == [(3, "Finished")]


def test_waiting_jobs_carry_their_numbers():
    snapshot = lab(devices=["qemu-01"], jobs=[job(1), job(2, submit=1), job(3, submit=2, priority=100)])
    decisions = scheduler.schedule(snapshot)
    assert assigned(decisions) == {3: ("qemu-01", "Scheduled")}
    first, second = decisions["waiting_jobs"]
    assert first == {
        "job": 1,
        "reason": "all_devices_busy",
        "message": "the only 'qemu' device that can run it is busy; the job is 1st in the "
        "'qemu' queue",
        "device_type": "qemu",
        "busy": 1,
        "position": 1,
        "higher_priority_ahead": 0,
    }
    assert (second["job"], second["position"]) == (2, 2)
    snapshot["devices"][0]["health"] = "Bad"
    reasons = scheduler.schedule(snapshot)["waiting_jobs"]
    assert reasons[0]["health"] == {"Bad": 1}
    assert scheduler.schedule(snapshot, explain=False)["waiting_jobs"] == []


# ---- LAVA's Django model instances, as they are. ----


@dataclasses.dataclass
class DjangoDeviceType:
    name: str
    health_frequency: int = 24
    health_denominator: int = 0
    disable_health_check: bool = False
    display: bool = True
    description: str = None


@dataclasses.dataclass
class DjangoWorker:
    hostname: str
    state: int = 0
    health: int = 0
    job_limit: int = 0


@dataclasses.dataclass
class DjangoDevice:
    hostname: str
    device_type: DjangoDeviceType
    worker_host: DjangoWorker
    tags: Manager
    state: int = 0
    health: int = 0
    last_health_report_job: object = None


@dataclasses.dataclass
class DjangoUser:
    username: str


@dataclasses.dataclass
class DjangoJob:
    pk: int
    submitter: DjangoUser
    requested_device_type: DjangoDeviceType
    tags: Manager
    submit_time: datetime.datetime
    definition: str = "job_name: j\nvisibility: public\n"
    target_group: str = None
    state: int = 0
    priority: int = 50
    actual_device: object = None
    health_check: bool = False


def test_django_model_instances_are_read_as_they_are():
    qemu = DjangoDeviceType("qemu")
    worker = DjangoWorker("worker-1")
    now = datetime.datetime.fromtimestamp(NOW, tz=datetime.timezone.utc)
    devices = [
        DjangoDevice("qemu-01", qemu, worker, Manager([Named("usb")])),
        DjangoDevice("qemu-02", qemu, DjangoWorker("worker-2", state=1), Manager([Named("usb")])),
    ]
    sub = "job_name: mn\nvisibility: public\nprotocols:\n  lava-multinode:\n    role: server\n"
    jobs = [
        DjangoJob(1, DjangoUser("alice"), qemu, Manager([Named("usb")]), now),
        DjangoJob(2, DjangoUser("bob"), qemu, Manager([]), now, definition=sub, target_group="g"),
    ]
    snapshot = {
        "device_types": [qemu],
        "devices": devices,
        "workers": [worker, DjangoWorker("worker-2", state=1)],
        "jobs": jobs,
        "now": now,
        "permissions": {"users": {"alice": {"groups": ["lab"]}},
                        "devices": {"qemu-01": [("lab", "submit_to_device")]}},
    }
    decisions = scheduler.schedule(snapshot)
    # alice (the submitter's username) may use qemu-01, bob may not; qemu-02's worker
    # (worker_host) is offline. Job 2 is a sub-job of group g, role server (read from its
    # definition): alone in its group, it would start at once on a device.
    assert assigned(decisions) == {1: ("qemu-01", "Scheduled")}
    [waiting] = decisions["waiting_jobs"]
    assert waiting["job"] == 2
    assert (waiting["reason"], waiting["offline"], waiting["at_job_limit"]) == (
        "workers_unavailable",
        1,
        0,
    )
    devices[1].worker_host = worker
    decisions = scheduler.schedule(snapshot)
    assert assigned(decisions) == {1: ("qemu-01", "Scheduled"), 2: ("qemu-02", "Scheduled")}
    assert decisions["started_groups"] == [{"group": "g", "roles": {"2": "server"}}]


@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda s: setattr(s["devices"][0], "device_type", object()), "devices[0].device_type"),
        (lambda s: setattr(s["devices"][0], "worker_host", 3), "devices[0].worker_host"),
        (lambda s: setattr(s["jobs"][0], "submitter", 7), "jobs[0].submitter"),
        (lambda s: setattr(s["jobs"][0], "tags", 5), "jobs[0].tags"),
        (lambda s: setattr(s["jobs"][0], "target_group", "g"), "jobs[0].definition"),
    ],
)
def test_django_values_of_the_wrong_kind_name_the_field(mutate, field):
    qemu = DjangoDeviceType("qemu")
    now = datetime.datetime.fromtimestamp(NOW, tz=datetime.timezone.utc)
    snapshot = {
        "device_types": [qemu],
        "devices": [DjangoDevice("qemu-01", qemu, DjangoWorker("w"), Manager([]))],
        "workers": [DjangoWorker("w")],
        "jobs": [DjangoJob(1, DjangoUser("alice"), qemu, Manager([]), now)],
        "now": now,
    }
    mutate(snapshot)
    with pytest.raises(lava_rs.SchedulerError) as info:
        scheduler.schedule(snapshot)
    assert info.value.field == field
