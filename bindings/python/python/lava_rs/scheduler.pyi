"""LAVA 2020.05's scheduling pass (or either half) over a lab snapshot.

The snapshot is a dict (or an object with attributes) with these keys; every item may be
a dict, an object with the model's attribute names (a dataclass), or LAVA's own Django
model instance, read as it is:

- ``device_types``: ``name``, ``health_frequency`` (24), ``health_denominator`` ("hours"
  or "jobs", or 0/1), ``disable_health_check``, ``display``, and optionally
  ``health_check_definition`` (a type-wide health check, used for devices missing from
  ``health_checks``).
- ``devices``: ``hostname``, ``device_type`` (a name or a ``DeviceType``), ``state``,
  ``health``, ``worker`` or ``worker_host`` (a hostname or a ``Worker``), ``tags`` (names,
  ``Tag`` objects or a related manager), ``last_health_report_job`` (an id or a
  ``TestJob``).
- ``workers``: ``hostname``, ``state``, ``health``, ``job_limit`` (0: none).
- ``jobs``: every Submitted and Scheduling job, and every sub-job (whatever its state) of
  their multinode groups: ``id`` (or ``pk``), ``submitter`` (a username or a ``User``),
  ``definition``, ``state``, ``priority``, ``submit_time``, ``requested_device_type`` (a
  name, a ``DeviceType`` or None), ``tags``, ``actual_device`` (a hostname, a ``Device``
  or None), ``health_check``, and the multinode group as ``multinode`` ({"group",
  "role"}) or LAVA's ``target_group`` (the role is then read from the definition's
  ``protocols.lava-multinode.role``).
- ``now``: float seconds since the epoch or a datetime.
- optional ``last_health_checks``: {hostname: {"job", "submit_time", "jobs_since"}} (the
  non-health-check jobs started on the device since that check's submit time).
- optional ``valid_dictionaries``: hostnames whose dictionary renders (default: every
  device; ignored for devices when ``is_valid`` is given).
- optional ``legacy_jobs``: ids of legacy JSON jobs (never scheduled).
- optional ``health_checks``: {hostname: definition or None}: each device's own health
  check (LAVA's ``Device.get_health_check()``); None: the device has none.
- optional ``permissions``: {"users": {username: {"groups": [...], "is_superuser",
  "is_active", "permissions": ["lava_scheduler_app.submit_to_device", ...]}}, "devices":
  {hostname: [(group, codename)]}, "device_types": {name: [(group, codename)]}}. A user may
  be a Django ``User`` (groups manager, ``get_all_permissions()``); a grant may be LAVA's
  ``GroupDevicePermission``/``GroupDeviceTypePermission`` row (``device.permissions.all()``)
  or {"group", "permission"}. Codenames: ``view_device``, ``submit_to_device``,
  ``change_device`` and their ``_devicetype`` forms. Users not listed are plain active
  users in no group.
- optional ``vlan_requests``: {job id: {vlan name: {"tags": [...]}}} (the shape of
  ``protocols.lava-vland``); jobs not listed are read from their definition.
- optional ``vlan_interfaces``: {hostname: {interface: {"tags": [...]}}} (the shape of a
  device's ``parameters.interfaces``), or use the ``vlan_interfaces`` callable.

Each callable takes a device item as the snapshot gave it (e.g. a Django ``Device``):
``is_valid(device) -> bool``, ``health_check(device) -> str | None``,
``vlan_interfaces(device) -> {interface: {"tags": [...]}} | None``. They are called only
for the devices the pass uses, at most once each per pass, and replace the snapshot's
``valid_dictionaries``, ``health_checks`` (and the types' definitions) and
``vlan_interfaces`` respectively.
"""

from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, TypedDict

class Assignment(TypedDict):
    job: int
    device: Optional[str]
    state: str  # "Scheduled", or "Scheduling" for a sub-job of an incomplete group

class HealthCheck(TypedDict):
    device: str
    device_type: str
    definition: str
    reason: str

DeviceHealthChange = TypedDict(
    "DeviceHealthChange",
    {
        "device": str,
        "from": str,
        "to": str,
        # "Invalid device configuration" or "Invalid health check", LAVA's words.
        "reason": str,
        "detail": Optional[str],
    },
)

