"""A lab with restricted devices, lava-vland jobs and a multinode group, in LAVA's models:
LAVA's schedule() and lava_rs's must decide the same (run like benchlab.py).

    python scenario.py [--json OUT]

Devices beaglebone-black bbb-01..05 on one worker; bbb-01's and bbb-02's dictionaries have
network interfaces with tags (LAVA's test dictionaries), the others none. bbb-01 may only
be used by the group "team" (a submit_to_device grant); the device type "panda" is
restricted to "team" as a whole. Jobs: bob's (not in the team) at high priority, alice's
(in the team), lava-vland jobs asking for interface tags only some devices serve, a panda
job of each, and a multinode group whose roles must be written into every sub-job.
"""

import argparse
import json
import os
import shutil
import sys

import django

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlab  # noqa: E402  (after the path)

JOB = """job_name: {name}
visibility: public
priority: {priority}
timeouts: {{job: {{minutes: 10}}}}
actions: []
{protocols}"""


def build(tree):
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from lava_scheduler_app.models import (
        Device,
        DeviceType,
        GroupDevicePermission,
        GroupDeviceTypePermission,
        TestJob,
        Worker,
    )

    os.makedirs(settings.DEVICES_PATH, exist_ok=True)
    sources = {"bbb-01": "bbb-01", "bbb-02": "bbb-02", "bbb-03": "bbb-03", "bbb-04": "bbb-03",
               "bbb-05": "bbb-03",
               "panda01": "panda01", "panda02": "panda01"}
    for hostname, source in sources.items():
        shutil.copy(os.path.join(tree, "tests", "lava_scheduler_app", "devices", source + ".jinja2"),
                    os.path.join(settings.DEVICES_PATH, hostname + ".jinja2"))
    worker = Worker.objects.create(hostname="worker-01", state=Worker.STATE_ONLINE)
    bbb = DeviceType.objects.create(name="beaglebone-black", disable_health_check=True)
    panda = DeviceType.objects.create(name="panda", disable_health_check=True)
    devices = {}
    for hostname in sources:
        devices[hostname] = Device.objects.create(
            hostname=hostname, device_type=panda if hostname.startswith("panda") else bbb,
            worker_host=worker, health=Device.HEALTH_GOOD,
        )
    team = Group.objects.create(name="team")
    alice = User.objects.create(username="alice")
    alice.groups.add(team)
    bob = User.objects.create(username="bob")
    GroupDevicePermission.objects.assign_perm("submit_to_device", team, devices["bbb-01"])
    GroupDeviceTypePermission.objects.assign_perm("submit_to_devicetype", team, panda)

    def job(name, user, dt=bbb, priority="medium", protocols="", group=None):
        return TestJob.objects.create(
            definition=JOB.format(name=name, priority=priority, protocols=protocols),
            submitter=user, requested_device_type=dt, target_group=group, is_public=True,
            priority={"high": 100, "medium": 50, "low": 0}[priority],
        )

    vland = "protocols:\n  lava-vland:\n    vlan_one: {tags: [%s]}\n"
    job("bob-vland-1G", bob, priority="high", protocols=vland % "1G")
    job("bob-high", bob, priority="high")
    job("alice-medium", alice)
    job("alice-vland-40G", alice, protocols=vland % "40G")
    job("bob-panda", bob, dt=panda, priority="high")
    job("alice-panda", alice, dt=panda)
    for role in ("server", "client"):
        job("group-" + role, alice, priority="low", group="g1", protocols=(
            "protocols:\n  lava-multinode:\n    role: %s\n    target_group: g1\n"
            "    group_size: 2\n    sub_id: 0\n" % role))
    return [j.id for j in TestJob.objects.all()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    django.setup()
    from django.conf import settings
    from lava_scheduler_app.models import Device, TestJob
    import lava_scheduler_app.scheduler as lava_scheduler
    import lava_rs.lava_server.scheduler as rs_scheduler

    if lava_scheduler.__name__ != "lava_scheduler_app.scheduler":
        sys.exit("scenario: lava_rs.lava_server is installed in these settings: use LAVA's own")
    tree = os.path.dirname(os.path.dirname(os.path.abspath(lava_scheduler.__file__)))
    queued = build(tree)
    before = {"queued": queued, "max_id": max(queued), "bad": []}
    settings.LAVA_RS_SCHEDULER_ORDER = "hostname"

    def roles_after(schedule):
        # The decisions, and the roles written into the multinode sub-jobs.
        out = {}

        def run(logger):
            schedule(logger)
            out["roles"] = sorted(
                (j.definition.split("roles:", 1)[-1].strip() if "roles:" in j.definition else "")
                for j in TestJob.objects.filter(target_group="g1")
            )
        _, decided = benchlab.one_pass(run, before, hostname_order=True)
        names = dict(TestJob.objects.values_list("id", "definition"))
        decided["jobs"] = sorted(
            (names[j].split("\n", 1)[0].split(": ", 1)[1], d, s) for j, d, s in decided["jobs"]
        )
        decided["roles"] = out["roles"]
        return decided

    lava = roles_after(lava_scheduler.schedule)
    ours = roles_after(rs_scheduler.schedule)
    summary = {"lava": lava, "lava_rs": ours, "same": lava == ours,
               "rust_passes": rs_scheduler.rust_passes}
    assert Device.objects.filter(state=Device.STATE_IDLE).count() == 7  # all rolled back
    print(json.dumps(summary, indent=1, default=str))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(summary, out, indent=1, default=str)
    return 0 if lava == ours else 1


if __name__ == "__main__":
    sys.exit(main())
