"""What ``lava-rs-master`` reads from and writes to LAVA's models.

``lava_rs.master.Master`` takes the protocol decisions; this module turns them into LAVA's
state changes, through LAVA's own model methods as lava-master makes them:

* worker online/offline: ``Worker.go_state_online`` / ``go_state_offline`` (an unknown
  worker is created, as lava-master does), ``last_ping``, ``version`` from HELLO;
* START_OK: ``TestJob.go_state_running``;
* END: ``description.yaml`` in the job's output directory (its existence is what marks the
  END as processed, for LAVA and for a restarted lava-rs-master), LAVA's
  ``parse_job_description``; a crashed job (empty description) ends Incomplete with
  lava-run's errors as failure comment;
* a START that cannot be sent: a ``lava``/``job`` test case with an Infrastructure error,
  and ``go_state_finished(Incomplete, infrastructure_error=True)``;
* a job whose final result never came (lava-logs lost it): ``go_state_finished``.

The job's result itself comes from LAVA's lava-logs, which finishes the job.
"""

from __future__ import annotations

import contextlib
import datetime
import lzma
import os
import tempfile
from typing import Any, Dict, Iterable, List, Optional, Tuple

import jinja2
import yaml
from django.db import transaction
from django.utils import timezone

from lava_common.compat import yaml_safe_dump, yaml_safe_load
from lava_results_app.models import TestCase, TestSuite
from lava_scheduler_app import environment
from lava_scheduler_app.dbutils import parse_job_description
from lava_scheduler_app.models import TestJob, Worker
from lava_server.files import File

#: The file whose presence means "END processed" (as for LAVA's lava-master).
DESCRIPTION = "description.yaml"


class StartError(Exception):
    """A START payload cannot be built; the message names the file and the fault."""


# ------------------------------------------------------------------------------ workers
def mark_all_workers_offline() -> None:
    """At start-up, as lava-master: nobody is online until heard from."""
    with transaction.atomic():
        for worker in Worker.objects.select_for_update():
            worker.go_state_offline()
            worker.save()


def worker_online(hostname: str, logger) -> None:
    with transaction.atomic():
        try:
            worker = Worker.objects.select_for_update().get(hostname=hostname)
        except Worker.DoesNotExist:
            Worker.objects.create(
                hostname=hostname,
                description="Created by lava-rs-master (%s)" % timezone.now(),
            )
            worker = Worker.objects.select_for_update().get(hostname=hostname)
            worker.log_admin_entry(None, "Created by lava-rs-master", addition=True)
            logger.warning("[STATE] worker <%s> was unknown: created", hostname)
        if worker.state == Worker.STATE_OFFLINE:
            worker.go_state_online()
        worker.last_ping = timezone.now()
        worker.save()
    logger.info("[STATE] worker <%s> is online", hostname)


def worker_offline(hostname: str, logger) -> None:
    with transaction.atomic():
        with contextlib.suppress(Worker.DoesNotExist):
            worker = Worker.objects.select_for_update().get(hostname=hostname)
            worker.go_state_offline()
            worker.save()
    logger.error("[STATE] worker <%s> goes offline", hostname)


def worker_version(hostname: str, version: Optional[str]) -> None:
    if version is not None:
        Worker.objects.filter(hostname=hostname).update(version=version)


def workers_pinged(hostnames: Iterable[str]) -> None:
    """``last_ping`` of the workers heard from since the last call."""
    hostnames = list(hostnames)
    if hostnames:
        Worker.objects.filter(hostname__in=hostnames).update(last_ping=timezone.now())


# ------------------------------------------------------------------------------ jobs
def job_running(job_id: int, logger) -> None:
    with transaction.atomic():
        try:
            job = TestJob.objects.select_for_update().get(id=job_id)
        except TestJob.DoesNotExist:
            logger.error("[%d] START_OK for a job that is not in the database", job_id)
            return
        job.go_state_running()
        job.save()
    logger.info("[%d] running", job_id)


def end_processed(job: TestJob) -> bool:
    """Whether this job's END was recorded (its description.yaml exists)."""
    return os.path.exists(os.path.join(job.output_dir, DESCRIPTION))


