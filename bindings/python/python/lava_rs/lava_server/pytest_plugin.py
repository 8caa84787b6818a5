"""A pytest plugin that runs LAVA's own tests with lava_rs's scheduler in place of LAVA's.

    python -m pytest -p lava_rs.lava_server.pytest_plugin --ds=settings \\
        tests/lava_scheduler_app/test_scheduler.py --lava-rs-report=report.json

Loaded before any test module, it makes every import of ``lava_scheduler_app.scheduler``
give :mod:`lava_rs.lava_server.scheduler` (see :mod:`~lava_rs.lava_server.swap`), so LAVA's
tests call lava_rs without a change. At the end it reports how many passes the Rust
scheduler made and whether LAVA's scheduler module was ever imported:
``--lava-rs-report=FILE`` writes that as JSON, and the terminal summary prints it.
"""

from __future__ import annotations

import json
import sys

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


def _report():
    module = sys.modules.get(swap.LAVA_RS_SCHEDULER)
    alias = sys.modules.get(swap.LAVA_SCHEDULER)
    return {
        "rust_passes": getattr(module, "rust_passes", 0),
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
        "LAVA's scheduler module imported: %s"
        % (
            report["rust_passes"],
            report["lava_scheduler_app.scheduler"],
            "yes" if report["lava_scheduler_imported"] else "no",
        )
    )
