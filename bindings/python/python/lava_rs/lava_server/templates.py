"""``lava_rs.templates`` standing in for the Jinja2 environments LAVA renders dictionaries with.

LAVA 2020.05 renders device dictionaries through two functions of
``lava_scheduler_app.environment``: ``devices()`` (a Jinja2 environment over
``DEVICES_PATH`` then ``DEVICE_TYPES_PATHS``: ``Device.load_configuration``, hence
``is_valid``, ``match_vlan_interface`` and lava-master's START) and ``device_types()`` (over
``DEVICE_TYPES_PATHS``: ``load_devicetype_template``). :func:`install` replaces both with
functions giving a :class:`Environment` that offers what LAVA calls on them,
``get_template(name).render(**context)``, and renders with a long-lived
``lava_rs.templates.Environment`` (parsed templates and outputs kept while files are
unchanged). Errors are raised as Jinja2's exception classes, which LAVA catches.

Switched on by the setting ``LAVA_RS_DEVICE_TEMPLATES = True`` (the app does it when Django
starts); off by default. The directories are LAVA's own (``lava_server.files.File.KINDS``).
"""

from __future__ import annotations

import os
import threading
from typing import Any, Dict, List, Tuple

import jinja2

import lava_rs


#: Renders made through this module in this process (tests read it).
renders = 0


class Template:
    """One dictionary or device-type template, rendered by lava_rs."""

    def __init__(self, environment: "Environment", name: str, filename: str) -> None:
        self.environment = environment
        self.name = name
        self.filename = filename

    def render(self, *args: Any, **kwargs: Any) -> str:
        """Jinja2's ``Template.render``: the context as a dict and/or keywords."""
        context = dict(*args, **kwargs)
        return self.environment.render(self.name, context)


class Environment:
    """The part of ``jinja2.Environment`` LAVA uses for dictionaries: ``get_template``."""

    def __init__(self, search_path: List[str], remember_outputs: bool = True) -> None:
        self.search_path = list(search_path)
        self._renderer = lava_rs.templates.Environment(self.search_path, remember_outputs)
        # Like Jinja2's template cache: a name found once is not looked up again (a file
        # removed since is reported by render, as TemplateNotFound).
        self._templates: Dict[str, Template] = {}

    def get_template(self, name: str, parent: Any = None, globals: Any = None) -> Template:
        template = self._templates.get(name)
        if template is None:
            found = self._renderer.find(name)
            if found is None:
                raise jinja2.TemplateNotFound(name)
            template = self._templates[name] = Template(self, name, found)
        return template

    def render(self, name: str, context: Dict[str, Any]) -> str:
        global renders
        renders += 1
        try:
            return self._renderer.render(name, context)
        except lava_rs.TemplateError as exc:
            raise _jinja2_error(exc, name) from exc


def _jinja2_error(exc: "lava_rs.TemplateError", name: str) -> jinja2.TemplateError:
    """The Jinja2 exception LAVA's code expects for a lava_rs template error."""
    if exc.kind == "not_found":
        return jinja2.TemplateNotFound(os.path.basename(exc.file or name))
    if exc.kind == "syntax":
        return jinja2.TemplateSyntaxError(
            str(exc), exc.line or 1, name=os.path.basename(exc.file or name), filename=exc.file
        )
    return jinja2.TemplateRuntimeError(str(exc))


_lock = threading.Lock()
_environments: Dict[Tuple[str, ...], Environment] = {}


def _environment(search_path: List[str]) -> Environment:
    """One environment per search path (settings may change, e.g. in tests)."""
    key = tuple(search_path)
    with _lock:
        env = _environments.get(key)
        if env is None:
            env = _environments[key] = Environment(list(key))
        return env


def _paths(kind: str) -> List[str]:
    # Where LAVA's own loaders look: lava_server.files.File.KINDS (set from the settings).
    from lava_server.files import File

    return [str(p) for p in File.KINDS[kind][0]]


def devices() -> Environment:
    """Stands for ``lava_scheduler_app.environment.devices()``."""
    return _environment(_paths("device") + _paths("device-type"))


def device_types() -> Environment:
    """Stands for ``lava_scheduler_app.environment.device_types()``."""
    return _environment(_paths("device-type"))


def install() -> None:
    """Makes LAVA render dictionaries and device-type templates with lava_rs."""
    from lava_scheduler_app import environment

    environment.devices = devices
    environment.device_types = device_types
