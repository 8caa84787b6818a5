"""Reading LAVA's models into the snapshot that ``lava_rs.scheduler.schedule`` takes.

Rows are read with ``values_list`` (a handful of queries per pass, whatever the lab's
size) and handed over as plain dicts with LAVA's database codes, which the Rust side reads
as they are.

Some of LAVA's rules cannot be said with the current ``lava_rs.scheduler`` API (issue 17);
until the scheduler helper's API lands, this module states them in the terms the API has,
each marked ``GAP n``:

* GAP 2: one health-check definition per device type (LAVA: per device, from the
  dictionary's ``extends``). The definition of a type is its free devices' definition; when
  they differ, the most common one is used and a warning names the devices.
* GAP 3 and GAP 4: ``Device.can_submit(submitter)`` and lava-vland's
  ``match_vlan_interface`` are expressed as tags: a job gets a tag only the devices that
  may take it carry (names with a colon, which LAVA's tag names, slugs, never have).
* GAP 7: validity of the free devices' dictionaries is worked out up front (LAVA asks
  lazily); :mod:`~lava_rs.lava_server.dictionaries` keeps the answers while files stay.
* GAP 8: model instances are not passed; rows are read as values (faster anyway).
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass, field

import yaml
from typing import Any, Dict, Iterable, List, Optional, Set

from django.contrib.auth.models import User
from django.db.models import Count, F
from django.utils import timezone

from lava_common.compat import yaml_safe_load
from lava_scheduler_app.dbutils import match_vlan_interface
from lava_scheduler_app.models import (
    Device,
    DeviceType,
    GroupDevicePermission,
    GroupDeviceTypePermission,
    TestJob,
    Worker,
)

from .dictionaries import DictionaryMemo

logger = logging.getLogger("lava_rs.lava_server")

QUEUED = (TestJob.STATE_SUBMITTED, TestJob.STATE_SCHEDULING)
#: Device healths that may run a health check (Looping runs nothing else).
HC_HEALTHS = (Device.HEALTH_GOOD, Device.HEALTH_UNKNOWN, Device.HEALTH_LOOPING)
#: Device healths that may run jobs.
JOB_HEALTHS = (Device.HEALTH_GOOD, Device.HEALTH_UNKNOWN)

_JOB_FIELDS = (
    "id",
    "submitter__username",
    "state",
    "priority",
    "submit_time",
    "requested_device_type_id",
    "target_group",
    "health_check",
    "actual_device_id",
)


@dataclass
class Lab:
    """One pass's view of LAVA's models, in the form ``lava_rs.scheduler`` reads."""

    now: Any
    device_types: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    devices: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    workers: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    jobs: Dict[int, Dict[str, Any]] = field(default_factory=dict)
    last_health_checks: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    valid_dictionaries: List[str] = field(default_factory=list)
    #: Free devices (Idle, worker Online, health Good/Unknown/Looping) of scheduled types.
    free: List[str] = field(default_factory=list)

    def snapshot(self) -> Dict[str, Any]:
        """The argument of ``lava_rs.scheduler.schedule``."""
        return {
            "device_types": list(self.device_types.values()),
            "devices": list(self.devices.values()),
            "workers": list(self.workers.values()),
            "jobs": list(self.jobs.values()),
            "last_health_checks": self.last_health_checks,
            "valid_dictionaries": self.valid_dictionaries,
            "now": self.now,
        }

    def worker_online(self, hostname: str) -> bool:
        worker = self.devices[hostname]["worker"]
        # .get: a worker (or type) created after it was read is not in this pass.
        row = self.workers.get(worker)
        return row is not None and row["state"] == Worker.STATE_ONLINE


class LabReader:
    """Reads a :class:`Lab`; keeps what never changes between passes (roles, validity)."""

    def __init__(self) -> None:
        self.dictionaries = DictionaryMemo()
        # A sub-job's role never changes once submitted: parse each definition once.
        self._roles: Dict[int, str] = {}
        self._instances: Dict[str, Device] = {}

    # ------------------------------------------------------------------ the pass's input
    def read(self, scheduled_types: Optional[Set[str]], with_jobs: bool = True) -> Lab:
        """The lab; only `scheduled_types` (None: every displayed type) get health checks
        and jobs, the others only count for their workers' job limits."""
        lab = Lab(now=timezone.now())
        self._instances = {}
        self.dictionaries.refresh()
        self._device_types(lab, scheduled_types)
        self._workers(lab)
        self._devices(lab)
        if with_jobs:
            self._jobs(lab)
        lab.free = sorted(
            h
            for h, d in lab.devices.items()
            if d["state"] == Device.STATE_IDLE
            and d["health"] in HC_HEALTHS
            and lab.device_types.get(d["device_type"], {}).get("display")
            and lab.worker_online(h)
        )
        lab.valid_dictionaries = self.dictionaries.valid(lab.free, self.instance)
        self._health_checks(lab)
        if with_jobs:
            self._permissions(lab)
            self._vland(lab)
        return lab

    def instance(self, hostname: str) -> Device:
        """The Device row, for LAVA's methods that need one (loaded lazily)."""
        if hostname not in self._instances:
            self.load_instances([hostname])
        return self._instances[hostname]

    def load_instances(self, hostnames: Iterable[str]) -> None:
        """Loads the Device rows of `hostnames` not loaded yet, in one query."""
        missing = [h for h in hostnames if h not in self._instances]
        if missing:
            query = Device.objects.select_related("device_type", "worker_host")
            self._instances.update((d.hostname, d) for d in query.filter(hostname__in=missing))

    def _device_types(self, lab: Lab, scheduled: Optional[Set[str]]) -> None:
        rows = DeviceType.objects.values_list(
            "name", "health_frequency", "health_denominator", "disable_health_check", "display"
        )
        for name, frequency, denominator, disabled, display in rows:
            lab.device_types[name] = {
                "name": name,
                "health_frequency": frequency,
                "health_denominator": denominator,
                "disable_health_check": disabled,
                # Types left out of this pass are hidden from it: no health check, no job.
                "display": display and (scheduled is None or name in scheduled),
                "health_check_definition": None,
            }

    def _workers(self, lab: Lab) -> None:
        for hostname, state, health, limit in Worker.objects.values_list(
            "hostname", "state", "health", "job_limit"
        ):
            lab.workers[hostname] = {
                "hostname": hostname,
                "state": state,
                "health": health,
                "job_limit": limit,
            }

    def _devices(self, lab: Lab) -> None:
        rows = Device.objects.values_list(
            "hostname",
            "device_type_id",
            "state",
            "health",
            "worker_host_id",
            "last_health_report_job_id",
            "last_health_report_job__submit_time",
        )
        per_job_types = {
            name
            for name, t in lab.device_types.items()
            if t["health_denominator"] == DeviceType.HEALTH_PER_JOB
        }
        for hostname, dt, state, health, worker, last_job, last_submit in rows:
            lab.devices[hostname] = {
                "hostname": hostname,
                "device_type": dt,
                "state": state,
                "health": health,
                "worker": worker,
                "tags": [],
                "last_health_report_job": last_job,
            }
            if last_job is not None and last_submit is not None:
                lab.last_health_checks[hostname] = {
                    "job": last_job,
                    "submit_time": last_submit,
                    "jobs_since": 0,
                }
        for hostname, tag in Device.tags.through.objects.values_list("device_id", "tag__name"):
            # .get here and below: rows added between two queries wait for the next pass.
            device = lab.devices.get(hostname)
            if device is not None:
                device["tags"].append(tag)
        if per_job_types:
            # Jobs started since the last health check was submitted (health frequency in jobs).
            since = (
                TestJob.objects.filter(
                    health_check=False,
                    actual_device__device_type__in=per_job_types,
                    actual_device__last_health_report_job__isnull=False,
                    start_time__gte=F("actual_device__last_health_report_job__submit_time"),
                )
                .values_list("actual_device_id")
                .annotate(n=Count("id"))
            )
            for hostname, n in since:
                if hostname in lab.last_health_checks:
                    lab.last_health_checks[hostname]["jobs_since"] = n

    def _jobs(self, lab: Lab) -> None:
        queued = TestJob.objects.filter(state__in=QUEUED)
        for row in queued.values_list(*_JOB_FIELDS):
            self._add_job(lab, row)
        # Every sub-job of a queued group, whatever its state: a group is judged on all
        # of them (one already Finished means the group never starts, as in LAVA).
        groups = {j["multinode"]["group"] for j in lab.jobs.values() if j["multinode"]}
        if groups:
            others = TestJob.objects.filter(target_group__in=groups).exclude(state__in=QUEUED)
            for row in others.values_list(*_JOB_FIELDS):
                self._add_job(lab, row)
        tags = TestJob.tags.through.objects.filter(testjob__state__in=QUEUED)
        for job_id, tag in tags.values_list("testjob_id", "tag__name"):
            job = lab.jobs.get(job_id)
            if job is not None:
                job["tags"].append(tag)
        self._multinode_roles(lab)

    @staticmethod
    def _add_job(lab: Lab, row: Iterable[Any]) -> None:
        (job_id, submitter, state, priority, submit_time, dt, group, hc, device) = row
        lab.jobs[job_id] = {
            "id": job_id,
            "submitter": submitter,
            "state": state,
            "priority": priority,
            "submit_time": submit_time,
            "requested_device_type": dt,
            "tags": [],
            "multinode": {"group": group, "role": ""} if group else None,
            "health_check": hc,
            "actual_device": device,
        }

    def _multinode_roles(self, lab: Lab) -> None:
        wanted = [i for i, j in lab.jobs.items() if j["multinode"] and i not in self._roles]
        for start in range(0, len(wanted), 500):
            rows = TestJob.objects.filter(id__in=wanted[start : start + 500]).values_list(
                "id", "definition"
            )
            for job_id, definition in rows:
                self._roles[job_id] = _role_of(definition)
        for job_id, job in lab.jobs.items():
            if job["multinode"]:
                job["multinode"]["role"] = self._roles.get(job_id, "")

    def _health_checks(self, lab: Lab) -> None:
        """GAP 2: the type's definition from its free devices' (LAVA: per device)."""
        by_type: Dict[str, Dict[Optional[str], List[str]]] = collections.defaultdict(
            lambda: collections.defaultdict(list)
        )
        for hostname in lab.free:
            dt = lab.devices[hostname]["device_type"]
            if lab.device_types[dt]["disable_health_check"]:
                continue
            definition = self.dictionaries.health_check(hostname, self.instance)
            by_type[dt][definition].append(hostname)
        for dt, definitions in by_type.items():
            ranked = sorted(definitions.items(), key=lambda kv: (kv[0] is None, -len(kv[1])))
            lab.device_types[dt]["health_check_definition"] = ranked[0][0]
            if len(definitions) > 1:
                logger.warning(
                    "device type %s: its devices have different health checks; lava_rs "
                    "uses one per type until per-device health checks land (issue 17, "
                    "gap 2): %s",
                    dt,
                    "; ".join(
                        "%s: %s" % (", ".join(h), "none" if d is None else "%d chars" % len(d))
                        for d, h in ranked
                    ),
                )

    def _permissions(self, lab: Lab) -> None:
        """GAP 3: ``Device.can_submit(submitter)``, as tags on restricted devices' types."""
        devices = set(
            GroupDevicePermission.objects.filter(
                permission__codename="submit_to_device"
            ).values_list("device_id", flat=True)
        )
        types = set(
            GroupDeviceTypePermission.objects.filter(
                permission__codename="submit_to_devicetype"
            ).values_list("devicetype_id", flat=True)
        )
        restricted_types = types | {lab.devices[h]["device_type"] for h in devices if h in lab.devices}
        if not restricted_types:
            return
        submitters: Dict[str, Set[str]] = collections.defaultdict(set)
        for job in lab.jobs.values():
            dt = job["requested_device_type"]
            if job["state"] == TestJob.STATE_SUBMITTED and dt in restricted_types:
                submitters[dt].add(job["submitter"])
                job["tags"].append(_submitter_tag(job["submitter"]))
        users = {
            u.username: u
            for u in User.objects.filter(
                username__in=set().union(*submitters.values()) if submitters else ()
            )
        }
        self.load_instances(h for h in lab.free if lab.devices[h]["device_type"] in submitters)
        for hostname in lab.free:
            dt = lab.devices[hostname]["device_type"]
            for username in submitters.get(dt, ()):
                user = users.get(username)
                if user is not None and self.instance(hostname).can_submit(user):
                    lab.devices[hostname]["tags"].append(_submitter_tag(username))

    def _vland(self, lab: Lab) -> None:
        """GAP 4: lava-vland's ``match_vlan_interface``, as one tag per vland job."""
        candidates = TestJob.objects.filter(
            state=TestJob.STATE_SUBMITTED, definition__contains="lava-vland"
        ).values_list("id", "definition")
        for job_id, definition in candidates:
            job = lab.jobs.get(job_id)
            if job is None:
                continue
            try:
                job_dict = yaml_safe_load(definition)
            except yaml.YAMLError:
                # As in LAVA, where this job's definition makes the pass fail: here the
                # job is kept off every device instead, and the admin is told.
                logger.error("job %d: its definition is not YAML: it cannot be scheduled", job_id)
                job["tags"].append("lava-rs:unschedulable")
                continue
            if not isinstance(job_dict, dict) or "lava-vland" not in (job_dict.get("protocols") or {}):
                continue
            tag = "lava-rs:vland:%d" % job_id
            job["tags"].append(tag)
            dt = job["requested_device_type"]
            self.load_instances(h for h in lab.free if lab.devices[h]["device_type"] == dt)
            for hostname in lab.free:
                if lab.devices[hostname]["device_type"] == dt and match_vlan_interface(
                    self.instance(hostname), job_dict
                ):
                    lab.devices[hostname]["tags"].append(tag)


def _submitter_tag(username: str) -> str:
    return "lava-rs:submitter:" + username


def _role_of(definition: str) -> str:
    try:
        data = yaml_safe_load(definition) or {}
    except yaml.YAMLError as exc:
        # The role only names the sub-job in the scheduler's report of waiting groups.
        logger.warning("cannot read the multinode role of a job: %s", exc)
        return ""
    try:
        return str(data["protocols"]["lava-multinode"]["role"])
    except (KeyError, TypeError):
        return ""
