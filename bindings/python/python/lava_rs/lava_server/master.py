"""lava-master's main loop with ``lava_rs.master.Master`` taking the protocol decisions.

:class:`MasterLoop` owns the sockets (pyzmq: the ROUTER control socket slaves and lava-logs
talk to, and the SUB socket of LAVA's event publisher), the clock and the database; the
sans-IO ``Master`` owns the protocol: sessions, PONG, START/CANCEL re-sends, END/END_OK,
STATUS after a restart, offline detection. Each turn:

1. feed the machine: received frames, due timeouts, jobs the scheduler placed (START
   payloads), jobs users cancel, jobs lava-logs finished;
2. persist every event it reports (:mod:`~lava_rs.lava_server.persist`, LAVA's models);
3. only then send what it queued: a state change is stored before any message that
   depends on it leaves (END_OK after the END is recorded), so ``kill -9`` at any point
   loses nothing and a restart sends nothing twice.

Scheduling is LAVA's rhythm: every 20 s while lava-logs is online, sooner for the device
types named by the event publisher; ``schedule`` is whatever ``lava_scheduler_app.scheduler``
gives, i.e. lava_rs's when ``lava_rs.lava_server`` is installed.
"""

from __future__ import annotations

import json
import os
import time
from typing import Dict, Optional, Set

import zmq
from django.conf import settings
from django.db import connection
from django.db.utils import InterfaceError, OperationalError

from lava_rs import LavaError
from lava_rs.master import Master

from . import persist

#: lava-master's rhythm (seconds).
PING_INTERVAL = 20
SCHEDULE_INTERVAL = 20
#: How often the jobs tracked by the machine are compared with the database (canceled by a
#: user, finished by lava-logs).
SYNC_INTERVAL = 2
#: After a restart, Finished jobs younger than this whose END was never recorded are tracked
#: again, so that their END is still stored once.
RESTORE_WINDOW = 24 * 3600


class DatabaseLost(Exception):
    """The database went away while persisting: nothing queued may be sent."""


