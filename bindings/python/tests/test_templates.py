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


def test_environment_renders_as_render(lab):
    env = templates.Environment([lab / "devices", lab / "device-types"])
    context = {"extra_kernel_args": "quiet"}
    assert env.render("shell-01.jinja2", context) == render_example(lab, context)
    assert env.render("shell-01.jinja2") == render_example(lab)
    assert env.find("shell.jinja2") is not None
    assert env.find("nowhere.jinja2") is None
    assert [str(p) for p in env.search_path] == [str(lab / "devices"), str(lab / "device-types")]


@pytest.mark.parametrize("remember", [True, False])
def test_environment_sees_a_changed_file(tmp_path, remember):
    (tmp_path / "t.jinja2").write_text("value: {{ v | default(1) }}\n")
    (tmp_path / "d.jinja2").write_text("{% extends 't.jinja2' %}\n")
    env = templates.Environment([tmp_path], remember_outputs=remember)
    assert env.render("d.jinja2") == "value: 1"
    assert env.render("d.jinja2", {"v": 2}) == "value: 2"
    (tmp_path / "t.jinja2").write_text("changed: {{ v | default(1) }} and a longer line\n")
    assert env.render("d.jinja2") == "changed: 1 and a longer line"


def test_environment_errors(tmp_path):
    (tmp_path / "bad.jinja2").write_text("{% if %}\n")
    env = templates.Environment([tmp_path])
    with pytest.raises(lava_rs.TemplateError) as missing:
        env.render("nowhere.jinja2")
    assert missing.value.kind == "not_found"
    with pytest.raises(lava_rs.TemplateError) as syntax:
        env.render("bad.jinja2")
    assert (syntax.value.kind, syntax.value.line) == ("syntax", 1)


def test_dict_context_reads_as_its_yaml_text(tmp_path):
    """A dict context (read directly) gives what the same data as YAML text gives."""
    (tmp_path / "d.jinja2").write_text(
        "{% for k, v in m.items() %}{{ k }}={{ v }};{% endfor %}\n"
        "{{ l }} {{ f }} {{ b }} {{ big }} {{ t }}\n"
    )
    data = {
        "m": {"z": 1, "a": [1, "x", None], "k": {"nested": True}},
        "l": (1, 2.5, "three"),
        "f": 1e16,
        "b": False,
        "big": 2**70,
        "t": "ü \\ '",
    }
    as_text = "m: {z: 1, a: [1, x, null], k: {nested: true}}\nl: [1, 2.5, three]\nf: 1.0e+16\n" \
        "b: false\nbig: %d\nt: \"ü \\\\ '\"\n" % 2**70
    env = templates.Environment([tmp_path])
    assert env.render("d.jinja2", data) == env.render("d.jinja2", as_text)
    assert env.render("d.jinja2", data).startswith("z=1;a=[1, 'x', None];k={'nested': True};")


def test_dict_context_none_is_none_as_in_jinja2(tmp_path):
    (tmp_path / "d.jinja2").write_text("{{ n }}|{{ n is none }}|{{ n is defined }}|{{ [n] }}\n")
    env = templates.Environment([tmp_path])
    assert env.render("d.jinja2", {"n": None}) == "None|True|True|[None]"
