"""lava-rs: LAVA's master/slave core in Rust, for Django LAVA and pytest harnesses.

Submodules: :mod:`lava_rs.templates` (device dictionaries), :mod:`lava_rs.jobs` (job
definitions), :mod:`lava_rs.protocol` (control messages and log records as pyzmq frames),
:mod:`lava_rs.scheduler` (one scheduling pass over plain Python data),
:mod:`lava_rs.master` and :mod:`lava_rs.slave` (the sans-IO state machines).
Every error raised is a subclass of :class:`LavaError`.
"""

from .lava_rs import (
    FrameError,
    JobDefinitionError,
    LavaError,
    LogError,
    MasterError,
    SchedulerError,
    TemplateError,
    __version__,
    jobs,
    master,
    protocol,
    scheduler,
    slave,
    templates,
)

__all__ = [
    "FrameError",
    "JobDefinitionError",
    "LavaError",
    "LogError",
    "MasterError",
    "SchedulerError",
    "TemplateError",
    "__version__",
    "jobs",
    "master",
    "protocol",
    "scheduler",
    "slave",
    "templates",
]