def job_ended(event: Dict[str, Any], logger) -> None:
    """The first END of a job: finish a crashed one, store its description."""
    job_id = event["job_id"]
    try:
        job = TestJob.objects.get(id=job_id)
    except TestJob.DoesNotExist:
        logger.error("[%d] END for a job that is not in the database", job_id)
        return
    if end_processed(job):
        logger.info("[%d] END already recorded (description.yaml exists)", job_id)
        return
    if event["crashed"]:
        logger.warning("[%d] END without description: lava-run crashed, job Incomplete", job_id)
        with transaction.atomic():
            job = TestJob.objects.select_for_update().get(id=job_id)
            job.go_state_finished(TestJob.HEALTH_INCOMPLETE)
            if event["errors"]:
                job.failure_comment = event["errors"]
            job.save()
    else:
        logger.info("[%d] END from <%s>", job_id, event["hostname"])
    description = b""
    if event["description"]:
        try:
            description = lzma.decompress(event["description"])
        except lzma.LZMAError as exc:
            # lava_rs already checked the frame; an xz stream that fails here is corrupt.
            logger.error("[%d] the END's description is not valid xz: %s", job_id, exc)
    try:
        _write_atomically(os.path.join(job.output_dir, DESCRIPTION), description)
    except OSError as exc:
        # As lava-master: the END is acked all the same (the slave would re-send it for
        # ever), and the admin learns why the description is missing.
        logger.error("[%d] cannot write %s: %s", job_id, DESCRIPTION, exc)
        return
    if description:
        parse_job_description(job)


def _write_atomically(path: str, data: bytes) -> None:
    """Writes `path` so that it exists only once complete (it marks END as processed)."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".description.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def job_failed(job_id: int, message: str, logger, infrastructure: bool = True) -> None:
    """The job cannot start: a lava/job failure result, then Finished Incomplete."""
    logger.error("[%d] %s", job_id, message)
    with transaction.atomic():
        try:
            job = TestJob.objects.select_for_update().get(id=job_id)
        except TestJob.DoesNotExist:
            return
        metadata = {
            "case": "job",
            "definition": "lava",
            "error_type": "Infrastructure",
            "error_msg": message,
            "result": "fail",
        }
        suite, _ = TestSuite.objects.get_or_create(name="lava", job=job)
        TestCase.objects.create(
            name="job", suite=suite, result=TestCase.RESULT_FAIL, metadata=yaml_safe_dump(metadata)
        )
        job.go_state_finished(TestJob.HEALTH_INCOMPLETE, infrastructure)
        job.save()


def job_result_lost(job_id: int, logger) -> None:
    """lava_rs's finish grace expired: lava-logs never finished this ended job."""
    with transaction.atomic():
        try:
            job = TestJob.objects.select_for_update().get(id=job_id)
        except TestJob.DoesNotExist:
            return
        if job.state == TestJob.STATE_FINISHED:
            return
        logger.error("[%d] the job ended but its result never reached lava-logs", job_id)
        job.go_state_finished(TestJob.HEALTH_INCOMPLETE)
        job.failure_comment = "the job ended on its worker but lava-logs never got its result"
        job.save()


def job_states(job_ids: Iterable[int]) -> Dict[int, int]:
    """The current state of each job (jobs deleted meanwhile are absent)."""
    job_ids = list(job_ids)
    if not job_ids:
        return {}
    return dict(TestJob.objects.filter(id__in=job_ids).values_list("id", "state"))


# ------------------------------------------------------------------------------ START
def _config(kind: str, worker: str) -> str:
    """A worker's dispatcher.yaml / env.yaml / env-dut.yaml (empty when there is none)."""
    data = File(kind, worker).read(raising=False)
    try:
        yaml_safe_load(data)
    except yaml.YAMLError as exc:
        raise StartError("invalid YAML in the %s file of worker %s: %s" % (kind, worker, exc))
    return data


def _save_job_config(job: TestJob, files: Dict[str, str]) -> None:
    """The files of the START in the job's output directory, as lava-master leaves them."""
    output_dir = job.output_dir
    os.makedirs(output_dir, mode=0o755, exist_ok=True)
    for name, text in files.items():
        if text:
            with open(os.path.join(output_dir, name), "w", encoding="utf-8") as out:
                out.write(text)


def _render_device(job: TestJob, context: Dict[str, Any]) -> str:
    device = job.actual_device
    try:
        template = environment.devices().get_template("%s.jinja2" % device.hostname)
        return template.render(**context)
    except jinja2.TemplateNotFound as exc:
        raise StartError("device dictionary or template not found: %s" % exc)
    except jinja2.TemplateSyntaxError as exc:
        raise StartError(
            "template syntax error in %s, line %s: %s" % (exc.name, exc.lineno, exc.message)
        )
    except jinja2.TemplateError as exc:
        raise StartError("cannot render the dictionary of %s: %s" % (device.hostname, exc))


def _definition(job: TestJob) -> Tuple[Dict[str, Any], str]:
    try:
        data = yaml_safe_load(job.definition)
    except yaml.YAMLError as exc:
        raise StartError("cannot parse the job definition: %s" % exc)
    if not isinstance(data, dict):
        raise StartError("the job definition is not a mapping")
    data["compatibility"] = job.pipeline_compatibility
    return data, yaml_safe_dump(data)


