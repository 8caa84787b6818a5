"""A pytest plugin that runs LAVA's own tests with lava_rs's scheduler in place of LAVA's.

    python -m pytest -p lava_rs.lava_server.pytest_plugin --ds=settings \\
        tests/lava_scheduler_app/test_scheduler.py --lava-rs-report=report.json

Loaded before any test module, it makes every import of ``lava_scheduler_app.scheduler``
give :mod:`lava_rs.lava_server.scheduler` (see :mod:`~lava_rs.lava_server.swap`), so LAVA's
tests call lava_rs without a change. ``--lava-rs-templates`` also makes lava_rs render the
device dictionaries (as ``LAVA_RS_DEVICE_TEMPLATES``). At the end it reports how many passes
the Rust scheduler made, whether LAVA's scheduler module was ever imported and how many
dictionaries lava_rs rendered: ``--lava-rs-report=FILE`` writes that as JSON, and the
terminal summary prints it.
"""

from __future__ import annotations

import json
import sys

import pytest

from . import swap

# At import, before pytest collects LAVA's test modules (which import the scheduler).
swap.install()


def pytest_addoption(parser):
    parser.addoption(
        "--lava-rs-report",
        default=None,
        metavar="FILE",
        help="write JSON: Rust scheduler passes, whether LAVA's scheduler module was imported",
    )
    parser.addoption(
        "--lava-rs-templates",
        action="store_true",
        help="render device dictionaries with lava_rs.templates (LAVA_RS_DEVICE_TEMPLATES)",
    )


@pytest.fixture(autouse=True)
def _lava_rs_templates(request):
    """With --lava-rs-templates: lava_rs renders dictionaries in every test.

    LAVA's tests make their own Jinja2 environments in an autouse fixture of
    tests/lava_scheduler_app/conftest.py (``update_settings``); this one runs after it,
    where it exists, and puts lava_rs's in their place."""
    if not request.config.getoption("--lava-rs-templates"):
        yield
        return
    if "update_settings" in request.fixturenames:
        request.getfixturevalue("update_settings")
    from lava_scheduler_app import environment

    from . import templates

    saved = (environment.devices, environment.device_types)
    templates.install()
    yield
    environment.devices, environment.device_types = saved


def _report():
    module = sys.modules.get(swap.LAVA_RS_SCHEDULER)
    alias = sys.modules.get(swap.LAVA_SCHEDULER)
    templates = sys.modules.get("lava_rs.lava_server.templates")
    return {
        "rust_passes": getattr(module, "rust_passes", 0),
        "lava_rs_renders": getattr(templates, "renders", 0),
        "lava_scheduler_imported": swap.lava_scheduler_was_imported(),
        "lava_scheduler_app.scheduler": getattr(alias, "__name__", None),
        "lava_rs_file": getattr(sys.modules.get("lava_rs.lava_rs"), "__file__", None),
    }


def pytest_sessionfinish(session, exitstatus):
    path = session.config.getoption("--lava-rs-report")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(_report(), out, indent=1)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    report = _report()
    terminalreporter.write_line(
        "lava_rs: %d Rust scheduler passes; lava_scheduler_app.scheduler is %s; "
        "LAVA's scheduler module imported: %s; %d dictionaries rendered by lava_rs"
        % (
            report["rust_passes"],
            report["lava_scheduler_app.scheduler"],
            "yes" if report["lava_scheduler_imported"] else "no",
            report["lava_rs_renders"],
        )
    )
