"""A benchmark lab (../shared/bench-labs) in LAVA 2020.05's models; LAVA's schedule() and
lava_rs's on it, side by side, in one process.

    python benchlab.py LAB.json.gz [--repeat N] [--json OUT]

Run with the LAVA server's Python and its settings module (``settings``, *without*
``lava_rs.lava_server`` installed: LAVA's own scheduler must be importable), on an empty
migrated database (``LAVA_SERVER_DB_NAME``) and an empty state folder
(``LAVA_SERVER_STATE``): the lab is loaded into both. Each pass runs in a transaction that
is rolled back, so both schedulers see the same lab. LAVA's random device order is replaced
by hostname order for its pass, and lava_rs's pass uses ``LAVA_RS_SCHEDULER_ORDER =
"hostname"``: then both must take the same decisions, which is checked.

Prints (and writes with --json) the decisions' summary and the times: LAVA's pass, lava_rs's
first pass in the process (its memo of dictionary validity empty) and the following ones.
"""

import argparse
import datetime
import gzip
import json
import os
import sys
import time

import django


class Rollback(Exception):
    """Leaves a pass's transaction without committing."""


def load(lab, tree):
    """Loads `lab` (the decoded JSON) into LAVA's models and files; `tree` is LAVA's tree."""
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.db import transaction
    from django.utils import timezone
    from lava_common.compat import yaml_safe_dump
    from lava_scheduler_app.models import Device, DeviceType, Tag, TestJob, Worker

    now = timezone.now()

    def ago(seconds):
        return None if seconds is None else now - datetime.timedelta(seconds=seconds)

    os.makedirs(settings.DEVICES_PATH, exist_ok=True)
    os.makedirs(settings.HEALTH_CHECKS_PATH, exist_ok=True)
    states = {"Submitted": 0, "Scheduling": 1, "Scheduled": 2, "Running": 3, "Canceling": 4, "Finished": 5}
    job_healths = {"Unknown": 0, "Complete": 1, "Incomplete": 2, "Canceled": 3}
    device_states = {"Idle": 0, "Reserved": 1, "Running": 2}
    device_healths = {"Good": 0, "Unknown": 1, "Looping": 2, "Bad": 3, "Maintenance": 4, "Retired": 5}
    with transaction.atomic():
        users = {u: User.objects.get_or_create(username=u)[0] for u in lab["users"]}
        health_user = User.objects.get(username="lava-health")
        any_user = next(iter(users.values()))
        tags = {t: Tag.objects.get_or_create(name=t)[0] for t in lab["tags"]}
        Worker.objects.bulk_create(
            Worker(hostname=w["hostname"], state=0 if w["state"] == "Online" else 1,
                   health={"Active": 0, "Maintenance": 1, "Retired": 2}[w["health"]],
                   job_limit=w["job_limit"])
            for w in lab["workers"]
        )
        types = {}
        for t in lab["device_types"]:
            types[t["name"]] = DeviceType.objects.create(
                name=t["name"], health_frequency=t["health_frequency"],
                health_denominator=0 if t["health_denominator"] == "hours" else 1,
                disable_health_check=t["disable_health_check"], display=t["display"],
            )
            if t["health_check"]:
                with open(os.path.join(settings.HEALTH_CHECKS_PATH, t["name"] + ".yaml"), "w") as f:
                    f.write(yaml_safe_dump(t["health_check_definition"]))
        dictionaries = {t["name"]: open(os.path.join(tree, t["device_dict"])).read()
                        for t in lab["device_types"]}
        Device.objects.bulk_create(
            Device(hostname=d["hostname"], device_type=types[d["device_type"]],
                   worker_host_id=d["worker"], state=device_states[d["state"]],
                   health=device_healths[d["health"]])
            for d in lab["devices"]
        )
        for d in lab["devices"]:
            with open(os.path.join(settings.DEVICES_PATH, d["hostname"] + ".jinja2"), "w") as f:
                f.write(dictionaries[d["device_type"]])
        Device.tags.through.objects.bulk_create(
            Device.tags.through(device_id=d["hostname"], tag=tags[t])
            for d in lab["devices"] for t in d["tags"]
        )
        # Submit times are the lab's, not the moment of loading.
        submit_time = TestJob._meta.get_field("submit_time")
        submit_time.auto_now_add = False
        try:
            jobs = []
            for j in lab["finished_jobs"]:
                jobs.append(TestJob(
                    id=j["id"], submitter=health_user if j["health_check"] else any_user,
                    definition="job_name: finished\n", requested_device_type=types[j["device_type"]],
                    actual_device_id=j["device"], state=5, health=job_healths[j["health"]],
                    health_check=j["health_check"], submit_time=ago(j["submit_ago_s"]),
                    start_time=ago(j["start_ago_s"]), end_time=ago(j["end_ago_s"]), is_public=True,
                ))
            for j in lab["running_jobs"]:
                jobs.append(TestJob(
                    id=j["id"], submitter=health_user if j["health_check"] else any_user,
                    definition=yaml_safe_dump(j["definition"]),
                    requested_device_type=types[j["device_type"]], actual_device_id=j["device"],
                    state=states[j["state"]], health_check=j["health_check"],
                    submit_time=ago(j["submit_ago_s"]), start_time=ago(j.get("start_ago_s")),
                    is_public=True,
                ))
            for j in lab["queued_jobs"]:
                mn = j["multinode"]
                jobs.append(TestJob(
                    id=j["id"], submitter=users[j["submitter"]],
                    definition=yaml_safe_dump(j["definition"]),
                    requested_device_type=types[j["device_type"]], state=states[j["state"]],
                    priority=j["priority"], submit_time=ago(j["submit_ago_s"]), is_public=True,
                    target_group=mn["group"] if mn else None,
                    sub_id="%s.%s" % (j["id"], mn["sub_id"]) if mn else "",
                ))
            TestJob.objects.bulk_create(jobs, batch_size=1000)
        finally:
            submit_time.auto_now_add = True
        TestJob.tags.through.objects.bulk_create(
            (TestJob.tags.through(testjob_id=j["id"], tag=tags[t])
             for j in lab["queued_jobs"] for t in j["tags"]),
            batch_size=1000,
        )
        devices = []
        for d in lab["devices"]:
            if d["last_health_check"]:
                device = Device(hostname=d["hostname"])
                device.last_health_report_job_id = d["last_health_check"]["job"]
                devices.append(device)
        Device.objects.bulk_update(devices, ["last_health_report_job"], batch_size=1000)
        # Ids go on after the lab's (health checks created by a pass).
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('lava_scheduler_app_testjob', 'id'), "
                "(SELECT MAX(id) FROM lava_scheduler_app_testjob))"
            )


