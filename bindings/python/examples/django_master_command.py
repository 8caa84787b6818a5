"""How a Django management command would replace lava-master's loop with lava_rs + pyzmq.

In LAVA this would be ``lava_scheduler_app/management/commands/lava-rs-master.py``::

    class Command(BaseCommand):
        def handle(self, *args, **options):
            MasterLoop(DjangoStore(), options["master_socket"], options["log_socket"]).run()

where ``DjangoStore`` implements the five methods of :class:`Store` below with the ORM
(``Worker.objects.filter(hostname=...).update(state=Worker.STATE_ONLINE)`` and so on).
To keep the example runnable without a Django project, :class:`Store` is a stand-in over
sqlite3 with the same tables and LAVA's integer codes (``lava_scheduler_app_worker``,
``lava_scheduler_app_testjob``): the loop only ever calls those five methods.

Run it: ``python django_master_command.py DB tcp://127.0.0.1:5556 tcp://127.0.0.1:5555``
(the test suite runs it against a real lava-slave in tests/test_example.py).
"""

from __future__ import annotations

import sqlite3
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

import zmq

from lava_rs import protocol
from lava_rs.master import Master

# LAVA's codes (lava_scheduler_app.models).
WORKER_ONLINE, WORKER_OFFLINE = 0, 1
JOB_SCHEDULED, JOB_RUNNING, JOB_FINISHED = 2, 3, 5
HEALTH_UNKNOWN, HEALTH_COMPLETE, HEALTH_INCOMPLETE = 0, 1, 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS lava_scheduler_app_worker (
    hostname TEXT PRIMARY KEY, state INTEGER NOT NULL DEFAULT 1, version TEXT);
CREATE TABLE IF NOT EXISTS lava_scheduler_app_testjob (
    id INTEGER PRIMARY KEY, state INTEGER NOT NULL, health INTEGER NOT NULL DEFAULT 0,
    worker TEXT NOT NULL, definition TEXT NOT NULL, device_config TEXT NOT NULL,
    failure_comment TEXT);
CREATE TABLE IF NOT EXISTS lava_scheduler_app_logline (
    job_id INTEGER NOT NULL, lvl TEXT NOT NULL, line TEXT NOT NULL);
"""


class Store:
    """The stand-in for the Django models: what the loop reads and writes."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path)
        self.db.executescript(SCHEMA)

    def scheduled_jobs(self) -> List[Tuple[int, str, str, str]]:
        """Jobs the scheduler gave a device: (id, worker, definition, device config)."""
        return self.db.execute(
            "SELECT id, worker, definition, device_config FROM lava_scheduler_app_testjob"
            " WHERE state = ?",
            (JOB_SCHEDULED,),
        ).fetchall()

    def set_worker(self, hostname: str, state: int, version: Optional[str] = None) -> None:
        self.db.execute(
            "INSERT INTO lava_scheduler_app_worker (hostname, state, version) VALUES (?, ?, ?)"
            " ON CONFLICT(hostname) DO UPDATE SET state = excluded.state,"
            " version = COALESCE(excluded.version, version)",
            (hostname, state, version),
        )

    def set_job(self, job_id: int, state: int, health: Optional[int] = None,
                failure_comment: Optional[str] = None) -> None:
        self.db.execute(
            "UPDATE lava_scheduler_app_testjob SET state = ?, health = COALESCE(?, health),"
            " failure_comment = COALESCE(?, failure_comment) WHERE id = ?",
            (state, health, failure_comment, job_id),
        )

    def add_log(self, job_id: int, lvl: str, line: str) -> None:
        self.db.execute(
            "INSERT INTO lava_scheduler_app_logline (job_id, lvl, line) VALUES (?, ?, ?)",
            (job_id, lvl, line),
        )

    def commit(self) -> None:
        """One transaction per loop turn: events are stored before anything is sent."""
        self.db.commit()


