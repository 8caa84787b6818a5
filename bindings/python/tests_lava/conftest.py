"""lava_rs inside the real LAVA 2020.05 server: fixtures.

These tests run LAVA's own code: its Django server (shared/reference/lava-2020.05-server,
made runnable by real-lava-server-setup), a throw-away PostgreSQL (lava-pg-cluster) and
LAVA's own lava-slave (real-lava-slave-setup). ``scripts/django-test.sh`` sets them up and
runs this folder with the LAVA server's Python, the lava_rs wheel installed in it. Run any
other way, every test fails and names what is missing.
"""

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
NEEDED = (
    "LAVA_SERVER_PYTHON",
    "LAVA_SERVER_MANAGE",
    "LAVA_SERVER_KIT",
    "LAVA_SERVER_TREE",
    "LAVA_SERVER_STATE",
    "LAVA_SERVER_DB_PORT",
    "LAVA_SLAVE_PYTHON",
    "LAVA_SLAVE_SCRIPT",
)
PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")


@pytest.fixture(scope="session")
def server():
    """The LAVA 2020.05 server set up by scripts/django-test.sh (its environment)."""
    missing = [name for name in NEEDED if not os.environ.get(name)]
    if missing:
        pytest.fail(
            "the real LAVA 2020.05 server is not set up (%s unset): run scripts/django-test.sh, "
            "which needs ../shared/reference (real-lava-server-setup, lava-pg-cluster, "
            "real-lava-slave-setup) beside the checkout" % ", ".join(missing)
        )
    return {name: os.environ[name] for name in NEEDED}


def psql(server, *sql):
    """Runs SQL on the cluster's maintenance database."""
    args = [
        os.path.join(PG_BIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h",
        os.environ.get("LAVA_SERVER_DB_HOST", "127.0.0.1"), "-p", server["LAVA_SERVER_DB_PORT"],
        "-U", os.environ.get("LAVA_SERVER_DB_USER", "postgres"), "-d", "postgres",
    ]
    for statement in sql:
        args += ["-c", statement]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


@pytest.fixture
def database(server):
    """A fresh copy of the migrated database "lava" (CREATE DATABASE ... TEMPLATE lava)."""
    name = "lava_rs_" + uuid.uuid4().hex[:10]
    psql(server, 'CREATE DATABASE "%s" TEMPLATE lava' % name)
    yield name
    psql(server, 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


@pytest.fixture
def lava(server, database, tmp_path):
    """A LAVA instance of its own: database, state folder, settings with lava_rs installed."""
    return LavaInstance(server, database, tmp_path)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LavaInstance:
    """One LAVA server: runs manage.py, the kit's job.py and daemons; stops what it started."""

    def __init__(self, server, database, tmp_path):
        self.server = server
        self.tmp = tmp_path
        self.state = tmp_path / "state"
        shutil.copytree(server["LAVA_SERVER_STATE"], self.state, ignore=shutil.ignore_patterns("media", "*.log"))
        (self.state / "media").mkdir(exist_ok=True)
        settings = tmp_path / "settings"
        settings.mkdir()
        # What an admin adds to LAVA's settings to use lava_rs.
        (settings / "lava_rs_settings.py").write_text(
            "from settings import *  # noqa: F401,F403 (the kit's LAVA settings)\n"
            "INSTALLED_APPS = INSTALLED_APPS + ['lava_rs.lava_server']\n"
        )
        self.env = dict(
            os.environ,
            LAVA_SERVER_DB_NAME=database,
            LAVA_SERVER_STATE=str(self.state),
            DJANGO_SETTINGS_MODULE="lava_rs_settings",
            PYTHONPATH=str(settings),
        )
        self.processes = []

    @property
    def python(self):
        return self.server["LAVA_SERVER_PYTHON"]

    def manage(self, *args, check=True):
        return subprocess.run(
            [self.python, "-W", "ignore", self.server["LAVA_SERVER_MANAGE"], *args],
            env=self.env, check=check, capture_output=True, text=True,
        )

    def job(self, *args, check=True):
        """The kit's job.py (submit, show, wait, cancel)."""
        out = subprocess.run(
            [self.python, "-W", "ignore", os.path.join(self.server["LAVA_SERVER_KIT"], "job.py"), *args],
            env=self.env, capture_output=True, text=True,
        )
        if check and out.returncode != 0:
            raise AssertionError("job.py %s: %s%s" % (" ".join(args), out.stdout, out.stderr))
        return out.stdout.strip()

    def start(self, name, args, python=None):
        """Starts a daemon (output in tmp/NAME.out); stopped at the end of the test."""
        out = open(self.tmp / (name + ".out"), "ab")
        proc = subprocess.Popen(
            [python or self.python, "-W", "ignore", *args],
            env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        self.processes.append(proc)
        return proc

    def stop_all(self):
        for proc in reversed(self.processes):
            if proc.poll() is None:
                # The slave's lava-run children share its session: end them with it.
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.processes:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(autouse=True)
def _stop_daemons(request):
    yield
    instance = request.node.funcargs.get("lava")
    if isinstance(instance, LavaInstance):
        instance.stop_all()


def run_lava_tests(server, args, plugin, report=None, junit=None, templates=False, timeout=900):
    """Runs LAVA's own tests (pytest, in LAVA's tree) with or without the lava_rs plugin
    (and, with `templates`, lava_rs rendering the dictionaries)."""
    cmd = [server["LAVA_SERVER_PYTHON"], "-m", "pytest", "-p", "no:cacheprovider", "-W", "ignore",
           "--ds=settings", "-q", "-rfEs"]
    if plugin:
        cmd += ["-p", "lava_rs.lava_server.pytest_plugin"]
        if report:
            cmd += ["--lava-rs-report", str(report)]
        if templates:
            cmd += ["--lava-rs-templates"]
    if junit:
        cmd += ["--junitxml", str(junit)]
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="settings")
    env.pop("PYTHONPATH", None)
    return subprocess.run(cmd + list(args), cwd=server["LAVA_SERVER_TREE"], env=env,
                          capture_output=True, text=True, timeout=timeout)

