"""A drop-in for LAVA 2020.05's ``lava_scheduler_app.scheduler``, deciding in Rust.

The public functions have LAVA's names, signatures, defaults and return values:
``schedule(logger, available_dt=None)`` gives the ids of the jobs it scheduled (health
checks first), ``schedule_health_checks(logger, available_dt=None)`` gives
``(available_devices, job_ids)`` with ``available_devices`` a dict of hostname lists by
device type, ``schedule_jobs(logger, available_devices)`` the ids, and
``transition_multinode_jobs(logger)`` / ``worker_summary()`` what LAVA's do.

Each call reads LAVA's models (:mod:`~lava_rs.lava_server.snapshot`), lets
``lava_rs.scheduler`` take every decision (``schedule``, ``schedule_health_checks`` or
``schedule_jobs``: the same pass, or half of it, as LAVA's), asking ``Device.is_valid()``,
``get_health_check()`` and the device's interfaces only for the devices it uses, and writes
the decisions through LAVA's own model code in one transaction: ``_create_pipeline_job`` and
``go_state_scheduled`` for health checks, ``go_state_scheduling`` / ``go_state_scheduled``
for jobs, ``Device.log_admin_entry`` for health changes, the roles the scheduler gives into
every sub-job of a multinode group it starts. The model methods set every field; the rows
they save are written together at the end of the pass (one UPDATE per model, with Django's
``pre_save``/``post_save`` signals sent for each row as ``save()`` does), as one row at a
time is most of a pass's cost on a large lab.

Settings: ``LAVA_RS_SCHEDULER_ORDER``: ``"random"`` (default, as LAVA: free devices are
offered jobs in a new random order at each pass) or ``"hostname"`` (reproducible);
``LAVA_RS_SCHEDULER_EXPLAIN`` (default False): log, at debug level, why each queued job
that was not started waits.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connections, router, transaction
from django.db.models import Case, IntegerField, Sum, When
from django.db.models.signals import post_save, pre_save

from lava_common.compat import yaml_safe_dump, yaml_safe_load
from lava_scheduler_app.models import Device, TestJob, Worker, _create_pipeline_job

import lava_rs

from .snapshot import LabReader

__all__ = [
    "schedule",
    "schedule_health_checks",
    "schedule_jobs",
    "transition_multinode_jobs",
    "worker_summary",
    "rust_passes",
]

#: How many times ``lava_rs.scheduler`` decided in this process (tests read it).
rust_passes = 0

_reader = LabReader()


def worker_summary() -> Dict[str, Dict[str, int]]:
    """``{worker: {"max": job_limit, "busy": devices Reserved or Running}}``, as LAVA's."""
    busy = Case(
        When(device__state__in=[Device.STATE_RESERVED, Device.STATE_RUNNING], then=1),
        default=0,
        output_field=IntegerField(),
    )
    rows = Worker.objects.values("hostname", "job_limit").annotate(busy=Sum(busy))
    return {r["hostname"]: {"max": r["job_limit"], "busy": r["busy"] or 0} for r in rows}


def schedule(logger, available_dt: Optional[Iterable[str]] = None) -> List[int]:
    """One scheduling pass (health checks, then jobs, then multinode groups).

    `available_dt`: only these device types get health checks and jobs (lava-master passes
    the types its events named). Returns the ids of the jobs scheduled or started."""
    lab = _reader.read()
    calls = _reader.callables()
    decisions = _decide(
        logger,
        lava_rs.scheduler.schedule,
        lab.snapshot(),
        _seed(),
        explain=_explain(),
        device_types=_types(available_dt),
        **calls,
    )
    written = _apply(decisions, logger)
    return written.checks + written.placed + written.groups


def schedule_health_checks(
    logger, available_dt: Optional[Iterable[str]] = None
) -> Tuple[Dict[str, List[str]], List[int]]:
    """The health-check part of a pass: ``(available devices by type, health-check ids)``."""
    lab = _reader.read(with_jobs=False)
    calls = _reader.callables()
    decisions = _decide(
        logger,
        lava_rs.scheduler.schedule_health_checks,
        lab.snapshot(),
        device_types=_types(available_dt),
        is_valid=calls["is_valid"],
        health_check=calls["health_check"],
    )
    written = _apply(decisions, logger)
    refused = {c["device"] for c in decisions["health_checks"]} - written.checked
    available = {
        name: [h for h in hosts if h not in refused]
        for name, hosts in decisions["available_devices"].items()
    }
    return available, written.checks


