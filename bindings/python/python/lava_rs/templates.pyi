"""Device dictionaries and device-type templates, rendered as LAVA's Jinja2 does."""

import os
from typing import Any, Mapping, Optional, Sequence, TypedDict, Union

_Path = Union[str, os.PathLike[str]]

class DeviceCheck(TypedDict):
    valid: bool
    has_template: bool
    error: Optional[str]
    file: Optional[str]
    line: Optional[int]

def render(
    dictionary: _Path,
    device_types: Sequence[_Path],
    context: Union[Mapping[str, Any], str, None] = None,
) -> str:
    """Render the dictionary file; its own directory first, then `device_types`.

    Raises lava_rs.TemplateError (file, line, kind, construct)."""

def check_device(
    hostname: str, device_type: str, devices: _Path, device_types: Sequence[_Path]
) -> DeviceCheck:
    """Whether the type has a template and the dictionary renders to a YAML mapping."""

class Environment:
    """A long-lived renderer over directories searched in order (Jinja2's FileSystemLoader).

    Parsed templates are kept and reloaded when a file changes; with `remember_outputs`,
    outputs are kept per (dictionary, context) while their templates are unchanged."""

    def __init__(self, search_path: Sequence[_Path], remember_outputs: bool = True) -> None: ...
    def render(self, name: str, context: Union[Mapping[str, Any], str, None] = None) -> str:
        """Render template `name` (e.g. "qemu01.jinja2"); raises lava_rs.TemplateError."""
    def find(self, name: str) -> Optional[str]:
        """The file `name` comes from, or None."""
    @property
    def search_path(self) -> list[str]: ...
