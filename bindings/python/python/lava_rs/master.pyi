"""The sans-IO master state machine, driven from Python (pyzmq or any transport)."""

from typing import Any, Dict, Iterable, List, Optional, Union

_Frame = Union[bytes, bytearray, memoryview]

class Master:
    """The master side of protocol v3; `now` is float seconds on a monotonic clock."""

    def __init__(
        self,
        ping_interval: float = 20.0,
        worker_timeout: float = 60.0,
        resend_interval: float = 20.0,
        finish_grace: float = 120.0,
    ) -> None: ...
    def handle_message(
        self, peer: Union[bytes, str], frames: Iterable[_Frame], now: float
    ) -> None:
        """Frames from `peer` without the identity frame; malformed ones become events."""
    def handle_timeout(self, now: float) -> None: ...
    def poll_transmit(self) -> Optional[List[bytes]]:
        """The next ROUTER frames to send (identity first)."""
    def poll_event(self) -> Optional[Dict[str, Any]]:
        """The next event to persist, e.g. {"event": "job_started", "job_id": 1, ...}."""
    def poll_timeout(self) -> Optional[float]: ...
    def add_job(
        self,
        job_id: int,
        hostname: str,
        now: float,
        payload: Optional[Dict[str, str]] = None,
        phase: str = "scheduled",
        end_processed: bool = False,
    ) -> None: ...
    def cancel_job(self, job_id: int, now: float) -> None: ...
    def finish_job(self, job_id: int) -> None: ...
    def remove_job(self, job_id: int) -> None: ...
    def job_phase(self, job_id: int) -> Optional[str]: ...
    def is_online(self, hostname: str) -> bool: ...
    def lava_logs_online(self) -> bool: ...
