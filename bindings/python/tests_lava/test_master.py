"""``manage.py lava-rs-master`` serving LAVA 2020.05's own lava-slave, beside LAVA's lava-logs."""

import json
import os
import signal
import time
import uuid

import pytest
import zmq

from conftest import free_port

DICTIONARY = """{% extends 'cmd-only.jinja2' %}
{% set user_commands = {'hello': "sh -c 'echo hello-from-cmd-01; sleep 1; echo done'",
                        'long': "sh -c 'echo long-start; sleep 25; echo long-end'"} %}
"""


def job_yaml(command):
    return (
        "device_type: cmd-only\njob_name: %s\npriority: medium\nvisibility: public\n"
        "timeouts: {job: {minutes: 5}, action: {minutes: 3}}\n"
        "actions:\n- command: {name: %s}\n" % (command, command)
    )


class Lab:
    """LAVA's lava-logs, lava-rs-master and LAVA's lava-slave for worker-01 / cmd-01."""

    def __init__(self, lava, server):
        if os.geteuid() != 0:
            pytest.fail("LAVA's lava-run must run as root (it writes /var/lib/lava/dispatcher)")
        self.lava = lava
        self.server = server
        self.master_port, self.log_port, self.event_port = free_port(), free_port(), free_port()
        kit = server["LAVA_SERVER_KIT"]
        types = lava.state / "dispatcher-config" / "device-types"
        (types / "cmd-only.jinja2").write_text(open(os.path.join(kit, "cmd-only.jinja2")).read())
        (lava.state / "dispatcher-config" / "devices" / "cmd-01.jinja2").write_text(DICTIONARY)
        lava.manage("device-types", "add", "cmd-only")
        lava.manage("workers", "add", "worker-01")
        lava.manage("devices", "add", "cmd-01", "--device-type", "cmd-only", "--worker", "worker-01")
        # LAVA's event publisher (lava-publisher), played by the test: lava-rs-master
        # schedules a device type at once when told a job was submitted for it.
        self.context = zmq.Context.instance()
        self.publisher = self.context.socket(zmq.PUB)
        self.publisher.bind("tcp://127.0.0.1:%d" % self.event_port)
        self.master = None
        self.certs = None

    def encrypt(self):
        """CurveZMQ for all three, with pyzmq's certificates (as LAVA's admins make them).
        lava-logs talks to the master with the master's own key pair, as in LAVA."""
        import zmq.auth

        self.certs = self.lava.tmp / "certs"
        allowed = self.certs / "allowed"
        allowed.mkdir(parents=True)
        for name in ("master", "worker-01"):
            public, _ = zmq.auth.create_certificates(str(self.certs), name)
            (allowed / os.path.basename(public)).write_bytes(open(public, "rb").read())

    def _server_encryption(self):
        if self.certs is None:
            return []
        return ["--encrypt", "--master-cert", str(self.certs / "master.key_secret"),
                "--slaves-certs", str(self.certs / "allowed")]

    def start_logs(self):
        self.lava.start("lava-logs", [
            self.server["LAVA_SERVER_MANAGE"], "lava-logs",
            "--socket", "tcp://127.0.0.1:%d" % self.log_port,
            "--master-socket", "tcp://127.0.0.1:%d" % self.master_port,
            "--user", "root", "--group", "root",
            "--log-file", str(self.lava.tmp / "lava-logs.log"), "--level", "DEBUG",
            *self._server_encryption(),
        ])

    def start_master(self):
        self.master = self.lava.start("lava-rs-master", [
            self.server["LAVA_SERVER_MANAGE"], "lava-rs-master",
            "--master-socket", "tcp://127.0.0.1:%d" % self.master_port,
            "--event-url", "tcp://127.0.0.1:%d" % self.event_port,
            "--user", "root", "--group", "root",
            "--log-file", str(self.lava.tmp / "lava-rs-master.log"), "--level", "DEBUG",
            *self._server_encryption(),
        ])

    def start_slave(self):
        slave_dir = self.lava.tmp / "slave"
        slave_dir.mkdir(exist_ok=True)
        encryption = []
        if self.certs is not None:
            encryption = ["--encrypt", "--master-cert", str(self.certs / "master.key"),
                          "--slave-cert", str(self.certs / "worker-01.key_secret")]
        self.lava.start("lava-slave", [
            self.server["LAVA_SLAVE_SCRIPT"], "--hostname", "worker-01",
            "--master", "tcp://127.0.0.1:%d" % self.master_port,
            "--socket-addr", "tcp://127.0.0.1:%d" % self.log_port,
            "--slave-dir", str(slave_dir),
            "--log-file", str(self.lava.tmp / "lava-slave.log"), "--level", "DEBUG",
            *encryption,
        ], python=self.server["LAVA_SLAVE_PYTHON"])

    def submit(self, command):
        path = self.lava.tmp / (command + ".yaml")
        path.write_text(job_yaml(command))
        return int(self.lava.job("submit", "someone", str(path)))

    def wait(self, job_id, state, seconds):
        """Waits for the job's state, announcing the submission as lava-publisher would."""
        end = time.monotonic() + seconds
        while True:
            show = self.lava.job("show", str(job_id)).split()
            if show[0] == state:
                return show
            if time.monotonic() > end:
                raise AssertionError(
                    "job %d is %s, not %s after %ds\n%s" % (job_id, show, state, seconds, self.logs())
                )
            self.publisher.send_multipart([
                b"org.lavasoftware.testjob", str(uuid.uuid4()).encode(), b"now", b"lavaserver",
                json.dumps({"job": job_id, "state": "Submitted", "device_type": "cmd-only"}).encode(),
            ])
            time.sleep(1)

    def logs(self):
        out = []
        for name in ("lava-rs-master.log", "lava-rs-master.out", "lava-logs.log", "lava-slave.log"):
            path = self.lava.tmp / name
            if path.exists():
                out.append("==> %s <==\n%s" % (name, path.read_text()[-4000:]))
        return "\n".join(out)

    def close(self):
        self.publisher.close(linger=0)


