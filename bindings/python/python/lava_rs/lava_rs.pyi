"""The compiled extension; import from :mod:`lava_rs` instead."""

from types import ModuleType

__version__: str

class LavaError(Exception):
    """Base class of every error raised by lava_rs."""

class TemplateError(LavaError):
    """A device dictionary or device-type template that does not render."""

    file: str
    line: int | None
    kind: str
    construct: str | None

class JobDefinitionError(LavaError):
    """A job definition that cannot be accepted."""

    field: str
    line: int | None

class FrameError(LavaError):
    """A ZeroMQ message that does not follow protocol version 3."""

    frame: int | None
    peer: str | None

class LogError(LavaError):
    """A log record (frames or line) that lava-logs cannot use."""

    frame: int | None

class SchedulerError(LavaError):
    """A scheduler snapshot given from Python that is not well formed."""

    field: str

class MasterError(LavaError):
    """A call on lava_rs.master.Master that does not fit its state."""

    job_id: int | None

templates: ModuleType
master: ModuleType
slave: ModuleType
scheduler: ModuleType
jobs: ModuleType
protocol: ModuleType