def schedule_jobs(logger, available_devices: Dict[str, List[str]]) -> List[int]:
    """The job part of a pass, on `available_devices` (by type) only; returns the job ids."""
    written = _jobs_half(logger, available_devices)
    return written.placed + written.groups


def transition_multinode_jobs(logger) -> List[int]:
    """Starts the multinode groups whose every sub-job holds its device; returns their ids."""
    # The job half with no device offered: only its multinode step can decide anything.
    return _jobs_half(logger, {}).groups


def _jobs_half(logger, available_devices: Dict[str, List[str]]) -> "_Written":
    lab = _reader.read()
    calls = _reader.callables()
    decisions = _decide(
        logger,
        lava_rs.scheduler.schedule_jobs,
        lab.snapshot(),
        available_devices,
        _seed(),
        explain=_explain(),
        is_valid=calls["is_valid"],
        vlan_interfaces=calls["vlan_interfaces"],
    )
    return _apply(decisions, logger)


# ---------------------------------------------------------------------------- deciding
def _types(available_dt: Optional[Iterable[str]]) -> Optional[Set[str]]:
    return None if not available_dt else set(available_dt)


def _seed() -> Optional[int]:
    order = getattr(settings, "LAVA_RS_SCHEDULER_ORDER", "random")
    if order not in ("random", "hostname"):
        raise ValueError(
            "LAVA_RS_SCHEDULER_ORDER must be 'random' or 'hostname', not %r" % (order,)
        )
    # LAVA offers free devices in a new random order at each pass, so that idle devices
    # share the work; the Rust pass takes the order as a seed (None: hostname order).
    return random.getrandbits(63) if order == "random" else None


def _explain() -> bool:
    return bool(getattr(settings, "LAVA_RS_SCHEDULER_EXPLAIN", False))


def _decide(logger, function, *args: Any, **kwargs: Any) -> Dict[str, Any]:
    global rust_passes
    decisions = function(*args, **kwargs)
    rust_passes += 1
    for skipped in decisions["skipped_devices"]:
        logger.debug(
            "SKIP %s (%s): worker %s has %d jobs, its limit is %d",
            skipped["device"],
            skipped["phase"].replace("_", " "),
            skipped["worker"],
            skipped["busy"],
            skipped["job_limit"],
        )
    for group in decisions["waiting_groups"]:
        logger.debug(
            "multinode group %s waits: devices held by %s, roles waiting: %s%s",
            group["group"],
            ", ".join("%d on %s" % r for r in group["reserved"]) or "none",
            ", ".join("%d (%s)" % w for w in group["waiting"]) or "none",
            "".join("; job %d is %s" % b for b in group["blocking"]),
        )
    for waiting in decisions.get("waiting_jobs", ()):
        logger.debug("[%d] waits: %s", waiting["job"], waiting["message"])
    return decisions


# ---------------------------------------------------------------------------- writing
@dataclass
class _Written:
    """What a pass wrote, ids in decision order."""

    #: Health checks created, and the devices they run on.
    checks: List[int] = field(default_factory=list)
    checked: Set[str] = field(default_factory=set)
    #: Jobs placed on a device.
    placed: List[int] = field(default_factory=list)
    #: Sub-jobs of the multinode groups started.
    groups: List[int] = field(default_factory=list)


def _apply(decisions: Dict[str, Any], logger) -> _Written:
    """Writes the decisions with LAVA's model methods, in one transaction."""
    touched = {c["device"] for c in decisions["device_health"]}
    touched |= {c["device"] for c in decisions["health_checks"]}
    touched |= {a["device"] for a in decisions["assignments"] if a["device"]}
    written = _Written()
    if not touched and not decisions["assignments"] and not decisions["started_groups"]:
        return written
    with transaction.atomic():
        devices = {
            d.hostname: d
            for d in Device.objects.select_for_update(of=("self",))
            .select_related("device_type", "worker_host")
            .filter(hostname__in=touched)
        }
        with _Batch(devices.values()) as batch:
            for change in decisions["device_health"]:
                _device_health(devices[change["device"]], change, logger)
            _health_checks(decisions["health_checks"], devices, batch, written, logger)
            _assignments(decisions["assignments"], devices, batch, written, logger)
        for group in decisions["started_groups"]:
            written.groups.extend(_start_group(group["group"], group["roles"], logger))
    return written