@pytest.fixture
def lab(lava, server):
    lab = Lab(lava, server)
    yield lab
    lab.close()


def output_lines(output_dir):
    return open(os.path.join(output_dir, "output.yaml"), encoding="utf-8").read()


def test_a_command_job_reaches_complete_with_its_log(lab):
    lab.start_logs()
    lab.start_master()
    lab.start_slave()
    job_id = lab.submit("hello")
    state, health, device, output_dir = lab.wait(job_id, "Finished", 180)
    assert (state, health, device) == ("Finished", "Complete", "cmd-01"), lab.logs()
    log = output_lines(output_dir)
    assert ">> hello-from-cmd-01" in log
    assert '"case": "job", "definition": "lava", "result": "pass"' in log
    # The START files and the END's description, as lava-master leaves them.
    for name in ("job.yaml", "device.yaml", "env.yaml"):
        assert os.path.exists(os.path.join(output_dir, name)), name
    deadline = time.monotonic() + 30
    while not os.path.exists(os.path.join(output_dir, "description.yaml")):
        assert time.monotonic() < deadline, "no description.yaml: END not recorded\n" + lab.logs()
        time.sleep(0.5)
    master_log = (lab.lava.tmp / "lava-rs-master.log").read_text()
    assert "[STATE] worker <worker-01> is online" in master_log
    assert "[%d] START => worker-01" % job_id in master_log


def test_kill_9_mid_job_and_restart_the_job_completes_once(lab):
    lab.start_logs()
    lab.start_master()
    lab.start_slave()
    job_id = lab.submit("long")
    lab.wait(job_id, "Running", 120)
    # lava-run is running `sleep 25`: kill the master outright, start a new one.
    time.sleep(3)
    os.kill(lab.master.pid, signal.SIGKILL)
    lab.master.wait()
    time.sleep(2)
    lab.start_master()
    state, health, device, output_dir = lab.wait(job_id, "Finished", 180)
    assert (state, health) == ("Finished", "Complete"), lab.logs()
    log = output_lines(output_dir)
    assert log.count(">> long-start") == 1 and log.count(">> long-end") == 1, log
    slave_log = (lab.lava.tmp / "lava-slave.log").read_text()
    assert slave_log.count("[%d] Starting job" % job_id) == 1, lab.logs()
    master_log = (lab.lava.tmp / "lava-rs-master.log").read_text()
    assert master_log.count("[INIT] Starting main loop") == 2
    assert "[INIT] 1 job(s) in flight restored" in master_log, lab.logs()
    assert master_log.count("[%d] START => " % job_id) == 1, lab.logs()
    deadline = time.monotonic() + 30
    while not os.path.exists(os.path.join(output_dir, "description.yaml")):
        assert time.monotonic() < deadline, "END not recorded after the restart\n" + lab.logs()
        time.sleep(0.5)
    # The device is free again and gets the next job.
    next_id = lab.submit("hello")
    assert lab.wait(next_id, "Finished", 120)[:3] == ["Finished", "Complete", "cmd-01"]


def test_encrypted_with_lavas_certificates(lab):
    """--encrypt, --master-cert, --slaves-certs as lava-master takes them (CurveZMQ)."""
    lab.encrypt()
    lab.start_logs()
    lab.start_master()
    lab.start_slave()
    job_id = lab.submit("hello")
    assert lab.wait(job_id, "Finished", 180)[:3] == ["Finished", "Complete", "cmd-01"], lab.logs()
