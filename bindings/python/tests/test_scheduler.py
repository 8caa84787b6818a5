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


def test_empty_lab_decides_nothing():
    assert scheduler.schedule({"now": NOW}) == {
        "assignments": [],
        "health_checks": [],
        "device_health": [],
        "waiting_groups": [],
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
    snapshot["device_types"][0]["health_check_definition"] = "job_name: hc\n"
    [check] = scheduler.schedule(snapshot)["health_checks"]
    assert check["reason"] == "device never ran a health check"


def test_health_check_due_on_unknown_device():
    snapshot = lab(devices=["qemu-01"], jobs=[job(1)])
    snapshot["device_types"][0]["health_check_definition"] = "job_name: hc\n"
    snapshot["devices"][0]["health"] = "Unknown"
    decisions = scheduler.schedule(snapshot)
    assert [c["device"] for c in decisions["health_checks"]] == ["qemu-01"]
    assert decisions["health_checks"][0]["definition"] == "job_name: hc\n"
    assert decisions["health_checks"][0]["reason"]
    # The check holds the device: the queued job waits.
    assert assigned(decisions) == {}


def test_recent_health_check_is_not_due():
    snapshot = lab(devices=["qemu-01"], jobs=[job(1)])
    snapshot["device_types"][0]["health_check_definition"] = "job_name: hc\n"
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