class _Batch:
    """Saves of the pass's rows, written together when the batch closes.

    The Device rows of the pass get a ``save`` of their own (LAVA's methods call
    ``device.save()``), and :meth:`save` takes the jobs; closing writes each model's rows in
    one UPDATE of the fields the scheduler's transitions change, sending ``pre_save`` and
    ``post_save`` for each row as ``Model.save()`` would."""

    DEVICE_FIELDS = ("state", "health")
    JOB_FIELDS = ("state", "actual_device")

    def __init__(self, devices: Iterable[Device]) -> None:
        self.devices = list(devices)
        self.saved_devices: Dict[str, Device] = {}
        self.saved_jobs: Dict[int, TestJob] = {}

    def __enter__(self) -> "_Batch":
        for device in self.devices:
            device.save = functools.partial(self._save_device, device)
        return self

    def _save_device(self, device: Device, *args: Any, **kwargs: Any) -> None:
        self.saved_devices[device.hostname] = device

    def save(self, job: TestJob) -> None:
        self.saved_jobs[job.id] = job

    def __exit__(self, kind, value, traceback) -> None:
        for device in self.devices:
            del device.save
        if kind is None:
            _write(Device, list(self.saved_devices.values()), self.DEVICE_FIELDS)
            _write(TestJob, list(self.saved_jobs.values()), self.JOB_FIELDS)


def _write(model, rows: List[Any], fields: Tuple[str, ...]) -> None:
    if not rows:
        return
    using = router.db_for_write(model)
    update_fields = frozenset(fields)
    for row in rows:
        pre_save.send(sender=model, instance=row, raw=False, using=using, update_fields=update_fields)
    if connections[using].vendor == "postgresql":
        _update_from_values(model, rows, fields, using)
    else:
        model.objects.using(using).bulk_update(rows, list(fields), batch_size=500)
    for row in rows:
        post_save.send(
            sender=model, instance=row, created=False, update_fields=update_fields, raw=False,
            using=using,
        )


def _device_health(device: Device, change: Dict[str, Any], logger) -> None:
    previous = device.get_health_display()
    device.health = Device.HEALTH_BAD
    message = "%s → %s (%s)" % (previous, device.get_health_display(), change["reason"])
    device.log_admin_entry(None, message)
    device.save()
    detail = change.get("detail")
    logger.info("%s: %s%s", device.hostname, message, ": %s" % detail if detail else "")


def _unchanged(device: Device, logger) -> bool:
    """Whether the device is still Idle, as the pass saw it (LAVA's methods require it)."""
    if device.state == Device.STATE_IDLE:
        return True
    logger.warning(
        "%s is %s now, not Idle as when the pass read it: decision skipped",
        device.hostname,
        device.get_state_display(),
    )
    return False


def _update_from_values(model, rows: List[Any], fields: Tuple[str, ...], using: str) -> None:
    """``UPDATE ... FROM (VALUES ...)``: what Django's bulk_update does, in one plain
    statement per 1,000 rows (bulk_update's CASE expressions cost more than the pass)."""
    meta = model._meta
    pk = meta.pk
    columns = [meta.get_field(f) for f in fields]
    connection = connections[using]
    quote = connection.ops.quote_name
    # Typed first row, so that PostgreSQL knows the VALUES' column types (NULLs included).
    casts = [pk.rel_db_type(connection)] + [c.db_type(connection) for c in columns]
    names = ["pk"] + ["c%d" % i for i in range(len(columns))]
    assignments = ", ".join(
        "%s = v.%s" % (quote(c.column), n) for c, n in zip(columns, names[1:])
    )
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 1000):
            chunk = rows[start : start + 1000]
            first = "(" + ", ".join("%%s::%s" % cast for cast in casts) + ")"
            rest = "(" + ", ".join(["%s"] * len(casts)) + ")"
            values = ", ".join([first] + [rest] * (len(chunk) - 1))
            params: List[Any] = []
            for row in chunk:
                params.append(pk.get_db_prep_value(row.pk, connection))
                for c in columns:
                    params.append(c.get_db_prep_value(getattr(row, c.attname), connection))
            cursor.execute(
                "UPDATE %s SET %s FROM (VALUES %s) AS v(%s) WHERE %s.%s = v.pk"
                % (
                    quote(meta.db_table),
                    assignments,
                    values,
                    ", ".join(names),
                    quote(meta.db_table),
                    quote(pk.column),
                ),
                params,
            )


