"""examples/django_master_command.py drives a real lava-slave through a job to Complete."""

import importlib.util
import os
import pathlib
import socket
import subprocess

from lava_rs import templates

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "django_master_command.py"


def load_example():
    spec = importlib.util.spec_from_file_location("django_master_command", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bin_path(name):
    path = pathlib.Path(os.environ.get("LAVA_RS_BIN_DIR", "")) / name
    assert path.is_file(), f"{path}: build it (test.sh does) or set LAVA_RS_BIN_DIR"
    return str(path)


def test_master_loop_runs_a_job_with_a_real_slave(tmp_path, lab, job_text):
    example = load_example()
    store = example.Store(str(tmp_path / "lava.sqlite3"))
    device = templates.render(
        lab / "devices" / "shell-01.jinja2",
        [lab / "device-types"],
        {"scheduled_device_name": "shell-01", "scheduled_device_type": "shell"},
    )
    store.db.execute(
        "INSERT INTO lava_scheduler_app_testjob (id, state, worker, definition, device_config)"
        " VALUES (1, ?, 'worker-01', ?, ?)",
        (example.JOB_SCHEDULED, job_text, device),
    )
    store.commit()
    control = f"tcp://127.0.0.1:{free_port()}"
    logs = f"tcp://127.0.0.1:{free_port()}"
    loop = example.MasterLoop(store, control, logs)
    slave = subprocess.Popen(
        [
            bin_path("lava-slave"), "--hostname", "worker-01", "--master", control,
            "--socket-addr", logs, "--slave-dir", str(tmp_path / "slave"),
            "--log-file", str(tmp_path / "slave.log"),
            "--lava-run", bin_path("lava-run-double"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def finished():
        row = store.db.execute(
            "SELECT state FROM lava_scheduler_app_testjob WHERE id = 1"
        ).fetchone()
        return row[0] == example.JOB_FINISHED

    try:
        loop.run(stop=finished, run_for=90)
    finally:
        slave.terminate()
        slave.wait(timeout=10)
    state, health = store.db.execute(
        "SELECT state, health FROM lava_scheduler_app_testjob WHERE id = 1"
    ).fetchone()
    assert (state, health) == (example.JOB_FINISHED, example.HEALTH_COMPLETE)
    worker = store.db.execute(
        "SELECT state, version FROM lava_scheduler_app_worker WHERE hostname = 'worker-01'"
    ).fetchone()
    assert worker[0] == example.WORKER_ONLINE
    lines = store.db.execute(
        "SELECT COUNT(*) FROM lava_scheduler_app_logline WHERE job_id = 1"
    ).fetchone()[0]
    assert lines > 0
