"""The exception hierarchy: one class per kind of Rust error, all under LavaError."""

import pytest

import lava_rs


@pytest.mark.parametrize(
    "name", ["TemplateError", "JobDefinitionError", "FrameError", "LogError"]
)
def test_every_error_is_a_lava_error(name):
    cls = getattr(lava_rs, name)
    assert issubclass(cls, lava_rs.LavaError)
    assert issubclass(lava_rs.LavaError, Exception)
    assert cls.__name__ == name
    assert cls.__doc__


def test_error_classes_are_distinct():
    classes = {
        lava_rs.TemplateError,
        lava_rs.JobDefinitionError,
        lava_rs.FrameError,
        lava_rs.LogError,
    }
    assert len(classes) == 4
    assert lava_rs.LavaError not in classes


def test_submodules_import_both_ways():
    from lava_rs.jobs import validate
    from lava_rs.protocol import decode
    from lava_rs.templates import render

    assert render is lava_rs.templates.render
    assert validate is lava_rs.jobs.validate
    assert decode is lava_rs.protocol.decode
    assert lava_rs.__version__.count(".") == 2


def test_functions_have_docstrings():
    for module in (lava_rs.templates, lava_rs.jobs, lava_rs.protocol):
        assert module.__doc__
        for name in dir(module):
            obj = getattr(module, name)
            if callable(obj):
                assert obj.__doc__, f"{module.__name__}.{name}"
