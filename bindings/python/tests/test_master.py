"""lava_rs.master.Master: the sans-IO master driven with frames and float seconds."""

import pytest

import lava_rs
from lava_rs import protocol
from lava_rs.master import Master

PAYLOAD = {"job": "job_name: x\n", "device": "device_type: shell\n"}


def drain(master):
    events, sent = [], []
    while (event := master.poll_event()) is not None:
        events.append(event)
    while (frames := master.poll_transmit()) is not None:
        sent.append(protocol.decode(frames))
    return events, sent


def hello(master, now, peer=b"worker-1"):
    frames = protocol.encode(
        {"peer": "x", "action": "HELLO", "protocol_version": 3, "lava_version": "2020.05"}
    )[1:]
    master.handle_message(peer, frames, now)
    return drain(master)


def test_hello_gets_hello_ok_and_events():
    master = Master()
    events, sent = hello(master, 1.0)
    assert sent == [{"peer": "worker-1", "action": "HELLO_OK"}]
    kinds = [e["event"] for e in events]
    assert "worker_online" in kinds
    [hello_event] = [e for e in events if e["event"] == "worker_hello"]
    assert hello_event["lava_version"] == "2020.05"
    assert master.is_online("worker-1")


def test_ping_gets_pong_with_the_configured_interval():
    master = Master(ping_interval=7.0)
    hello(master, 1.0)
    master.handle_message("worker-1", [b"PING"], 2.0)
    _, sent = drain(master)
    assert sent == [{"peer": "worker-1", "action": "PONG", "interval": 7}]


def test_job_life_start_ok_end_end_ok():
    master = Master()
    hello(master, 1.0)
    master.add_job(12, "worker-1", 2.0, payload=PAYLOAD)
    assert master.job_phase(12) == "scheduled"
    _, sent = drain(master)
    [start] = sent
    assert start["action"] == "START" and start["job_id"] == 12
    assert start["job"] == PAYLOAD["job"] and start["device"] == PAYLOAD["device"]

    master.handle_message(b"worker-1", [b"START_OK", b"12"], 3.0)
    events, sent = drain(master)
    assert {"event": "job_started", "job_id": 12, "hostname": "worker-1"} in events
    assert master.job_phase(12) == "running"

    end = protocol.encode(
        {"peer": "worker-1", "action": "END", "job_id": 12, "errors": "", "description": b""}
    )
    master.handle_message(end[0], end[1:], 4.0)
    events, sent = drain(master)
    [ended] = [e for e in events if e["event"] == "job_ended"]
    assert ended["crashed"] is True and ended["description"] == b""
    assert sent == [{"peer": "worker-1", "action": "END_OK", "job_id": 12}]


def test_start_is_resent_until_start_ok():
    master = Master(resend_interval=20.0)
    hello(master, 0.0)
    master.add_job(1, "worker-1", 0.0, payload=PAYLOAD)
    drain(master)
    deadline = master.poll_timeout()
    assert deadline is not None and deadline > 0.0
    master.handle_timeout(20.0)
    _, sent = drain(master)
    assert [m["action"] for m in sent] == ["START"]


def test_worker_goes_offline_after_silence():
    master = Master(worker_timeout=60.0)
    hello(master, 0.0)
    assert master.poll_timeout() == pytest.approx(60.0, abs=1e-3)
    master.handle_timeout(61.0)
    events, _ = drain(master)
    assert {"event": "worker_offline", "hostname": "worker-1"} in events
    assert not master.is_online("worker-1")


def test_cancel_sends_cancel():
    master = Master()
    hello(master, 0.0)
    master.add_job(3, "worker-1", 0.0, phase="running")
    master.cancel_job(3, 1.0)
    _, sent = drain(master)
    assert sent == [{"peer": "worker-1", "action": "CANCEL", "job_id": 3}]
    assert master.job_phase(3) == "canceling"


def test_malformed_frames_become_events_not_exceptions():
    master = Master()
    hello(master, 0.0)
    master.handle_message(b"worker-1", [b"START_OK", b"nope"], 1.0)
    events, sent = drain(master)
    assert sent == []
    [error] = [e for e in events if e["event"] == "protocol_error"]
    assert "frame 1" in error["error"]


def test_bad_identity_is_rejected():
    master = Master()
    master.handle_message(b"\x00\x01\x02", [b"PING"], 0.0)
    events, sent = drain(master)
    assert sent == []
    assert events[0]["event"] == "peer_rejected"
    assert events[0]["peer"] == b"\x00\x01\x02"


def test_driver_errors_raise_master_error():
    master = Master()
    master.add_job(1, "worker-1", 0.0, phase="running")
    with pytest.raises(lava_rs.MasterError) as info:
        master.add_job(1, "worker-1", 0.0, phase="running")
    assert info.value.job_id == 1
    assert isinstance(info.value, lava_rs.LavaError)
    with pytest.raises(lava_rs.MasterError) as info:
        master.cancel_job(99, 0.0)
    assert info.value.job_id == 99
    with pytest.raises(lava_rs.MasterError):
        master.add_job(2, "", 0.0, phase="running")


@pytest.mark.parametrize(
    "kwargs",
    [{"phase": "scheduled"}, {"phase": "sleeping"}, {"payload": {"job": "x"}}],
)
def test_bad_add_job_arguments(kwargs):
    master = Master()
    with pytest.raises((ValueError, lava_rs.LavaError)):
        master.add_job(1, "worker-1", 0.0, **kwargs)
    assert master.job_phase(1) is None


@pytest.mark.parametrize("now", [-1.0, float("nan"), float("inf")])
def test_bad_times_are_refused(now):
    master = Master()
    with pytest.raises(ValueError):
        master.handle_timeout(now)


def test_bad_config_is_refused():
    with pytest.raises(ValueError):
        Master(ping_interval=-5.0)
