"""Start a whole lava-rs lab for a test: lava-master, lava-slave(s) and lava-admin.

The lab runs the project's binaries (``lava-master``, ``lava-slave``, ``lava-admin``) as
subprocesses on free loopback ports, with the master's embedded SQLite store in a
temporary directory. Use it as a context manager::

    with Lab(workers=["worker-01"]) as lab:
        lab.add_device_type("shell", template="examples/lab/device-types/shell.jinja2")
        lab.add_device("shell-01", "shell", "worker-01",
                       dictionary="examples/lab/devices/shell-01.jinja2")
        job = lab.submit(open("examples/lab/job.yaml").read())
        assert lab.wait(job)["health"] == "Complete"
        print(lab.logs(job))

or through the pytest fixture :func:`lab_fixture` (``from lava_rs.harness import
lab_fixture as lab`` in a conftest.py).

Where the binaries are: ``bin_dir``, else the ``LAVA_RS_BIN_DIR`` environment variable,
else the directories of ``PATH``. lava-run: ``lava_run``, else ``LAVA_RS_LAVA_RUN``, else
``lava-run-double`` next to the other binaries (the project's stand-in, which needs no
hardware).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Union

from .lava_rs import LavaError

__all__ = ["Lab", "LabError", "lab_fixture"]

_Path = Union[str, os.PathLike]


class LabError(LavaError):
    """The lab could not be started, or a lava-admin command failed (names the command)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _find(name: str, bin_dir: Optional[_Path]) -> str:
    dirs: List[str] = []
    if bin_dir is not None:
        dirs.append(os.fspath(bin_dir))
    elif os.environ.get("LAVA_RS_BIN_DIR"):
        dirs.append(os.environ["LAVA_RS_BIN_DIR"])
    else:
        found = shutil.which(name)
        if found:
            return found
    for d in dirs:
        candidate = pathlib.Path(d) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise LabError(f"{name}: not found in {dirs or 'PATH'} (set LAVA_RS_BIN_DIR)")


