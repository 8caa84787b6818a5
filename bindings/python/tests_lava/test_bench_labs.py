"""On the benchmark labs loaded into LAVA's models, lava_rs decides what LAVA decides."""

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
