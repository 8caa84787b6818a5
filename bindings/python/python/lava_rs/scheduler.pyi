"""One pass of LAVA's scheduler over a lab snapshot given as plain Python data."""

from typing import Any, List, Optional, Tuple, TypedDict

class Assignment(TypedDict):
    job: int
    device: Optional[str]
    state: str

class HealthCheck(TypedDict):
    device: str
    device_type: str
    definition: str
    reason: str

DeviceHealthChange = TypedDict(
    "DeviceHealthChange", {"device": str, "from": str, "to": str, "reason": str}
)

class WaitingGroup(TypedDict):
    group: str
    reserved: List[Tuple[int, str]]
    waiting: List[Tuple[int, str]]

class Decisions(TypedDict):
    assignments: List[Assignment]
    health_checks: List[HealthCheck]
    device_health: List[DeviceHealthChange]
    waiting_groups: List[WaitingGroup]

def schedule(snapshot: Any, seed: Optional[int] = None) -> Decisions:
    """One scheduling pass; items are dicts or objects with the model's field names.

    Raises lava_rs.SchedulerError naming the field at fault."""