class Lab:
    """A master with an SQLite store and one slave per worker, on loopback ports."""

    def __init__(
        self,
        workers: Sequence[str] = ("worker-01",),
        bin_dir: Optional[_Path] = None,
        lava_run: Optional[_Path] = None,
        data_dir: Optional[_Path] = None,
        env: Optional[Dict[str, str]] = None,
    ) -> None:
        self.workers = list(workers)
        self._admin = _find("lava-admin", bin_dir)
        self._master_bin = _find("lava-master", bin_dir)
        self._slave_bin = _find("lava-slave", bin_dir)
        if lava_run is None and os.environ.get("LAVA_RS_LAVA_RUN"):
            lava_run = os.environ["LAVA_RS_LAVA_RUN"]
        self._lava_run = os.fspath(lava_run) if lava_run else _find("lava-run-double", bin_dir)
        self._own_dir = data_dir is None
        self.data_dir = pathlib.Path(
            tempfile.mkdtemp(prefix="lava-rs-lab-") if data_dir is None else data_dir
        )
        self._env = dict(os.environ, **(env or {}))
        self._procs: List[subprocess.Popen] = []
        self.control_port = 0
        self.log_port = 0

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> "Lab":
        """Adds the workers, then starts the master and one slave per worker."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for worker in self.workers:
            self.admin("workers", "add", worker)
        self.control_port, self.log_port = _free_port(), _free_port()
        control = f"tcp://127.0.0.1:{self.control_port}"
        logs = f"tcp://127.0.0.1:{self.log_port}"
        self._spawn(
            "master",
            [
                self._master_bin,
                "--data-dir", str(self.data_dir),
                "--master-socket", control,
                "--log-socket", logs,
                "--http", f"127.0.0.1:{_free_port()}",
                "--log-file", str(self.data_dir / "master.log"),
            ],
        )
        for worker in self.workers:
            self._spawn(
                worker,
                [
                    self._slave_bin,
                    "--hostname", worker,
                    "--master", control,
                    "--socket-addr", logs,
                    "--slave-dir", str(self.data_dir / f"slave-{worker}"),
                    "--log-file", str(self.data_dir / f"slave-{worker}.log"),
                    "--lava-run", self._lava_run,
                ],
            )
        return self

    def _spawn(self, name: str, argv: List[str]) -> None:
        proc = subprocess.Popen(
            argv,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(self.data_dir / f"{name}.stderr", "wb"),
        )
        self._procs.append(proc)

    def stop(self) -> None:
        """Stops every process this lab started (TERM, then KILL after 10 s)."""
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self._procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stderr:
                proc.stderr.close()
        self._procs.clear()

    def cleanup(self) -> None:
        """Stops the lab and removes its data dir when the lab made it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> "Lab":
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc) -> None:
        self.cleanup()

    # -- lava-admin ----------------------------------------------------------------

    def admin(self, *args: str, timeout: float = 60.0) -> str:
        """Runs ``lava-admin --data-dir DIR ARGS``; returns its stdout or raises LabError."""
        argv = [self._admin, "--data-dir", str(self.data_dir), *args]
        done = subprocess.run(
            argv, env=self._env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise LabError(
                f"lava-admin {' '.join(args)}: exit {done.returncode}: {done.stderr.strip()}"
            )
        return done.stdout

    def add_device_type(self, name: str, template: Optional[_Path] = None) -> None:
        """Adds a device type, with its Jinja2 template file when given."""
        self.admin("device-types", "add", name)
        if template is not None:
            self.admin("device-types", "template", "set", name, os.fspath(template))

    def add_device(
        self, hostname: str, device_type: str, worker: str, dictionary: Optional[_Path] = None
    ) -> None:
        """Adds a device on `worker`, with its dictionary file when given.

        The dictionary is installed by the same command, before the device exists: a
        scheduling pass in between would find no dictionary and make the device Bad."""
        args = ["devices", "add", hostname, "--device-type", device_type, "--worker", worker]
        if dictionary is not None:
            args += ["--dictionary", os.fspath(dictionary)]
        self.admin(*args)

    def submit(self, definition: str) -> int:
        """Submits a job definition (YAML text); returns the job id (the first, multinode)."""
        path = self.data_dir / f"submit-{time.monotonic_ns()}.yaml"
        path.write_text(definition)
        try:
            return int(self.admin("jobs", "submit", str(path)).split()[0])
        finally:
            path.unlink()

    def show(self, job_id: int) -> dict:
        """The job as ``lava-admin jobs show --json`` gives it (state, health, …)."""
        return json.loads(self.admin("jobs", "show", str(job_id), "--json"))

    def wait(self, job_id: int, timeout: float = 120.0) -> dict:
        """Waits until the job is Finished and returns it; raises LabError on timeout."""
        argv = [self._admin, "--data-dir", str(self.data_dir)]
        argv += ["jobs", "wait", str(job_id), "--timeout", str(int(max(1, timeout)))]
        done = subprocess.run(
            argv, env=self._env, capture_output=True, text=True, timeout=timeout + 30
        )
        if done.returncode not in (0, 1):
            raise LabError(
                f"job {job_id} not finished after {timeout} s: {done.stderr.strip()} "
                f"(logs in {self.data_dir})"
            )
        return self.show(job_id)

    def logs(self, job_id: int) -> str:
        """The job's log (output.yaml lines)."""
        return self.admin("jobs", "logs", str(job_id))

    def cancel(self, job_id: int) -> None:
        """Cancels a job."""
        self.admin("jobs", "cancel", str(job_id))


def lab_fixture():
    """A pytest fixture (generator) giving a started :class:`Lab` with one worker.

    In a conftest.py: ``lab = pytest.fixture(lava_rs.harness.lab_fixture)``.
    """
    with Lab() as lab:
        yield lab