class MasterLoop:
    """lava-master's main loop, with the protocol decisions taken by lava_rs.master."""

    def __init__(self, store: Store, master_socket: str, log_socket: str) -> None:
        self.store = store
        self.master = Master()
        self.context = zmq.Context.instance()
        self.control = self.context.socket(zmq.ROUTER)
        # A restarted slave takes its identity back at once, as LAVA's master allows.
        self.control.setsockopt(zmq.ROUTER_HANDOVER, 1)
        self.control.bind(master_socket)
        self.logs = self.context.socket(zmq.PULL)
        self.logs.bind(log_socket)
        self.poller = zmq.Poller()
        self.poller.register(self.control, zmq.POLLIN)
        self.poller.register(self.logs, zmq.POLLIN)
        self.clock = time.monotonic
        # The log sink's verdict per job: the `lava`/`job` result record.
        self.job_results: Dict[int, str] = {}

    def run(self, stop: Callable[[], bool] = lambda: False, run_for: float = 1e9) -> None:
        end = self.clock() + run_for
        try:
            while not stop() and self.clock() < end:
                self.turn()
        finally:
            self.control.close(linger=0)
            self.logs.close(linger=0)

    def turn(self) -> None:
        now = self.clock()
        deadline = self.master.poll_timeout()
        wait = 0.5 if deadline is None else min(0.5, max(0.0, deadline - now))
        ready = dict(self.poller.poll(int(wait * 1000)))
        now = self.clock()
        if self.control in ready:
            while True:
                try:
                    frames = self.control.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                if frames:
                    self.master.handle_message(frames[0], frames[1:], now)
        if self.logs in ready:
            self.read_logs()
        deadline = self.master.poll_timeout()
        if deadline is not None and deadline <= now:
            self.master.handle_timeout(now)
        for job_id, worker, definition, device in self.store.scheduled_jobs():
            if self.master.job_phase(job_id) is None:
                payload = {"job": definition, "device": device}
                self.master.add_job(job_id, worker, now, payload=payload)
        # Persist every event, commit, and only then send: the contract of lava_rs.master.
        while (event := self.master.poll_event()) is not None:
            self.persist(event)
        self.store.commit()
        while (frames := self.master.poll_transmit()) is not None:
            self.control.send_multipart(frames)

    def read_logs(self) -> None:
        while True:
            try:
                frames = self.logs.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            job_id, line = protocol.decode_log(frames)
            record = protocol.parse_log_line(line)
            self.store.add_log(job_id, record["lvl"], line)
            msg = record["msg"]
            if record["lvl"] == "results" and isinstance(msg, dict):
                if msg.get("definition") == "lava" and msg.get("case") == "job":
                    self.job_results[job_id] = str(msg.get("result"))

    def persist(self, event: dict) -> None:
        kind = event["event"]
        if kind == "worker_online":
            self.store.set_worker(event["hostname"], WORKER_ONLINE)
        elif kind == "worker_offline":
            self.store.set_worker(event["hostname"], WORKER_OFFLINE)
        elif kind == "worker_hello":
            self.store.set_worker(event["hostname"], WORKER_ONLINE, event["lava_version"])
        elif kind == "job_started":
            self.store.set_job(event["job_id"], JOB_RUNNING)
        elif kind == "job_ended":
            job_id = event["job_id"]
            passed = not event["crashed"] and self.job_results.get(job_id) == "pass"
            health = HEALTH_COMPLETE if passed else HEALTH_INCOMPLETE
            self.store.set_job(job_id, JOB_FINISHED, health, event["errors"] or None)
            if self.master.job_phase(job_id) not in (None, "finished"):
                self.master.finish_job(job_id)
        elif kind == "job_failed_at_start":
            self.store.set_job(event["job_id"], JOB_FINISHED, HEALTH_INCOMPLETE, event["error"])
        else:
            # Protocol errors, rejected peers, duplicate identities: the admin's log.
            print(f"lava-rs-master: {event}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: django_master_command.py DB MASTER_SOCKET LOG_SOCKET")
    MasterLoop(Store(sys.argv[1]), sys.argv[2], sys.argv[3]).run()
