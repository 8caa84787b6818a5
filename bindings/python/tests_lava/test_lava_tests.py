"""LAVA 2020.05's own scheduler tests, with lava_rs's scheduler in place of LAVA's."""

import json
import re
import xml.etree.ElementTree as ET

import pytest

from conftest import run_lava_tests

SCHEDULER_FILES = (
    "tests/lava_scheduler_app/test_scheduler.py",
    "tests/lava_scheduler_app/test_state_machine.py",
    "tests/lava_scheduler_app/test_device.py",
)


def counts(output):
    """pytest's final line as {"passed": n, "failed": n, ...}."""
    line = output.strip().splitlines()[-1]
    return {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|error|errors)", line)}


def outcomes(junit):
    """{test id: passed/failure/error/skipped} from a JUnit XML report."""
    out = {}
    for case in ET.parse(junit).iter("testcase"):
        state = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                state = child.tag
        out["%s::%s" % (case.get("classname"), case.get("name"))] = state
    return out


@pytest.mark.parametrize("templates", [False, True], ids=["jinja2", "lava_rs-templates"])
def test_lava_scheduler_tests_pass_with_the_rust_scheduler(server, tmp_path, templates):
    report = tmp_path / "report.json"
    run = run_lava_tests(server, SCHEDULER_FILES, plugin=True, report=report, templates=templates)
    print(run.stdout[-3000:])
    assert counts(run.stdout) == {"passed": 41}, run.stdout[-3000:] + run.stderr[-2000:]
    proof = json.loads(report.read_text())
    # The Rust scheduler took the decisions, and LAVA's scheduler.py never ran.
    assert proof["rust_passes"] > 0, proof
    assert proof["lava_scheduler_imported"] is False, proof
    assert proof["lava_scheduler_app.scheduler"] == "lava_rs.lava_server.scheduler", proof
    # With --lava-rs-templates, LAVA's Device methods rendered through lava_rs.
    assert (proof["lava_rs_renders"] > 0) == templates, proof


def test_the_plugin_is_what_makes_the_difference(server, tmp_path):
    """Without the plugin the same run uses LAVA's scheduler (the proof can tell)."""
    run = run_lava_tests(server, ["tests/lava_scheduler_app/test_scheduler.py", "-k",
                                  "test_without_health_checks"], plugin=False)
    assert counts(run.stdout) == {"passed": 1}, run.stdout[-2000:]
    assert "lava_rs:" not in run.stdout


def test_whole_lava_scheduler_app_folder_same_results_as_lava(server, tmp_path):
    lava = run_lava_tests(server, ["tests/lava_scheduler_app"], plugin=False,
                          junit=tmp_path / "lava.xml")
    ours = run_lava_tests(server, ["tests/lava_scheduler_app"], plugin=True,
                          junit=tmp_path / "lava_rs.xml", report=tmp_path / "report.json")
    print("LAVA's scheduler:", lava.stdout.strip().splitlines()[-1])
    print("lava_rs:         ", ours.stdout.strip().splitlines()[-1])
    theirs, mine = outcomes(tmp_path / "lava.xml"), outcomes(tmp_path / "lava_rs.xml")
    assert len(theirs) > 400, lava.stdout[-2000:]
    different = {t: (theirs.get(t), mine.get(t)) for t in set(theirs) | set(mine)
                 if theirs.get(t) != mine.get(t)}
    assert different == {}
    assert json.loads((tmp_path / "report.json").read_text())["rust_passes"] > 0
