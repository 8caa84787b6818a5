"""lava_rs.harness: a whole lab (lava-master, lava-slave, lava-admin) from pytest.

test.sh builds the binaries and sets LAVA_RS_BIN_DIR; without it the harness looks in
PATH, and these tests fail (not skip) when the binaries cannot be found.
"""

import pytest

import lava_rs
from lava_rs.harness import Lab, LabError


def setup_shell_device(lab_dir, lab):
    lab.add_device_type("shell", template=lab_dir / "device-types" / "shell.jinja2")
    lab.add_device(
        "shell-01", "shell", "worker-01", dictionary=lab_dir / "devices" / "shell-01.jinja2"
    )


def test_job_runs_to_complete(lab, job_text):
    with Lab(workers=["worker-01"]) as running:
        setup_shell_device(lab, running)
        job_id = running.submit(job_text)
        job = running.wait(job_id, timeout=120)
        assert job["state"] == "Finished"
        assert job["health"] == "Complete"
        assert job["actual_device"] == "shell-01"
        assert running.logs(job_id).strip()
        data_dir = running.data_dir
    assert not data_dir.exists()


def test_failing_job_is_incomplete(lab, job_text):
    with Lab(env={"LAVA_RUN_DOUBLE_MODE": "fail"}) as running:
        setup_shell_device(lab, running)
        job = running.wait(running.submit(job_text), timeout=120)
        assert job["state"] == "Finished"
        assert job["health"] == "Incomplete"


def test_admin_errors_name_the_command():
    with Lab() as running:
        with pytest.raises(LabError) as info:
            running.add_device("d-01", "no-such-type", "worker-01")
        assert "devices add d-01" in str(info.value)
        assert isinstance(info.value, lava_rs.LavaError)


def test_missing_binaries_are_named(tmp_path):
    with pytest.raises(LabError) as info:
        Lab(bin_dir=tmp_path)
    assert "lava-admin" in str(info.value)
