"""lava_rs.protocol: control messages as ROUTER frames, log frames and log lines."""

import decimal

import pytest

import lava_rs
from lava_rs import protocol

MESSAGES = [
    {"action": "HELLO", "protocol_version": 3, "lava_version": "2020.05"},
    {"action": "HELLO", "protocol_version": 3, "lava_version": None},
    {"action": "HELLO_RETRY", "protocol_version": 3, "lava_version": "2020.05"},
    {"action": "HELLO_OK"},
    {"action": "PING"},
    {"action": "PONG", "interval": 20},
    {
        "action": "START",
        "job_id": 12,
        "job": "job_name: x\n",
        "device": "device_type: shell\n",
        "dispatcher": "",
        "env": "overrides: {}\n",
        "env_dut": "",
    },
    {"action": "START_OK", "job_id": 12},
    {"action": "CANCEL", "job_id": 12},
    {"action": "STATUS", "job_id": 12},
    {"action": "END", "job_id": 12, "errors": "boom", "description": b"\xfd7zXZ\x00"},
    {"action": "END_OK", "job_id": 12},
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m["action"])
def test_round_trip(message):
    routed = dict(message, peer="worker-1")
    frames = protocol.encode(routed)
    assert all(isinstance(f, bytes) for f in frames)
    assert frames[0] == b"worker-1"
    assert frames[1] == message["action"].encode()
    assert protocol.decode(frames) == routed


def test_frames_are_exact():
    assert protocol.encode({"peer": "w", "action": "PING"}) == [b"w", b"PING"]
    assert protocol.encode({"peer": "w", "action": "PONG", "interval": 20}) == [
        b"w",
        b"PONG",
        b"20",
    ]
    assert protocol.encode({"peer": "w", "action": "HELLO", "protocol_version": 3}) == [
        b"w",
        b"HELLO",
        b"3",
    ]
    start = protocol.encode(
        {"peer": "w", "action": "START", "job_id": 7, "job": "j", "device": "d"}
    )
    assert start == [b"w", b"START", b"7", b"j", b"d", b"", b"", b""]


def test_decode_accepts_bytearray_and_memoryview():
    msg = protocol.decode([bytearray(b"w"), memoryview(b"END_OK"), b"5"])
    assert msg == {"peer": "w", "action": "END_OK", "job_id": 5}


def test_version_constant():
    assert protocol.PROTOCOL_VERSION == 3


@pytest.mark.parametrize(
    "frames,frame",
    [
        ([], -1),
        ([b""], -1),
        ([b"\x00\x8b\x45\x67"], -1),
        ([b"w"], 0),
        ([b"w", b"NOPE"], 0),
        ([b"w", b"ping"], 0),
        ([b"w", b"START_OK", b"twelve"], 1),
        ([b"w", b"START_OK"], 1),
        ([b"w", b"PING", b"extra"], 1),
        ([b"w", b"END", b"1", b"\xff\xfe", b""], 2),
    ],
)
def test_malformed_frames(frames, frame):
    with pytest.raises(lava_rs.FrameError) as info:
        protocol.decode(frames)
    err = info.value
    assert isinstance(err, lava_rs.LavaError)
    assert err.frame == frame
    if frame >= 0:
        assert err.peer == "w"
        assert f"frame {frame}" in str(err)
    else:
        assert err.peer is None
        assert "routing frame" in str(err)


def test_decode_refuses_non_bytes():
    with pytest.raises(TypeError):
        protocol.decode([b"w", 42])


@pytest.mark.parametrize(
    "message,field",
    [
        ({"action": "PING"}, "peer"),
        ({"peer": "", "action": "PING"}, None),
        ({"peer": "w"}, "action"),
        ({"peer": "w", "action": "NOPE"}, "action"),
        ({"peer": "w", "action": "CANCEL"}, "job_id"),
        ({"peer": "w", "action": "CANCEL", "job_id": "12"}, "job_id"),
        ({"peer": "w", "action": "PONG"}, "interval"),
        ({"peer": "w", "action": "START", "job_id": 1, "job": "j"}, "device"),
        ({"peer": "w", "action": "END", "job_id": 1, "description": "text"}, "description"),
    ],
)
def test_encode_refuses_bad_messages(message, field):
    with pytest.raises(lava_rs.FrameError) as info:
        protocol.encode(message)
    if field is not None:
        assert info.value.field == field
        assert field in str(info.value)


def test_log_frames_round_trip():
    frames = protocol.encode_log(42, '{"lvl": "info", "msg": "é"}')
    assert frames == [b"42", '{"lvl": "info", "msg": "é"}'.encode()]
    assert protocol.decode_log(frames) == (42, '{"lvl": "info", "msg": "é"}')


@pytest.mark.parametrize(
    "frames,frame",
    [([b"1"], None), ([b"1", b"a", b"b"], None), ([b"x", b"line"], 0), ([b"1", b"\xff"], 1)],
)
def test_bad_log_frames(frames, frame):
    with pytest.raises(lava_rs.LogError) as info:
        protocol.decode_log(frames)
    assert info.value.frame == frame


LINES = [
    '{"dt": "2026-11-24T14:18:12.827439", "lvl": "info", "msg": "lava-dispatcher, installed at version: 2020.05"}',
    '{"dt": "2026-11-24T14:18:13", "lvl": "target", "msg": "hello from lava-rs"}',
    '{"dt": "2026-11-24T14:18:14", "lvl": "results", "msg": {"case": "hello", "definition": "0_test", "result": "pass"}}',
]


@pytest.mark.parametrize("line", LINES)
def test_log_lines_round_trip_byte_for_byte(line):
    record = protocol.parse_log_line(line)
    assert protocol.format_log_line(record) == line


def test_parse_log_line_fields():
    record = protocol.parse_log_line(LINES[2])
    assert record["dt"] == "2026-11-24T14:18:14"
    assert record["lvl"] == "results"
    assert record["msg"]["result"] == "pass"


def test_decimal_measurement_stays_decimal():
    line = (
        '{"dt": "t", "lvl": "results", "msg": {"case": "c", "measurement": '
        '!!python/object/apply:decimal.Decimal ["1.50"], "result": "pass"}}'
    )
    record = protocol.parse_log_line(line)
    assert record["msg"]["measurement"] == decimal.Decimal("1.50")
    assert isinstance(record["msg"]["measurement"], decimal.Decimal)
    assert protocol.format_log_line(record) == line


def test_format_without_dt_and_with_values():
    record = {"lvl": "debug", "msg": {"n": 3, "f": 1.5, "ok": True, "none": None, "l": [1, "a"]}}
    line = protocol.format_log_line(record)
    assert '"dt"' not in line
    assert protocol.parse_log_line(line) == dict(record, dt=None)


@pytest.mark.parametrize(
    "line",
    ['{"dt": "x", "msg": "m"}', '{"lvl": "info"}', "- a list", '{"lvl": [1], "msg": "m"}', "{unclosed"],
)
def test_bad_log_lines(line):
    with pytest.raises(lava_rs.LogError):
        protocol.parse_log_line(line)


@pytest.mark.parametrize(
    "record",
    [{"msg": "m"}, {"lvl": "info"}, {"lvl": 3, "msg": "m"}, {"lvl": "info", "msg": object()},
     {"lvl": "info", "msg": {1: "int key"}}, {"lvl": "info", "msg": 2**70}],
)
def test_bad_records(record):
    with pytest.raises(lava_rs.LogError):
        protocol.format_log_line(record)
