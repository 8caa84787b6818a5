"""Putting lava_rs's scheduler where LAVA imports its own.

LAVA imports its scheduler by name (``from lava_scheduler_app.scheduler import schedule`` in
lava-master, LAVA's tests and any plugin). Instead of patching attributes after the fact,
which misses every ``from ... import`` done earlier, a finder on ``sys.meta_path`` answers
the import of ``lava_scheduler_app.scheduler`` with :mod:`lava_rs.lava_server.scheduler`:
LAVA's file is then never executed, and every importer gets the lava_rs functions.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import logging
import sys
from typing import Optional, Sequence

#: The module of LAVA 2020.05 that lava_rs replaces.
LAVA_SCHEDULER = "lava_scheduler_app.scheduler"
#: The module that replaces it.
LAVA_RS_SCHEDULER = "lava_rs.lava_server.scheduler"

logger = logging.getLogger("lava_rs.lava_server")


class _AliasLoader(importlib.abc.Loader):
    """Loads the lava_rs scheduler and hands it out under LAVA's name."""

    def create_module(self, spec):
        return importlib.import_module(LAVA_RS_SCHEDULER)

    def exec_module(self, module):
        # Already executed by import_module: the alias adds nothing to run.
        pass


class SchedulerFinder(importlib.abc.MetaPathFinder):
    """Answers ``import lava_scheduler_app.scheduler`` with the lava_rs scheduler."""

    def find_spec(
        self, fullname: str, path: Optional[Sequence[str]], target=None
    ) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname != LAVA_SCHEDULER:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(), origin=LAVA_RS_SCHEDULER)


def install() -> bool:
    """Makes every later import of LAVA's scheduler give lava_rs's; idempotent.

    Returns False (and logs a warning naming it) when LAVA's own module was already imported:
    the code that imported it keeps LAVA's functions, so the caller should install earlier
    (in ``INSTALLED_APPS`` order or as a pytest plugin).
    """
    if not any(isinstance(f, SchedulerFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, SchedulerFinder())
    current = sys.modules.get(LAVA_SCHEDULER)
    if current is not None and current.__name__ != LAVA_RS_SCHEDULER:
        logger.warning(
            "%s (LAVA's scheduler, %s) was imported before lava_rs.lava_server started: "
            "code that already imported it keeps LAVA's scheduler",
            LAVA_SCHEDULER,
            getattr(current, "__file__", "?"),
        )
        return False
    return True


def lava_scheduler_was_imported() -> bool:
    """Whether LAVA's own scheduler file was ever executed in this process."""
    module = sys.modules.get(LAVA_SCHEDULER)
    if module is not None and module.__name__ != LAVA_RS_SCHEDULER:
        return True
    return any(
        getattr(m, "__file__", None) and str(m.__file__).endswith("lava_scheduler_app/scheduler.py")
        for m in list(sys.modules.values())
    )