def _health_checks(
    checks: List[Dict[str, str]],
    devices: Dict[str, Device],
    batch: _Batch,
    written: _Written,
    logger,
) -> None:
    if not checks:
        return
    logger.info("lava-rs: %d health check(s) to schedule", len(checks))
    health = User.objects.get(username="lava-health")
    for check in checks:
        device = devices[check["device"]]
        if not _unchanged(device, logger):
            continue
        logger.debug("  %s: health check (%s)", device.hostname, check["reason"])
        definition = check["definition"]
        try:
            with transaction.atomic():
                job = _create_pipeline_job(
                    yaml_safe_load(definition),
                    health,
                    [],
                    device=device,
                    device_type=device.device_type,
                    orig=definition,
                    health_check=True,
                )
                job.go_state_scheduled(device)
                batch.save(job)
        except Exception as exc:
            # lava_rs already sent to Bad the devices whose definition LAVA would refuse
            # (health_check_problem); should LAVA's own job creation still refuse one (any
            # error, as LAVA catches them all here), the device goes Bad as in LAVA.
            logger.error("  %s: invalid health check: %s", device.hostname, exc)
            device.refresh_from_db()
            previous = device.get_health_display()
            device.health = Device.HEALTH_BAD
            device.log_admin_entry(
                None, "%s → %s (Invalid health check)" % (previous, device.get_health_display())
            )
            device.save()
            continue
        written.checks.append(job.id)
        written.checked.add(device.hostname)


def _assignments(
    assignments: List[Dict[str, Any]],
    devices: Dict[str, Device],
    batch: _Batch,
    written: _Written,
    logger,
) -> None:
    """Places the jobs on their devices (the groups they complete start afterwards)."""
    if not assignments:
        return
    jobs = TestJob.objects.select_for_update(of=("self",)).in_bulk(
        [a["job"] for a in assignments]
    )
    for a in assignments:
        job = jobs.get(a["job"])
        if job is None:
            logger.warning("job %d was deleted during the pass: not scheduled", a["job"])
            continue
        if a["device"] and job.actual_device_id is None:
            device = devices[a["device"]]
            if not _unchanged(device, logger):
                continue
            logger.debug("  %s: job %d", device.hostname, job.id)
            if job.is_multinode:
                job.go_state_scheduling(device)
            else:
                job.go_state_scheduled(device)
            batch.save(job)
            written.placed.append(job.id)


def _start_group(group: str, roles: Dict[str, str], logger) -> List[int]:
    """Schedules every sub-job of a complete multinode group, with the group's roles
    (``{str(job id): role}``, written into each sub-job's definition for the dispatcher)."""
    sub_jobs = list(
        TestJob.objects.select_for_update(of=("self",)).filter(target_group=group).order_by("id")
    )
    if not all(j.state == TestJob.STATE_SCHEDULING or j.dynamic_connection for j in sub_jobs):
        # A write of this pass was skipped (a device changed meanwhile): wait for the next.
        logger.warning("multinode group %s is no longer complete: not started", group)
        return []
    logger.debug("multinode group %s: starting %d sub-jobs", group, len(sub_jobs))
    started = []
    for job in sub_jobs:
        definition = yaml_safe_load(job.definition)
        definition["protocols"]["lava-multinode"]["roles"] = dict(roles)
        job.definition = yaml_safe_dump(definition)
        job.go_state_scheduled()
        job.save()
        started.append(job.id)
    return started
