"""Reading LAVA's models into the snapshot that ``lava_rs.scheduler`` takes.

Rows are read with ``values_list`` (a handful of queries per pass, whatever the lab's size)
and handed over as plain dicts with LAVA's database codes, which the Rust side reads as they
are; model instances would work too (the API reads them), at the cost of building them.
What LAVA asks of device dictionaries (``Device.is_valid()``, ``get_health_check()``, the
interfaces of ``load_configuration()``) is handed over as callables, which the pass calls
only for the devices it uses, as LAVA does; :class:`LabReader` answers them through a
:class:`~lava_rs.lava_server.dictionaries.DictionaryMemo`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Set

import yaml
from django.contrib.auth.models import User
from django.db.models import Count, F
from django.utils import timezone

from lava_common.compat import yaml_safe_load
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

#: The object permissions the scheduler reads (LAVA's can_submit / can_view / can_change);
#: grants of other codenames (Django's add_/delete_) do not matter to it.
PERMISSIONS = (
    "view_device",
    "submit_to_device",
    "change_device",
    "view_devicetype",
    "submit_to_devicetype",
    "change_devicetype",
)

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
    permissions: Optional[Dict[str, Any]] = None

    def snapshot(self) -> Dict[str, Any]:
        """The argument of ``lava_rs.scheduler``'s functions."""
        out = {
            "device_types": list(self.device_types.values()),
            "devices": list(self.devices.values()),
            "workers": list(self.workers.values()),
            "jobs": list(self.jobs.values()),
            "last_health_checks": self.last_health_checks,
            "now": self.now,
        }
        if self.permissions is not None:
            out["permissions"] = self.permissions
        return out


class LabReader:
    """Reads a :class:`Lab`, and answers the pass's questions about dictionaries."""

    def __init__(self) -> None:
        self.dictionaries = DictionaryMemo()
        # A sub-job's role never changes once submitted: parse each definition once.
        self._roles: Dict[int, str] = {}
        self._instances: Dict[str, Device] = {}

    # ------------------------------------------------------------------ the pass's input
    def read(self, with_jobs: bool = True) -> Lab:
        """The lab (without queued jobs for the health-check half)."""
        lab = Lab(now=timezone.now())
        self._instances = {}
        self.dictionaries.refresh()
        self._device_types(lab)
        self._workers(lab)
        self._devices(lab)
        if with_jobs:
            self._jobs(lab)
            lab.permissions = self._permissions(lab)
        return lab

    def callables(self) -> Dict[str, Callable[[Dict[str, Any]], Any]]:
        """``is_valid``, ``health_check``, ``vlan_interfaces`` for the pass (device items)."""
        return {
            "is_valid": lambda d: self.dictionaries.is_valid(d["hostname"], self.instance),
            "health_check": lambda d: self.dictionaries.health_check(d["hostname"], self.instance),
            "vlan_interfaces": lambda d: _interfaces(self.instance(d["hostname"])),
        }

    def instance(self, hostname: str) -> Device:
        """The Device row, for LAVA's methods that need one (loaded lazily)."""
        if hostname not in self._instances:
            query = Device.objects.select_related("device_type", "worker_host")
            self._instances[hostname] = query.get(hostname=hostname)
        return self._instances[hostname]

    def _device_types(self, lab: Lab) -> None:
        rows = DeviceType.objects.values_list(
            "name", "health_frequency", "health_denominator", "disable_health_check", "display"
        )
        for name, frequency, denominator, disabled, display in rows:
            lab.device_types[name] = {
                "name": name,
                "health_frequency": frequency,
                "health_denominator": denominator,
                "disable_health_check": disabled,
                "display": display,
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
        for hostname, dt, state, health, worker, last_job, last_submit in rows:
            lab.devices[hostname] = {
                "hostname": hostname,
                "device_type": dt,
                "state": state,
                "health": health,
                # A worker created after the workers were read waits for the next pass.
                "worker": worker if worker in lab.workers else None,
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
        per_job_types = [
            name
            for name, t in lab.device_types.items()
            if t["health_denominator"] == DeviceType.HEALTH_PER_JOB
        ]
        if per_job_types:
            # Jobs started since the last health check was submitted (frequency in jobs).
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
            _add_job(lab, row)
        # Every sub-job of a queued group, whatever its state: a group is judged on all
        # of them (one already Finished means the group never starts, as in LAVA).
        groups = {j["multinode"]["group"] for j in lab.jobs.values() if j["multinode"]}
        if groups:
            others = TestJob.objects.filter(target_group__in=groups).exclude(state__in=QUEUED)
            for row in others.values_list(*_JOB_FIELDS):
                _add_job(lab, row)
        tags = TestJob.tags.through.objects.filter(testjob__state__in=QUEUED)
        for job_id, tag in tags.values_list("testjob_id", "tag__name"):
            job = lab.jobs.get(job_id)
            if job is not None:
                job["tags"].append(tag)
        # Only lava-vland jobs need their definition (the API reads their VLANs from it).
        vland = TestJob.objects.filter(
            state=TestJob.STATE_SUBMITTED, definition__contains="lava-vland"
        ).values_list("id", "definition")
        for job_id, definition in vland:
            job = lab.jobs.get(job_id)
            if job is not None:
                job["definition"] = definition
        self._multinode_roles(lab)

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

    def _permissions(self, lab: Lab) -> Optional[Dict[str, Any]]:
        """LAVA's group grants on devices and device types, and the submitters' access;
        None when nothing is restricted (every user may submit everywhere)."""
        grants: Dict[str, Dict[str, List[Any]]] = {"devices": {}, "device_types": {}}
        sources = (
            ("devices", GroupDevicePermission, "device_id", "_device"),
            ("device_types", GroupDeviceTypePermission, "devicetype_id", "_devicetype"),
        )
        for key, model, target, suffix in sources:
            rows = model.objects.filter(
                permission__codename__in=[p for p in PERMISSIONS if p.endswith(suffix)]
            ).values_list(target, "group__name", "permission__codename")
            for name, group, codename in rows:
                grants[key].setdefault(name, []).append((group, codename))
        if not grants["devices"] and not grants["device_types"]:
            return None
        submitters: Set[str] = {j["submitter"] for j in lab.jobs.values() if j["submitter"]}
        users = {}
        for user in User.objects.filter(username__in=submitters).prefetch_related("groups"):
            users[user.username] = {
                "groups": [g.name for g in user.groups.all()],
                "is_superuser": user.is_superuser,
                "is_active": user.is_active,
                "permissions": sorted(user.get_all_permissions()),
            }
        return {"users": users, **grants}


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


def _interfaces(device: Device) -> Optional[Dict[str, Any]]:
    """What LAVA's ``match_vlan_interface`` reads: the rendered ``parameters.interfaces``."""
    configuration = device.load_configuration()
    if not isinstance(configuration, dict):
        return None
    return (configuration.get("parameters") or {}).get("interfaces")


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

