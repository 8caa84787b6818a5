"""lava_rs.templates: render contract and device checks."""

import pytest

import lava_rs
from lava_rs import templates


def render_example(lab, context=None):
    return templates.render(
        str(lab / "devices" / "shell-01.jinja2"), [str(lab / "device-types")], context
    )


def test_render_example_dictionary(lab):
    yaml = render_example(lab)
    assert yaml.startswith("constants:\n")
    assert "echo hello from lava-rs" in yaml


def test_render_accepts_path_objects(lab):
    yaml = templates.render(lab / "devices" / "shell-01.jinja2", [lab / "device-types"])
    assert yaml == render_example(lab)


def test_render_with_dict_context(lab):
    yaml = render_example(lab, {"extra_kernel_args": "quiet"})
    assert "\nextra_kernel_args: quiet\n" in yaml
    assert "extra_kernel_args" not in render_example(lab)


def test_render_with_yaml_text_context(lab):
    as_text = render_example(lab, "extra_kernel_args: quiet\n")
    as_dict = render_example(lab, {"extra_kernel_args": "quiet"})
    assert as_text == as_dict


def test_dictionary_dir_comes_first(lab, tmp_path):
    (tmp_path / "dev.jinja2").write_text("{% extends 'shell.jinja2' %}\n")
    (tmp_path / "shell.jinja2").write_text("local: {{ 1 + 1 }}\n")
    out = templates.render(str(tmp_path / "dev.jinja2"), [str(lab / "device-types")])
    assert out == "local: 2"


def test_device_types_searched_in_order(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for d, text in ((first, "first: true\n"), (second, "second: true\n")):
        d.mkdir()
        (d / "t.jinja2").write_text(text)
    (second / "only.jinja2").write_text("only: second\n")
    dev = tmp_path / "devices"
    dev.mkdir()
    (dev / "d1.jinja2").write_text("{% extends 't.jinja2' %}")
    (dev / "d2.jinja2").write_text("{% extends 'only.jinja2' %}")
    assert templates.render(str(dev / "d1.jinja2"), [str(first), str(second)]) == "first: true"
    assert templates.render(str(dev / "d2.jinja2"), [str(first), str(second)]) == "only: second"


def test_missing_dictionary_raises_template_error(lab, tmp_path):
    with pytest.raises(lava_rs.TemplateError) as info:
        templates.render(str(tmp_path / "nope.jinja2"), [str(lab / "device-types")])
    assert isinstance(info.value, lava_rs.LavaError)
    assert info.value.kind == "not_found"
    assert "nope.jinja2" in str(info.value)


def test_missing_parent_template_names_it(tmp_path):
    (tmp_path / "dev.jinja2").write_text("{% extends 'absent-type.jinja2' %}\n")
    with pytest.raises(lava_rs.TemplateError) as info:
        templates.render(str(tmp_path / "dev.jinja2"), [])
    assert "absent-type.jinja2" in str(info.value)


def test_syntax_error_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.jinja2"
    bad.write_text("a: 1\nb: 2\nc: {% if %}\n")
    with pytest.raises(lava_rs.TemplateError) as info:
        templates.render(str(bad), [])
    err = info.value
    assert err.kind == "syntax"
    assert err.line == 3
    assert err.file.endswith("bad.jinja2")
    assert f"{err.file}:3:" in str(err)


def test_render_error_names_the_construct(tmp_path):
    bad = tmp_path / "bad.jinja2"
    bad.write_text("a: 1\nb: {{ missing.attribute }}\n")
    with pytest.raises(lava_rs.TemplateError) as info:
        templates.render(str(bad), [])
    assert info.value.line == 2
    assert info.value.construct is not None
    assert "missing.attribute" in info.value.construct


@pytest.mark.parametrize("context", [[1, 2], "- a\n- b\n", "just text", 42])
def test_context_must_be_a_mapping(lab, context):
    with pytest.raises(lava_rs.TemplateError) as info:
        render_example(lab, context)
    assert info.value.kind in ("bad_context", "not_a_mapping")


def test_context_that_is_not_data_is_a_type_error(lab):
    with pytest.raises(TypeError):
        render_example(lab, {"x": object()})


def test_check_valid_device(lab):
    check = templates.check_device(
        "shell-01", "shell", str(lab / "devices"), [str(lab / "device-types")]
    )
    assert check == {
        "valid": True,
        "has_template": True,
        "error": None,
        "file": None,
        "line": None,
    }


def test_check_device_without_type_template(lab):
    check = templates.check_device(
        "shell-01", "no-such-type", str(lab / "devices"), [str(lab / "device-types")]
    )
    assert check["valid"] is False
    assert check["has_template"] is False


def test_check_device_with_broken_dictionary(lab, tmp_path):
    (tmp_path / "broken-01.jinja2").write_text(
        "{% extends 'shell.jinja2' %}\n{% set x = %}\n"
    )
    check = templates.check_device(
        "broken-01", "shell", str(tmp_path), [str(lab / "device-types")]
    )
    assert check["valid"] is False
    assert check["has_template"] is True
    assert check["line"] == 2
    assert check["file"].endswith("broken-01.jinja2")
    assert "broken-01.jinja2" in check["error"]


def test_check_device_not_a_mapping(tmp_path):
    (tmp_path / "t.jinja2").write_text("- a list\n")
    (tmp_path / "d-01.jinja2").write_text("{% extends 't.jinja2' %}")
    check = templates.check_device("d-01", "t", str(tmp_path), [])
    assert check["valid"] is False
    assert check["has_template"] is True
    assert check["error"]
