"""Loaded into LAVA's models (the benchmark labs, a scenario), lava_rs decides what LAVA decides."""

import json
import os
import pathlib
import subprocess

import pytest

HERE = pathlib.Path(__file__).resolve().parent


def bench_labs():
    """../shared/bench-labs beside the checkout (or LAVA_BENCH_LABS)."""
    if os.environ.get("LAVA_BENCH_LABS"):
        return pathlib.Path(os.environ["LAVA_BENCH_LABS"])
    root = HERE.parents[2]
    for up in (root.parent, root.parent.parent, root.parent.parent.parent):
        if (up / "shared" / "bench-labs").is_dir():
            return up / "shared" / "bench-labs"
    pytest.fail("no benchmark labs: ../shared/bench-labs beside the checkout, or LAVA_BENCH_LABS")


@pytest.mark.parametrize("lab, started, checks", [("lab-50-100", 19, 1), ("lab-500-1000", 298, 56)])
def test_same_decisions_as_lavas_schedule(server, database, tmp_path, lab, started, checks):
    path = bench_labs() / (lab + ".json.gz")
    assert path.is_file(), path
    state = tmp_path / "state"
    (state / "media").mkdir(parents=True)
    env = dict(os.environ, LAVA_SERVER_DB_NAME=database, LAVA_SERVER_STATE=str(state),
               DJANGO_SETTINGS_MODULE="settings")
    env.pop("PYTHONPATH", None)
    out = tmp_path / "result.json"
    run = subprocess.run(
        [server["LAVA_SERVER_PYTHON"], "-W", "ignore", str(HERE / "benchlab.py"), str(path),
         "--repeat", "2", "--json", str(out)],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert out.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["same_decisions"], result
    # The numbers LAVA 2020.05 gave on these labs (shared/bench-labs/README.md).
    assert result["lava"]["jobs"] + result["lava"]["health_checks"] == started
    assert result["lava_rs"]["health_checks"] == checks
    assert result["lava_rs"]["rust_passes"] == 2


def test_permissions_vland_and_multinode_roles_as_lava(server, database, tmp_path):
    """Restricted devices and types, lava-vland jobs, a multinode group's roles (scenario.py)."""
    state = tmp_path / "state"
    (state / "media").mkdir(parents=True)
    env = dict(os.environ, LAVA_SERVER_DB_NAME=database, LAVA_SERVER_STATE=str(state),
               DJANGO_SETTINGS_MODULE="settings")
    env.pop("PYTHONPATH", None)
    out = tmp_path / "result.json"
    run = subprocess.run(
        [server["LAVA_SERVER_PYTHON"], "-W", "ignore", str(HERE / "scenario.py"), "--json", str(out)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["same"], result
    placed = {name: device for name, device, _ in result["lava_rs"]["jobs"]}
    # What the scenario is about, so that "same" cannot come from deciding nothing:
    assert placed["bob-vland-1G"] == "bbb-02"  # the only device whose interfaces serve 1G
    assert placed["alice-medium"] == "bbb-01"  # bbb-01 is the team's; bob is not in it
    assert "bob-panda" not in placed and placed["alice-panda"] == "panda01"
    assert "alice-vland-40G" not in placed
    assert {"group-server", "group-client"} <= set(placed)
    assert all("server" in r and "client" in r for r in result["lava_rs"]["roles"])