def decisions(before):
    """What a pass changed: (job, device, state) of queued jobs, health-check devices,
    devices that went Bad."""
    from lava_scheduler_app.models import Device, TestJob

    moved = sorted(
        (j, d, s) for j, d, s in TestJob.objects.filter(id__in=before["queued"])
        .exclude(state=TestJob.STATE_SUBMITTED).values_list("id", "actual_device_id", "state")
    )
    checks = sorted(
        TestJob.objects.filter(health_check=True, id__gt=before["max_id"])
        .values_list("actual_device_id", flat=True)
    )
    bad = sorted(
        Device.objects.filter(health=Device.HEALTH_BAD).exclude(hostname__in=before["bad"])
        .values_list("hostname", flat=True)
    )
    return {"jobs": moved, "health_checks": checks, "bad": bad}


def one_pass(schedule, before, hostname_order):
    """Runs `schedule(logger)` in a transaction rolled back; returns (seconds, decisions)."""
    from django.db import transaction
    from django.db.models.query import QuerySet
    from tests.utils import DummyLogger

    original = QuerySet.order_by

    def by_hostname(self, *fields):
        # LAVA's order_by("?") (random device order) becomes hostname order.
        return original(self, *("hostname" if f == "?" else f for f in fields))

    if hostname_order:
        QuerySet.order_by = by_hostname
    try:
        with transaction.atomic():
            start = time.perf_counter()
            schedule(DummyLogger())
            elapsed = time.perf_counter() - start
            result = decisions(before)
            raise Rollback()
    except Rollback:
        pass
    finally:
        QuerySet.order_by = original
    return elapsed, result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lab")
    parser.add_argument("--repeat", type=int, default=3, help="lava_rs passes (default 3)")
    parser.add_argument("--lava-repeat", type=int, default=1, help="LAVA passes (default 1)")
    parser.add_argument("--json", default=None)
    parser.add_argument("--lava-rs-templates", action="store_true",
                        help="lava_rs's passes render dictionaries with lava_rs.templates")
    args = parser.parse_args(argv)
    django.setup()
    from django.conf import settings
    from lava_scheduler_app.models import Device, TestJob
    import lava_scheduler_app.scheduler as lava_scheduler
    import lava_rs.lava_server.scheduler as rs_scheduler

    if lava_scheduler.__name__ != "lava_scheduler_app.scheduler":
        sys.exit("benchlab: lava_rs.lava_server is installed in these settings: use LAVA's own")
    with gzip.open(args.lab) as f:
        lab = json.load(f)
    tree = os.path.dirname(os.path.dirname(os.path.abspath(lava_scheduler.__file__)))
    start = time.perf_counter()
    load(lab, tree)
    loaded = time.perf_counter() - start
    before = {
        "queued": [j["id"] for j in lab["queued_jobs"]],
        "max_id": max(TestJob.objects.values_list("id", flat=True)),
        "bad": list(Device.objects.filter(health=Device.HEALTH_BAD).values_list("hostname", flat=True)),
    }
    settings.LAVA_RS_SCHEDULER_ORDER = "hostname"
    lava_times, lava_result = [], None
    for _ in range(args.lava_repeat):
        t, lava_result = one_pass(lava_scheduler.schedule, before, hostname_order=True)
        lava_times.append(t)
    if args.lava_rs_templates:
        from lava_rs.lava_server import templates

        templates.install()
    rs_times, rs_result = [], None
    for _ in range(args.repeat):
        t, result = one_pass(rs_scheduler.schedule, before, hostname_order=False)
        rs_times.append(t)
        if rs_result is not None and result != rs_result:
            sys.exit("benchlab: lava_rs's passes differ from one another")
        rs_result = result
    same = lava_result == rs_result
    summary = {
        "lab": os.path.basename(args.lab),
        "devices": len(lab["devices"]),
        "queued_jobs": len(lab["queued_jobs"]),
        "load_s": round(loaded, 2),
        "lava": {"seconds": lava_times, "jobs": len(lava_result["jobs"]),
                 "health_checks": len(lava_result["health_checks"]), "bad": len(lava_result["bad"])},
        "lava_rs": {"seconds": rs_times, "jobs": len(rs_result["jobs"]),
                    "health_checks": len(rs_result["health_checks"]), "bad": len(rs_result["bad"]),
                    "rust_passes": rs_scheduler.rust_passes},
        "lava_rs_templates": args.lava_rs_templates,
        "same_decisions": same,
        "speedup_first": min(lava_times) / rs_times[0],
        "speedup_warm": min(lava_times) / min(rs_times[1:] or rs_times),
    }
    if not same:
        summary["differences"] = {
            k: {"lava_only": sorted(set(map(tuple, lava_result[k])) - set(map(tuple, rs_result[k])))[:20]
                if k == "jobs" else sorted(set(lava_result[k]) - set(rs_result[k]))[:20],
                "lava_rs_only": sorted(set(map(tuple, rs_result[k])) - set(map(tuple, lava_result[k])))[:20]
                if k == "jobs" else sorted(set(rs_result[k]) - set(lava_result[k]))[:20]}
            for k in lava_result if lava_result[k] != rs_result[k]
        }
    print(json.dumps(summary, indent=1, default=str))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(summary, out, indent=1, default=str)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
