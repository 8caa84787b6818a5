"""What the scheduler needs from device dictionaries, read once per change of the files.

LAVA asks ``Device.is_valid()`` (a full render and a schema check) and
``Device.get_health_check()`` (a parse of the dictionary for its ``extends``, then a file
read) for every free device at every pass: most of a pass's time on a large lab. Both answers
only depend on the files under ``DEVICES_PATH``, ``DEVICE_TYPES_PATHS`` and
``HEALTH_CHECKS_PATH``, so :class:`DictionaryMemo` keeps them until any of those files
changes (name, size or modification time), then asks LAVA's methods again.

A method replaced on the model (a site customisation, or LAVA's tests, which set
``Device.get_health_check`` to a function of their own) is called every time: the memo only
stands in for LAVA's own code.
"""

from __future__ import annotations

import os
from typing import Callable, Dict, List, Optional, Tuple

from django.conf import settings

from lava_scheduler_app.models import Device

# LAVA's own methods, as they were when lava_rs was imported.
_LAVA_IS_VALID = Device.is_valid
_LAVA_GET_HEALTH_CHECK = Device.get_health_check

_Stamp = Tuple[Tuple[str, Tuple[Tuple[str, int, int], ...]], ...]


def _directory_stamp(path: str) -> Tuple[Tuple[str, int, int], ...]:
    """(name, size, mtime in ns) of every file in `path`; empty when it does not exist."""
    try:
        with os.scandir(path) as entries:
            found = []
            for entry in entries:
                try:
                    st = entry.stat()
                except OSError:
                    continue
                found.append((entry.name, st.st_size, st.st_mtime_ns))
    except OSError:
        return ()
    found.sort()
    return tuple(found)


def files_stamp() -> _Stamp:
    """A value that changes whenever a dictionary, template or health check changes."""
    paths: List[str] = [settings.DEVICES_PATH, *settings.DEVICE_TYPES_PATHS, settings.HEALTH_CHECKS_PATH]
    return tuple((p, _directory_stamp(p)) for p in paths)


class DictionaryMemo:
    """Validity and health-check definition of each device, while the files stay the same."""

    def __init__(self, stamp: Callable[[], _Stamp] = files_stamp) -> None:
        self._stamp_of = stamp
        self._stamp: Optional[_Stamp] = None
        self._valid: Dict[str, bool] = {}
        self._health_check: Dict[str, Optional[str]] = {}

    def refresh(self) -> None:
        """Forgets every answer if a file changed since the last call (once per pass)."""
        stamp = self._stamp_of()
        if stamp != self._stamp:
            self._stamp = stamp
            self._valid.clear()
            self._health_check.clear()

    def is_valid(self, hostname: str, instance: Callable[[str], Device]) -> bool:
        """``Device.is_valid()``: the dictionary renders to a valid device configuration.

        `instance(hostname)` gives the Device when a replaced method must be called on it."""
        if Device.is_valid is not _LAVA_IS_VALID:
            return bool(instance(hostname).is_valid())
        ok = self._valid.get(hostname)
        if ok is None:
            ok = self._valid[hostname] = bool(_LAVA_IS_VALID(Device(hostname=hostname)))
        return ok

    def health_check(self, hostname: str, instance: Callable[[str], Device]) -> Optional[str]:
        """The device's health-check definition (``Device.get_health_check()``), or None."""
        if Device.get_health_check is not _LAVA_GET_HEALTH_CHECK:
            return instance(hostname).get_health_check()
        if hostname not in self._health_check:
            self._health_check[hostname] = _LAVA_GET_HEALTH_CHECK(Device(hostname=hostname))
        return self._health_check[hostname]
