"""The sans-IO slave state machine, driven from Python."""

from typing import Any, Dict, Iterable, List, Mapping, Optional, Union

_Frame = Union[bytes, bytearray, memoryview]

class Slave:
    """The slave side of protocol v3; `now` is float seconds on a monotonic clock."""

    def __init__(
        self,
        now: float,
        lava_version: Optional[str] = None,
        rows: Optional[Iterable[Mapping[str, Any]]] = None,
        hello_retry_interval: float = 5.0,
        min_ping_interval: float = 5.0,
        job_check_interval: float = 5.0,
        cancel_term_again: float = 60.0,
        cancel_kill: float = 120.0,
    ) -> None: ...
    def handle_message(
        self, peer: Union[bytes, str], frames: Iterable[_Frame], now: float
    ) -> None: ...
    def handle_timeout(self, now: float) -> None: ...
    def poll_transmit(self) -> Optional[List[bytes]]:
        """The next ROUTER frames to send (b"master" first)."""
    def poll_event(self) -> Optional[Dict[str, Any]]:
        """The next thing to do, e.g. {"event": "spawn", "job_id": 1, ...}."""
    def poll_timeout(self) -> Optional[float]: ...
    def spawned(self, job_id: int, outcome: Union[int, str], now: float) -> None: ...
    def process_alive(self, job_id: int, pid: int) -> None: ...
    def process_exited(
        self, job_id: int, errors: str, description: Optional[bytes], now: float
    ) -> None: ...
    def is_connected(self) -> bool: ...
    def ping_interval(self) -> float: ...
    def rows(self) -> List[Dict[str, Any]]: ...