class MasterLoop:
    """lava-rs-master: the protocol by lava_rs, the state in LAVA's database."""

    def __init__(self, logger, master_socket: str, event_url: Optional[str] = None,
                 ipv6: bool = False, encryption: Optional[Dict[str, str]] = None,
                 stop_fd: Optional[int] = None) -> None:
        self.logger = logger
        self.master = Master(ping_interval=PING_INTERVAL)
        self.clock = time.monotonic
        self.context = zmq.Context()
        self.control = self.context.socket(zmq.ROUTER)
        self.events_socket = None
        self.auth = None
        if ipv6:
            self.control.setsockopt(zmq.IPV6, 1)
        if encryption:
            self._encrypt(encryption)
        self.control.setsockopt(zmq.IDENTITY, b"master")
        # A slave that reconnects takes its identity back at once (ZeroMQ handover).
        self.control.setsockopt(zmq.ROUTER_HANDOVER, 1)
        self.control.bind(master_socket)
        self.poller = zmq.Poller()
        self.poller.register(self.control, zmq.POLLIN)
        if event_url:
            self.events_socket = self.context.socket(zmq.SUB)
            if ipv6:
                self.events_socket.setsockopt(zmq.IPV6, 1)
            self.events_socket.setsockopt(zmq.SUBSCRIBE, settings.EVENT_TOPIC.encode())
            self.events_socket.connect(event_url)
            self.poller.register(self.events_socket, zmq.POLLIN)
        self.stop_fd = stop_fd
        if stop_fd is not None:
            self.poller.register(stop_fd, zmq.POLLIN)
        # The jobs handed to the machine (pruned when it stops tracking them).
        self.tracked: Set[int] = set()
        self.heard: Set[str] = set()
        self.canceling: Set[int] = set()
        self.available_dt: Set[str] = set()
        self.last_schedule: Optional[float] = None
        self.last_sync = 0.0

    def _encrypt(self, encryption: Dict[str, str]) -> None:
        import zmq.auth
        from zmq.auth.thread import ThreadAuthenticator

        self.auth = ThreadAuthenticator(self.context)
        self.auth.start()
        public, secret = zmq.auth.load_certificate(encryption["master_cert"])
        self.auth.configure_curve(domain="*", location=encryption["slaves_certs"])
        self.control.curve_publickey = public
        self.control.curve_secretkey = secret
        self.control.curve_server = True
        self.slaves_certs = encryption["slaves_certs"]
        self.certs_stamp = self._certs_stamp()

    def _certs_stamp(self):
        try:
            return sorted((e.name, e.stat().st_mtime_ns) for e in os.scandir(self.slaves_certs))
        except OSError:
            return None

    # ------------------------------------------------------------------ life cycle
    def restore(self) -> None:
        """Start-up: every worker offline, the machine tracks the jobs in flight again."""
        persist.mark_all_workers_offline()
        now = self.clock()
        for job_id, worker, phase, processed in persist.jobs_to_restore(RESTORE_WINDOW):
            self._add(job_id, worker, now, phase=phase, end_processed=processed)
        self.logger.info("[INIT] %d job(s) in flight restored", len(self.tracked))

    def run(self, run_for: Optional[float] = None) -> None:
        """The main loop; returns on a signal (stop_fd), or after `run_for` seconds."""
        self.restore()
        end = None if run_for is None else self.clock() + run_for
        try:
            while end is None or self.clock() < end:
                if not self.turn():
                    break
        finally:
            self.control.close(linger=0)
            if self.events_socket is not None:
                self.events_socket.close(linger=0)
            if self.auth is not None:
                self.auth.stop()
            self.context.term()

    def turn(self) -> bool:
        """One turn of the loop; False when a signal asks to stop."""
        now = self.clock()
        timeout = self._poll_timeout(now)
        ready = dict(self.poller.poll(int(timeout * 1000)))
        if self.stop_fd is not None and self.stop_fd in ready:
            self.logger.info("[POLL] received a signal, leaving")
            return False
        now = self.clock()
        if self.control in ready:
            self._receive(now)
        if self.events_socket is not None and self.events_socket in ready:
            self._read_events()
        deadline = self.master.poll_timeout()
        if deadline is not None and deadline <= now:
            self.master.handle_timeout(now)
        try:
            self._drive(now)
            self._persist_events()
        except (OperationalError, InterfaceError) as exc:
            # Nothing the machine queued may leave before its state is stored: drop the
            # connection and leave; a restart restores everything from the database.
            connection.close()
            raise DatabaseLost("database unavailable: %s" % exc) from exc
        while (frames := self.master.poll_transmit()) is not None:
            self.control.send_multipart(frames)
        return True

    def _poll_timeout(self, now: float) -> float:
        waits = [SYNC_INTERVAL]
        deadline = self.master.poll_timeout()
        if deadline is not None:
            waits.append(deadline - now)
        if self.last_schedule is not None:
            waits.append(self.last_schedule + SCHEDULE_INTERVAL - now)
        if self.canceling or self.available_dt:
            waits.append(0.1)
        return max(0.001, min(waits))

    # ------------------------------------------------------------------ input
    def _receive(self, now: float) -> None:
        while True:
            try:
                frames = self.control.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if not frames:
                continue
            self.master.handle_message(frames[0], frames[1:], now)
            try:
                self.heard.add(frames[0].decode("utf-8"))
            except UnicodeDecodeError:
                # The machine reports the peer (peer_rejected); nothing to remember here.
                continue

    def _read_events(self) -> None:
        """LAVA's event publisher: canceled jobs and device types with room, at once."""
        while True:
            try:
                msg = self.events_socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                topic, _, _, _, data = (m.decode("utf-8") for m in msg)
                data = json.loads(data)
            except (ValueError, UnicodeDecodeError):
                self.logger.error("[EVENT] invalid event: %r", msg)
                continue
            if topic.endswith(".testjob"):
                if data.get("state") == "Canceling":
                    self.canceling.add(int(data["job"]))
                elif data.get("state") == "Submitted" and "device_type" in data:
                    self.available_dt.add(data["device_type"])
            elif topic.endswith(".device"):
                if data.get("state") == "Idle" and data.get("health") in ("Good", "Unknown", "Looping"):
                    self.available_dt.add(data["device_type"])

    # ------------------------------------------------------------------ the database's side
    def _drive(self, now: float) -> None:
        sync_due = now - self.last_sync >= SYNC_INTERVAL
        if sync_due:
            # Who was heard since the last sync (LAVA updates last_ping on every message).
            online = [h for h in self.heard if h != "lava-logs" and self.master.is_online(h)]
            persist.workers_pinged(online)
            self.heard.clear()
        if sync_due or self.canceling:
            self._sync(now)
        # Persist what the messages changed (workers online...) before scheduling on it.
        self._persist_events()
        if self.master.lava_logs_online():
            scheduled = False
            due = self.last_schedule is None or now - self.last_schedule >= SCHEDULE_INTERVAL
            if due or self.available_dt:
                types = None if due else set(self.available_dt)
                self.available_dt.clear()
                self._schedule(types)
                scheduled = True
                if due:
                    self.last_schedule = self.clock()
            if scheduled or sync_due:
                self._start_jobs(self.clock())
        elif self.last_schedule is None or now - self.last_schedule >= SCHEDULE_INTERVAL:
            self.logger.warning("lava-logs is offline: no scheduling")
            self.last_schedule = now
        self._reload_certificates()

    def _schedule(self, types: Optional[Set[str]]) -> None:
        # Resolved at each call: the module lava_rs.lava_server installed in LAVA's place.
        from lava_scheduler_app.scheduler import schedule

        schedule(self.logger, types)

    def _start_jobs(self, now: float) -> None:
        for job in persist.jobs_to_start(self.tracked):
            try:
                payloads = persist.start_payloads(job)
            except persist.StartError as exc:
                persist.job_failed(job.id, str(exc), self.logger)
                continue
            for sub_job, worker, payload in payloads:
                if sub_job.id in self.tracked:
                    continue
                self.logger.info("[%d] START => %s", sub_job.id, worker)
                self._add(sub_job.id, worker, now, payload=payload)

    def _reload_certificates(self) -> None:
        """A slave certificate added or removed is picked up without a restart (LAVA: inotify)."""
        if self.auth is None:
            return
        stamp = self._certs_stamp()
        if stamp != self.certs_stamp:
            self.certs_stamp = stamp
            self.logger.info("[AUTH] reloading certificates from %s", self.slaves_certs)
            self.auth.configure_curve(domain="*", location=self.slaves_certs)

    def _sync(self, now: float) -> None:
        """Jobs users canceled and jobs lava-logs finished, told to the machine."""
        self.last_sync = now
        self.tracked = {j for j in self.tracked if self.master.job_phase(j) is not None}
        states = persist.job_states(self.tracked)
        for job_id in list(self.tracked):
            state = states.get(job_id)
            phase = self.master.job_phase(job_id)
            if state is None:
                self.logger.warning("[%d] deleted from the database: no longer tracked", job_id)
                self.master.remove_job(job_id)
                self.tracked.discard(job_id)
            elif state == persist.TestJob.STATE_FINISHED and phase != "finished":
                self.master.finish_job(job_id)
            elif state == persist.TestJob.STATE_CANCELING and phase in ("scheduled", "running"):
                self.logger.info("[%d] CANCEL", job_id)
                self.master.cancel_job(job_id, now)
        for job_id, worker in persist.jobs_to_cancel():
            if job_id not in self.tracked and worker is not None:
                self.logger.info("[%d] CANCEL => %s", job_id, worker)
                self._add(job_id, worker, now, phase="canceling")
        self.canceling.clear()

    def _add(self, job_id: int, worker: str, now: float, payload=None, phase="scheduled",
             end_processed: bool = False) -> None:
        try:
            self.master.add_job(job_id, worker, now, payload=payload, phase=phase,
                                end_processed=end_processed)
        except LavaError as exc:
            # An unusable worker name, or a job already tracked: say so, skip the job.
            self.logger.error("[%d] cannot be tracked: %s", job_id, exc)
            return
        self.tracked.add(job_id)

    def _persist_events(self) -> None:
        while (event := self.master.poll_event()) is not None:
            self._persist(event)

    def _persist(self, event: dict) -> None:
        kind = event["event"]
        log = self.logger
        if kind == "worker_online":
            persist.worker_online(event["hostname"], log)
        elif kind == "worker_offline":
            persist.worker_offline(event["hostname"], log)
        elif kind == "worker_hello":
            if event["restarted"]:
                log.warning("worker <%s> has restarted", event["hostname"])
            persist.worker_version(event["hostname"], event["lava_version"])
        elif kind == "version_mismatch":
            log.error("<%s> speaks protocol version %s, not 3: ignored",
                      event["hostname"], event["protocol_version"])
        elif kind == "lava_logs_online":
            log.info("[STATE] lava-logs is online")
        elif kind == "lava_logs_offline":
            log.error("[STATE] lava-logs goes offline")
        elif kind == "job_started":
            persist.job_running(event["job_id"], log)
        elif kind == "job_ended":
            persist.job_ended(event, log)
        elif kind == "end_for_unknown_job":
            log.error("[%d] END from <%s> for a job lava-rs-master does not track: acked",
                      event["job_id"], event["hostname"])
        elif kind == "job_failed_at_start":
            self.tracked.discard(event["job_id"])
            persist.job_failed(event["job_id"], "START not sent: %s" % event["error"], log)
        elif kind == "finish_overdue":
            persist.job_result_lost(event["job_id"], log)
        else:
            # peer_rejected, protocol_error, duplicate_identity_suspected: the admin's log.
            details = {k: v for k, v in event.items() if k != "event"}
            log.error("[PROTOCOL] %s: %s", kind.replace("_", " "), details)
