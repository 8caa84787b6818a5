"""Protocol version 3: control messages and log records as pyzmq frames."""

from typing import Any, Dict, Iterable, List, Tuple, Union

PROTOCOL_VERSION: int

_Frame = Union[bytes, bytearray, memoryview]

def decode(frames: Iterable[_Frame]) -> Dict[str, Any]:
    """Decode `[identity, action, args...]`; returns {"peer", "action", fields...}.

    Raises lava_rs.FrameError (frame, peer)."""

def encode(message: Dict[str, Any]) -> List[bytes]:
    """The frames (identity first) for a message dict as `decode` returns it.

    Raises lava_rs.FrameError naming the key (field)."""

def decode_log(frames: Iterable[_Frame]) -> Tuple[int, str]:
    """Split a log-socket message into (job_id, line). Raises lava_rs.LogError."""

def encode_log(job_id: int, line: str) -> List[bytes]:
    """The frames of a log message: decimal job id, then the line."""

def parse_log_line(line: str) -> Dict[str, Any]:
    """Read a lava-run log line into {"dt", "lvl", "msg"}. Raises lava_rs.LogError."""

def format_log_line(record: Dict[str, Any]) -> str:
    """Write a record dict as lava-run does. Raises lava_rs.LogError."""
