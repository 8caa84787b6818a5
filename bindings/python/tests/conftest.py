"""Shared fixtures: the example lab of the repository (examples/lab)."""

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
LAB = ROOT / "examples" / "lab"


@pytest.fixture
def lab():
    """The example lab: device-types/, devices/ and job.yaml."""
    assert (LAB / "device-types" / "shell.jinja2").is_file(), LAB
    return LAB


@pytest.fixture
def job_text(lab):
    """The example job definition, as text."""
    return (lab / "job.yaml").read_text()