class WaitingGroup(TypedDict):
    group: str
    reserved: List[Tuple[int, str]]  # (job, device)
    waiting: List[Tuple[int, str]]  # (job, role)
    blocking: List[Tuple[int, str]]  # (job, state): sub-jobs gone, e.g. Finished

class StartedGroup(TypedDict):
    group: str
    # {str(job id): role}: what LAVA writes into protocols.lava-multinode.roles of every
    # sub-job of the group.
    roles: Dict[str, str]

class SkippedDevice(TypedDict):
    device: str
    worker: str
    busy: int
    job_limit: int
    phase: str  # "health_checks" or "jobs"

class WaitingJob(TypedDict, total=False):
    job: int
    # One of: "legacy_json", "no_device", "device_type_hidden", "no_device_with_tags",
    # "not_allowed", "no_vlan_interfaces", "all_devices_busy", "workers_unavailable",
    # "devices_not_good", "not_offered", "multinode_group_incomplete",
    # "multinode_group_cannot_start" (only with lava-rs' bound, never from this binding).
    reason: str
    message: str  # the reason in words, for people
    device_type: str
    tags: List[str]  # no_device_with_tags
    submitter: str  # not_allowed
    devices: int  # not_allowed, no_vlan_interfaces
    busy: int  # all_devices_busy
    position: int  # all_devices_busy: place in the type's queue, from 1
    higher_priority_ahead: int  # all_devices_busy
    offline: int  # workers_unavailable
    at_job_limit: int  # workers_unavailable
    health: Dict[str, int]  # devices_not_good: {"Bad": 2, ...}
    free: int  # not_offered
    group: str  # multinode_group_incomplete
    waiting_roles: List[str]  # multinode_group_incomplete
    blocking: List[Tuple[int, str]]  # multinode_group_incomplete
    why: str  # multinode_group_cannot_start

class Decisions(TypedDict):
    assignments: List[Assignment]
    health_checks: List[HealthCheck]
    device_health: List[DeviceHealthChange]
    waiting_groups: List[WaitingGroup]
    started_groups: List[StartedGroup]
    # Sub-jobs giving their device back ({job, device, group, reason}): lava-rs' bound on
    # waiting groups, off in this binding (LAVA's behaviour), so always empty here.
    released: List[Dict[str, Any]]
    # LAVA's schedule_health_checks() first value: {device type: [hostnames]}.
    available_devices: Dict[str, List[str]]
    skipped_devices: List[SkippedDevice]
    # Queued jobs not started: by device type, in queue order, then the others.
    waiting_jobs: List[WaitingJob]

def schedule(
    snapshot: Any,
    seed: Optional[int] = None,
    *,
    explain: bool = True,
    device_types: Optional[Iterable[str]] = None,
    is_valid: Optional[Callable[[Any], bool]] = None,
    health_check: Optional[Callable[[Any], Optional[str]]] = None,
    vlan_interfaces: Optional[Callable[[Any], Any]] = None,
) -> Decisions:
    """One pass (LAVA's ``schedule(logger, available_dt)``): health checks, jobs,
    multinode groups, and with ``explain`` a reason per queued job not started.

    ``seed`` None offers free devices in hostname order, an int shuffles them.
    ``device_types`` is LAVA's ``available_dt``. Raises lava_rs.SchedulerError naming the
    field at fault, or the exception a callable raised."""

def schedule_health_checks(
    snapshot: Any,
    *,
    device_types: Optional[Iterable[str]] = None,
    is_valid: Optional[Callable[[Any], bool]] = None,
    health_check: Optional[Callable[[Any], Optional[str]]] = None,
) -> Decisions:
    """The health-check half (LAVA's ``schedule_health_checks``): ``health_checks``,
    ``device_health``, ``skipped_devices`` and ``available_devices`` are filled."""

def schedule_jobs(
    snapshot: Any,
    available_devices: Dict[str, List[str]],
    seed: Optional[int] = None,
    *,
    explain: bool = True,
    is_valid: Optional[Callable[[Any], bool]] = None,
    vlan_interfaces: Optional[Callable[[Any], Any]] = None,
) -> Decisions:
    """The job half (LAVA's ``schedule_jobs(logger, available_devices)``): only the listed
    devices are offered jobs; then multinode groups start."""

def health_check_problem(definition: str) -> Optional[str]:
    """Why LAVA could not create a health-check job from ``definition`` (the device then
    goes Bad, "Invalid health check"), or None."""
