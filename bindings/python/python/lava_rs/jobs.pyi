"""Job definitions: LAVA 2020.05's submission verdict with dispatcher-side warnings, and multinode splitting."""

from typing import Any, Dict, List, Optional, TypedDict, Union

class Role(TypedDict):
    name: str
    device_type: Optional[str]
    connection: Optional[str]
    host_role: Optional[str]
    count: int
    tags: List[str]

class Warning(TypedDict):
    path: str
    message: str
    line: Optional[int]

class JobDefinition(TypedDict):
    job_name: str
    device_type: Optional[str]
    priority: int
    visibility: Union[str, Dict[str, List[str]]]
    tags: List[str]
    job_timeout: float
    multinode: Optional[List[Role]]
    definition: Dict[str, Any]
    warnings: List[Warning]

class SubJob(TypedDict):
    role: str
    sub_id: int
    device_type: Optional[str]
    tags: List[str]
    definition: str

def validate(text: str) -> JobDefinition:
    """Judge a job definition as LAVA 2020.05's submission does; what its dispatcher side
    will refuse comes back in "warnings". Raises lava_rs.JobDefinitionError (field, line,
    LAVA's reason)."""

def split_multinode(text: str, target_group: str) -> List[SubJob]:
    """One sub-job per role and count; [] for a job without lava-multinode."""
