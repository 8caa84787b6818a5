"""lava_rs.slave.Slave alone, and Master and Slave talking to each other in memory."""

import pytest

from lava_rs import protocol
from lava_rs.master import Master
from lava_rs.slave import Slave

PAYLOAD = {
    "job": "job_name: x\n",
    "device": "device_type: shell\n",
    "dispatcher": "",
    "env": "",
    "env_dut": "",
}


def events(machine):
    out = []
    while (event := machine.poll_event()) is not None:
        out.append(event)
    return out


def sent(machine):
    out = []
    while (frames := machine.poll_transmit()) is not None:
        out.append(frames)
    return out


def from_master(slave, message, now):
    frames = protocol.encode(dict(message, peer="master"))
    slave.handle_message(frames[0], frames[1:], now)


def connected_slave():
    slave = Slave(0.0, lava_version="2020.05")
    assert sent(slave) == [[b"master", b"HELLO", b"3", b"2020.05"]]
    from_master(slave, {"action": "HELLO_OK"}, 0.1)
    assert {"event": "connected"} in events(slave)
    assert slave.is_connected()
    return slave


def test_hello_without_version_has_three_frames():
    assert sent(Slave(0.0)) == [[b"master", b"HELLO", b"3"]]


def test_hello_retry_until_hello_ok():
    slave = Slave(0.0, hello_retry_interval=5.0)
    sent(slave)
    assert slave.poll_timeout() == pytest.approx(0.0, abs=5.0)
    slave.handle_timeout(5.0)
    assert [f[1] for f in sent(slave)] == [b"HELLO_RETRY"]


def test_job_from_start_to_end_ok():
    slave = connected_slave()
    sent(slave)
    from_master(slave, dict(PAYLOAD, action="START", job_id=4), 1.0)
    evs = events(slave)
    kinds = [e["event"] for e in evs]
    assert kinds.index("save_job") < kinds.index("spawn")
    [spawn] = [e for e in evs if e["event"] == "spawn"]
    assert spawn["files"]["job"] == PAYLOAD["job"]
    assert spawn["environment"]["purge"] is False

    slave.spawned(4, 4242, 1.1)
    evs = events(slave)
    assert {"event": "save_job", "row": {"id": 4, "pid": 4242, "status": "RUNNING", "prefix": ""}} in evs
    assert [protocol.decode(f)["action"] for f in sent(slave)] == ["START_OK"]
    assert slave.rows() == [{"id": 4, "pid": 4242, "status": "RUNNING", "prefix": ""}]

    slave.process_exited(4, "", b"\xfd7zXZ\x00", 2.0)
    events(slave)
    [end] = [protocol.decode(f) for f in sent(slave)]
    assert end["action"] == "END" and end["description"] == b"\xfd7zXZ\x00"

    from_master(slave, {"action": "END_OK", "job_id": 4}, 2.1)
    kinds = [e["event"] for e in events(slave)]
    assert "delete_job" in kinds and "remove_work_dir" in kinds
    assert slave.rows() == []


def test_spawn_failure_ends_the_job():
    slave = connected_slave()
    sent(slave)
    from_master(slave, dict(PAYLOAD, action="START", job_id=5), 1.0)
    events(slave)
    slave.spawned(5, "lava-run: not found", 1.1)
    events(slave)
    messages = [protocol.decode(f) for f in sent(slave)]
    assert any(m["action"] == "END" and "lava-run: not found" in m["errors"] for m in messages)


def test_messages_from_others_and_malformed_frames_are_reported():
    slave = connected_slave()
    slave.handle_message(b"intruder", [b"PING"], 1.0)
    slave.handle_message(b"master", [b"PONG", b"soon"], 1.0)
    reasons = [e["reason"] for e in events(slave) if e["event"] == "protocol_error"]
    assert len(reasons) == 2
    assert "intruder" in reasons[0]


def test_restore_rechecks_running_rows():
    slave = Slave(0.0, rows=[{"id": 9, "pid": 77, "status": 0, "prefix": "p-"}])
    # The check is due at once: at the first timeout, not before.
    assert events(slave) == []
    assert slave.poll_timeout() == 0.0
    slave.handle_timeout(0.0)
    evs = events(slave)
    assert {"event": "check_process", "job_id": 9, "pid": 77} in evs
    assert slave.rows() == [{"id": 9, "pid": 77, "status": "RUNNING", "prefix": "p-"}]


@pytest.mark.parametrize(
    "row",
    [
        {"id": 1, "pid": 0, "status": "SLEEPING", "prefix": ""},
        {"id": 1, "pid": -1, "status": "RUNNING", "prefix": ""},
        {"pid": 0, "status": "RUNNING", "prefix": ""},
        {"id": 1, "pid": 0, "status": 7, "prefix": ""},
        {"id": 1, "pid": 0, "status": "RUNNING", "prefix": "", "age": -3.0},
    ],
)
def test_bad_rows_are_refused(row):
    with pytest.raises(ValueError):
        Slave(0.0, rows=[row])


def test_bad_spawn_outcome_is_refused():
    slave = connected_slave()
    with pytest.raises(ValueError):
        slave.spawned(1, 3.5, 1.0)


def test_master_and_slave_run_a_job_together():
    """The two machines wired back to back: a job goes START → END_OK."""
    master, slave = Master(), Slave(0.0, lava_version="2020.05")
    master.add_job(1, "worker-1", 0.0, payload=PAYLOAD)
    now, master_events, slave_events = 0.0, [], []
    for _ in range(20):
        now += 0.5
        for frames in sent(slave):
            # The slave's ROUTER addresses b"master"; the master's sees b"worker-1".
            master.handle_message(b"worker-1", frames[1:], now)
        master_events += events(master)
        for frames in sent(master):
            assert frames[0] == b"worker-1"
            slave.handle_message(b"master", frames[1:], now)
        for event in events(slave):
            slave_events.append(event)
            if event["event"] == "spawn":
                slave.spawned(event["job_id"], 1000, now)
            if event["event"] == "spawn" or event["event"] == "check_process":
                slave.process_exited(event["job_id"], "", b"\xfd7zXZ\x00", now)
    kinds = [e["event"] for e in master_events]
    assert "job_started" in kinds
    [ended] = [e for e in master_events if e["event"] == "job_ended"]
    assert ended["job_id"] == 1 and ended["crashed"] is False
    assert "delete_job" in [e["event"] for e in slave_events]
    assert slave.rows() == []