def start_payloads(job: TestJob) -> List[Tuple[TestJob, str, Dict[str, str]]]:
    """(job, worker, START payload) for a Scheduled job, and its multinode dynamic
    connections (a trimmed device configuration, same worker), as lava-master sends them.

    Raises StartError naming what is wrong; the job then fails with an Infrastructure error.
    """
    definition, job_text = _definition(job)
    try:
        worker = job.actual_device.worker_host.hostname
        device_text = _render_device(job, definition.get("context", {}) or {})
        env = _config("env", worker)
        env_dut = _config("env-dut", worker)
        dispatcher = _config("dispatcher", worker)
    except OSError as exc:
        raise StartError("cannot read %s: %s" % (exc.filename, exc.strerror))
    payload = {
        "job": job_text,
        "device": device_text,
        "dispatcher": dispatcher,
        "env": env,
        "env_dut": env_dut,
    }
    _save_job_config(job, _payload_files(payload))
    out = [(job, worker, payload)]
    if job.is_multinode:
        out.extend(_dynamic_connections(job, worker, device_text, payload))
    return out


def _payload_files(payload: Dict[str, str]) -> Dict[str, str]:
    return {
        "job.yaml": payload["job"],
        "device.yaml": payload["device"],
        "env.yaml": payload["env"],
        "env.dut.yaml": payload["env_dut"],
        "dispatcher.yaml": payload["dispatcher"],
    }


def _dynamic_connections(job: TestJob, worker: str, device_text: str, payload: Dict[str, str]):
    device_cfg = None
    for sub_job in job.sub_jobs_list:
        if sub_job.id == job.id or not sub_job.dynamic_connection:
            continue
        if sub_job.state != TestJob.STATE_SCHEDULED:
            continue
        if device_cfg is None:
            try:
                device_cfg = yaml_safe_load(device_text)
            except yaml.YAMLError as exc:
                raise StartError("the device configuration is not YAML: %s" % exc)
        _, sub_text = _definition(sub_job)
        trimmed = yaml_safe_dump(job.actual_device.minimise_configuration(device_cfg))
        sub_payload = dict(payload, job=sub_text, device=trimmed)
        _save_job_config(sub_job, _payload_files(sub_payload))
        yield (sub_job, worker, sub_payload)


def jobs_to_start(tracked) -> List[TestJob]:
    """Scheduled jobs with a device on an Online worker that lava_rs does not track yet."""
    query = (
        TestJob.objects.filter(
            state=TestJob.STATE_SCHEDULED,
            actual_device__worker_host__state=Worker.STATE_ONLINE,
        )
        .exclude(actual_device=None)
        .select_related("actual_device", "actual_device__worker_host")
        .order_by("id")
    )
    return [j for j in query if j.id not in tracked]


def jobs_to_cancel() -> List[Tuple[int, Optional[str]]]:
    """(job, worker) of every Canceling job; the worker of a dynamic connection is its host's."""
    out = []
    query = TestJob.objects.filter(state=TestJob.STATE_CANCELING).select_related(
        "actual_device__worker_host"
    )
    for job in query:
        if job.dynamic_connection:
            worker = job.lookup_worker
            out.append((job.id, worker.hostname if worker else None))
        elif job.actual_device is not None and job.actual_device.worker_host is not None:
            out.append((job.id, job.actual_device.worker_host.hostname))
    return out


def jobs_to_restore(ended_within_s: float) -> List[Tuple[int, str, str, bool]]:
    """(job, worker, phase, end processed) of the jobs lava_rs must track after a restart:
    Running and Canceling ones, and those Finished within `ended_within_s` seconds whose
    END was not recorded yet (their worker still owes it)."""
    since = timezone.now() - datetime.timedelta(seconds=ended_within_s)
    query = (
        TestJob.objects.filter(state__in=[TestJob.STATE_RUNNING, TestJob.STATE_CANCELING])
        | TestJob.objects.filter(state=TestJob.STATE_FINISHED, end_time__gte=since)
    ).select_related("actual_device__worker_host")
    out = []
    phases = {
        TestJob.STATE_RUNNING: "running",
        TestJob.STATE_CANCELING: "canceling",
        TestJob.STATE_FINISHED: "finished",
    }
    for job in query.order_by("id"):
        if job.dynamic_connection:
            worker = job.lookup_worker
            hostname = worker.hostname if worker else None
        elif job.actual_device is not None and job.actual_device.worker_host is not None:
            hostname = job.actual_device.worker_host.hostname
        else:
            hostname = None
        if hostname is None:
            continue
        processed = end_processed(job)
        if job.state == TestJob.STATE_FINISHED and processed:
            continue
        out.append((job.id, hostname, phases[job.state], processed))
    return out
