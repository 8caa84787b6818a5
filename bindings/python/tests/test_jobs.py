"""lava_rs.jobs: validation with field and line, multinode splitting."""

import pytest

import lava_rs
from lava_rs import jobs

MULTINODE = """\
job_name: mn
timeouts:
  job: {minutes: 10}
visibility: public
protocols:
  lava-multinode:
    roles:
      server: {device_type: shell, count: 1}
      client: {device_type: shell, count: 2, tags: [big]}
actions:
- command:
    name: hello
    role: [server, client]
"""


def test_validate_example_job(job_text):
    job = jobs.validate(job_text)
    assert job["job_name"] == "hello from lava-rs"
    assert job["device_type"] == "shell"
    assert job["priority"] == 50
    assert job["visibility"] == "public"
    assert job["tags"] == []
    assert job["job_timeout"] == 5 * 60
    assert job["multinode"] is None
    assert job["definition"]["actions"] == [{"command": {"name": "hello"}}]
    assert job["definition"]["timeouts"]["action"] == {"minutes": 2}


@pytest.mark.parametrize(
    "name,number", [("low", 0), ("medium", 50), ("high", 100), ("7", 7)]
)
def test_priorities(job_text, name, number):
    job = jobs.validate(job_text.replace("priority: medium", f"priority: {name}"))
    assert job["priority"] == number


def test_group_visibility_and_tags(job_text):
    text = job_text.replace(
        "visibility: public", "visibility:\n  group: [lab, qa]\ntags: [usb, big]"
    )
    job = jobs.validate(text)
    assert job["visibility"] == {"group": ["lab", "qa"]}
    assert sorted(job["tags"]) == ["big", "usb"]


def line_of(text, needle):
    return text.splitlines().index(needle) + 1


@pytest.mark.parametrize(
    "old,new,field",
    [
        ("priority: medium", "priority: 300", "priority"),
        ("    minutes: 5", "    minutes: five", "timeouts.job.minutes"),
        ("visibility: public", "visibility: everyone", "visibility"),
    ],
)
def test_invalid_field_names_field_and_line(job_text, old, new, field):
    text = job_text.replace(old, new)
    assert text != job_text
    with pytest.raises(lava_rs.JobDefinitionError) as info:
        jobs.validate(text)
    err = info.value
    assert isinstance(err, lava_rs.LavaError)
    assert err.field == field
    assert err.line == line_of(text, new)
    assert field in str(err)


def test_missing_required_key(job_text):
    text = job_text.replace("job_name: hello from lava-rs\n", "")
    with pytest.raises(lava_rs.JobDefinitionError) as info:
        jobs.validate(text)
    assert info.value.field == "job_name"


def test_unknown_top_level_key(job_text):
    text = job_text + "bogus: 1\n"
    with pytest.raises(lava_rs.JobDefinitionError) as info:
        jobs.validate(text)
    assert info.value.field == "bogus"
    assert info.value.line == line_of(text, "bogus: 1")


@pytest.mark.parametrize("text", ["a: [1,\n b: 2\n", "- 1\n- 2\n", "", "just words"])
def test_not_a_job_at_all(text):
    with pytest.raises(lava_rs.JobDefinitionError):
        jobs.validate(text)


def test_validate_multinode_roles():
    job = jobs.validate(MULTINODE)
    assert job["device_type"] is None
    roles = {r["name"]: r for r in job["multinode"]}
    assert roles["server"]["count"] == 1
    assert roles["client"]["count"] == 2
    assert roles["client"]["tags"] == ["big"]
    assert roles["client"]["device_type"] == "shell"


def test_split_multinode():
    subs = jobs.split_multinode(MULTINODE, "group-1")
    assert len(subs) == 3
    assert sorted(s["sub_id"] for s in subs) == [0, 1, 2]
    assert sorted(s["role"] for s in subs) == ["client", "client", "server"]
    for sub in subs:
        assert sub["device_type"] == "shell"
        # The split definition carries the group's facts for lava-run (it is not a
        # submission any more: the schema refuses target_group, as LAVA's does).
        text = sub["definition"]
        assert "    target_group: group-1\n" in text
        assert f"    role: {sub['role']}\n" in text
        assert f"    sub_id: {sub['sub_id']}\n" in text
        assert "    group_size: 3\n" in text
        assert "mn" in text


def test_split_single_node_gives_nothing(job_text):
    assert jobs.split_multinode(job_text, "g") == []


def test_split_invalid_definition_raises():
    with pytest.raises(lava_rs.JobDefinitionError) as info:
        jobs.split_multinode(MULTINODE.replace("count: 2", "count: many"), "g")
    assert "count" in info.value.field


def test_warnings_for_what_the_dispatcher_refuses(job_text):
    # LAVA's server accepts a namespace on some actions only; its dispatcher side does not.
    assert jobs.validate(job_text)["warnings"] == []
    text = job_text.replace("    name: hello\n", "    name: hello\n    namespace: target\n", 1)
    text += "- command:\n    name: bye\n"
    assert "namespace" in text
    job = jobs.validate(text)
    assert job["warnings"][0]["message"] == (
        "When using namespaces, every action should have a namespace"
    )


def test_lava_reason_words(job_text):
    with pytest.raises(lava_rs.JobDefinitionError) as info:
        jobs.validate(job_text + "frobnicate: 1\n")
    assert "extra keys not allowed @ data['frobnicate']" in str(info.value)


def test_python_types_of_yaml_1_1(job_text):
    text = job_text + "secrets:\n  key: !!binary aGVsbG8=\n"
    text = text.replace("visibility: public", "visibility: personal")
    job = jobs.validate(text)
    assert job["definition"]["secrets"]["key"] == b"hello"
