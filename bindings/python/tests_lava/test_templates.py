"""lava_rs.lava_server.templates standing in for LAVA's Jinja2 environments, in LAVA's code."""

import os
import pathlib

import pytest

CONTEXT = {"arch": "arm64", "extra_kernel_args": "quiet", "console_device": "ttyAMA0",
           "boot_character_delay": 30, "extra_nfsroot_args": ",vers=3"}


@pytest.fixture(scope="module")
def django_lava(server, tmp_path_factory):
    """Django set up in this process with the kit's settings (no database access)."""
    os.environ.setdefault("LAVA_SERVER_STATE", server["LAVA_SERVER_STATE"])
    os.environ["DJANGO_SETTINGS_MODULE"] = "settings"
    import django

    django.setup()
    tree = pathlib.Path(server["LAVA_SERVER_TREE"])
    from django.conf import settings
    from lava_server import files

    settings.DEVICES_PATH = str(tree / "tests" / "lava_scheduler_app" / "devices")
    settings.DEVICE_TYPES_PATHS = [str(tree / "etc" / "dispatcher-config" / "device-types")]
    files.File.KINDS["device"] = ([settings.DEVICES_PATH], "{name}.jinja2")
    files.File.KINDS["device-type"] = (settings.DEVICE_TYPES_PATHS, "{name}.jinja2")
    # LAVA's environments are made once, at import, over the paths of that time: make them
    # again over these paths, as LAVA's own tests do (tests/lava_scheduler_app/conftest.py).
    from lava_scheduler_app import environment

    environment.devices = lambda: lava_jinja2(
        [str(p) for p in files.File.KINDS["device"][0] + files.File.KINDS["device-type"][0]]
    )
    environment.device_types = lambda: lava_jinja2(
        [str(p) for p in files.File.KINDS["device-type"][0]]
    )
    return tree


def lava_jinja2(paths):
    """LAVA's own environment: Jinja2 over the same loader paths."""
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(paths), autoescape=False, trim_blocks=True)


def outcome(env, name, context):
    import jinja2

    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateNotFound:
        return "error: not found"
    except jinja2.TemplateSyntaxError:
        return "error: syntax"
    except jinja2.TemplateError:
        return "error: while rendering"


def test_every_lava_test_dictionary_renders_as_with_jinja2(django_lava):
    from lava_rs.lava_server import templates
    from lava_server.files import File

    paths = [str(p) for p in File.KINDS["device"][0] + File.KINDS["device-type"][0]]
    names = sorted(os.listdir(File.KINDS["device"][0][0]))
    assert len(names) > 50
    ours, theirs = templates.devices(), lava_jinja2(paths)
    different = []
    for name in names:
        for context in ({}, CONTEXT):
            if outcome(ours, name, context) != outcome(theirs, name, context):
                different.append((name, bool(context)))
    assert different == []


def test_device_methods_use_lava_rs_once_installed(django_lava):
    import jinja2
    from lava_rs.lava_server import templates
    from lava_scheduler_app import environment
    from lava_scheduler_app.dbutils import load_devicetype_template
    from lava_scheduler_app.models import Device

    original = (environment.devices, environment.device_types)
    jinja2_results = {
        h: (Device(hostname=h).load_configuration(CONTEXT), Device(hostname=h).is_valid())
        for h in ("bbb-01", "qemu01", "juno-r2-01", "no-such-device")
    }
    bbb = load_devicetype_template("beaglebone-black")
    try:
        templates.install()
        assert isinstance(environment.devices(), templates.Environment)
        for hostname, expected in jinja2_results.items():
            device = Device(hostname=hostname)
            assert (device.load_configuration(CONTEXT), device.is_valid()) == expected, hostname
        assert Device(hostname="no-such-device").load_configuration() is None
        assert load_devicetype_template("beaglebone-black") == bbb
        with pytest.raises(jinja2.TemplateNotFound):
            environment.devices().get_template("no-such-device.jinja2")
    finally:
        environment.devices, environment.device_types = original


def test_errors_are_jinja2_errors(django_lava, tmp_path):
    import jinja2
    from lava_rs.lava_server import templates

    (tmp_path / "broken.jinja2").write_text("{% if %}\n")
    (tmp_path / "missing-parent.jinja2").write_text("{% extends 'nowhere.jinja2' %}\n")
    env = templates.Environment([str(tmp_path)])
    with pytest.raises(jinja2.TemplateSyntaxError) as syntax:
        env.get_template("broken.jinja2").render()
    assert syntax.value.lineno == 1
    with pytest.raises(jinja2.TemplateNotFound):
        env.get_template("missing-parent.jinja2").render()
