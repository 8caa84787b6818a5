#!/usr/bin/env python3
"""Record LAVA 2020.05's own verdict on job definitions, as fixtures for lava-rs.

Run inside the real LAVA 2020.05 server's virtualenv with Django set up (see
scripts/job-verdicts.sh, which prepares all of that). For every job definition of the
corpus it runs:

- the submission path of `scheduler.submit_job`: `lava_scheduler_app.dbutils.
  testjob_submission(text, user)`, inside a database transaction that is rolled back, in a
  lab that has whatever the definition asks for (see `universal_lab`): the verdict is
  "accept" or "refuse", with the exception's class and message, and for a schema refusal
  every error voluptuous found (path and message);
- `lava_common.schemas.validate(data, strict)`, which LAVA's web UI shows as warnings
  beside an accepted submission and which `scheduler.jobs.validate` answers: for
  strict=True and strict=False, `null` or the error's path and message.

The corpus: LAVA's sample jobs and health checks (`tests/**/sample_jobs`,
`tests/lava_scheduler_app/health-checks`), job definitions written inline in LAVA's test
modules (string literals, and `+=` chains of them, found with `ast`), and lava-rs' own
mutations (`--mutations DIR`, one file per case).

LAVA's texts are not copied anywhere: a fixture names its source (path, or path and the
literals' positions) and the SHA-256 of the text; the Rust test reads the text from
../shared/reference at test time and checks the hash.

Usage: job_verdicts.py --lava-tree DIR --mutations DIR --out FILE
"""

import argparse
import ast
import contextlib
import hashlib
import io
import json
import os
import sys
import tokenize

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

import django  # noqa: E402

django.setup()

import voluptuous  # noqa: E402
import yaml  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.contrib.contenttypes.models import ContentType  # noqa: E402
from django.db import transaction  # noqa: E402
from lava_common import schemas  # noqa: E402
from lava_common.compat import yaml_safe_load  # noqa: E402
from lava_results_app.models import Query  # noqa: E402
from lava_scheduler_app.dbutils import testjob_submission  # noqa: E402
from lava_scheduler_app.models import Device, DeviceType, Tag, TestJob  # noqa: E402

# The most devices of one type the universal lab makes; a role asking for more meets
# "Not enough devices", which depends on the lab, not on the definition.
MAX_DEVICES = 16
JOB_KEYS = {"job_name", "actions", "device_type", "timeouts", "visibility", "protocols"}


class Rollback(Exception):
    """Raised to roll the transaction of one verdict back."""


def python_str(value):
    """What Django stores when given `value` for a character field."""
    return str(value)


def scalar(value):
    return isinstance(value, (str, int, float)) and not isinstance(value, bool) or isinstance(
        value, bool
    )


def universal_lab(text, user):
    """Create what the definition asks of the lab: its device types (with enough devices),
    tags, viewing groups, notification users and queries. Best effort: whatever cannot be
    read or created is left out, and LAVA's own code then says what it says."""
    try:
        data = yaml_safe_load(text)
    except Exception:
        return
    if not isinstance(data, dict):
        return
    wanted = {}  # device type name -> devices needed

    def want(name, count=1):
        if not scalar(name):
            return
        if isinstance(count, float) and count == count and count < MAX_DEVICES:
            count = int(count) + 1  # enough for LAVA's `len(devices) < count`
        if not isinstance(count, int) or count < 1:
            count = 1
        name = python_str(name)
        if len(name) <= 50:
            wanted[name] = max(wanted.get(name, 0), min(count, MAX_DEVICES))

    tags = set()

    def want_tags(items):
        if isinstance(items, list):
            for t in items:
                if scalar(t) and len(python_str(t)) <= 50:
                    tags.add(python_str(t))

    want(data.get("device_type"))
    want_tags(data.get("tags"))
    protocols = data.get("protocols")
    if isinstance(protocols, dict):
        multinode = protocols.get("lava-multinode")
        roles = multinode.get("roles") if isinstance(multinode, dict) else None
        if isinstance(roles, dict):
            for role in roles.values():
                if isinstance(role, dict):
                    with contextlib.suppress(TypeError):
                        want(role.get("device_type"), role.get("count", 1))
                    want_tags(role.get("tags"))
    visibility = data.get("visibility")
    groups = visibility.get("group") if isinstance(visibility, dict) else None
    if isinstance(groups, list):
        for g in groups:
            if scalar(g) and len(python_str(g)) <= 150:
                Group.objects.get_or_create(name=python_str(g))
    notify = data.get("notify")
    if isinstance(notify, dict):
        recipients = notify.get("recipients")
        if isinstance(recipients, list):
            for r in recipients:
                to = r.get("to") if isinstance(r, dict) else None
                u = to.get("user") if isinstance(to, dict) else None
                if scalar(u) and len(python_str(u)) <= 150:
                    User.objects.get_or_create(username=python_str(u))
        compare = notify.get("compare")
        query = compare.get("query") if isinstance(compare, dict) else None
        if isinstance(query, dict) and scalar(query.get("username")) and scalar(query.get("name")):
            owner, _ = User.objects.get_or_create(username=python_str(query["username"]))
            Query.objects.get_or_create(
                owner=owner,
                name=python_str(query["name"])[:1024],
                defaults={"content_type": ContentType.objects.get_for_model(TestJob)},
            )
    tag_objects = [Tag.objects.get_or_create(name=t)[0] for t in sorted(tags)]
    for name, count in sorted(wanted.items()):
        dt, _ = DeviceType.objects.get_or_create(name=name)
        for i in range(count):
            device, _ = Device.objects.get_or_create(
                hostname="%s-%02d" % (name[:40], i),
                defaults={"device_type": dt, "health": Device.HEALTH_GOOD},
            )
            device.tags.add(*tag_objects)


def path_json(path):
    out = []
    for p in path:
        if isinstance(p, (int, str)) and not isinstance(p, bool):
            out.append(p)
        else:
            out.append(repr(p))
    return out


def submission_verdict(text, user):
    result = None
    try:
        with transaction.atomic():
            try:
                universal_lab(text, user)
            except Exception as exc:  # the lab could not be made: say so, keep going
                raise Rollback("lab: %s: %s" % (type(exc).__name__, exc))
            try:
                testjob_submission(text, user)
                result = {"verdict": "accept"}
            except Exception as exc:
                result = {
                    "verdict": "refuse",
                    "exception": type(exc).__name__,
                    "message": str(exc),
                }
                inner = exc.args[0] if exc.args else None
                if isinstance(inner, voluptuous.MultipleInvalid):
                    result["errors"] = [
                        {"path": path_json(e.path), "msg": e.msg, "text": str(e)}
                        for e in inner.errors
                    ]
            raise Rollback()
    except Rollback as rb:
        if rb.args:
            result = {"verdict": "error", "message": rb.args[0]}
    return result


def schema_verdict(text, strict):
    try:
        data = yaml_safe_load(text)
    except Exception as exc:
        return {"exception": type(exc).__name__}
    try:
        schemas.validate(
            data, strict=strict, extra_context_variables=settings.EXTRA_CONTEXT_VARIABLES
        )
        return None
    except voluptuous.Invalid as exc:
        return {"path": str(exc.path), "msg": exc.msg}
    except Exception as exc:
        return {"exception": type(exc).__name__, "message": str(exc)}


# ------------------------------------------------------------------ corpus


def lava_files(tree):
    tests = os.path.join(tree, "tests")
    found = []
    for dirpath, _, files in os.walk(tests):
        rel = os.path.relpath(dirpath, tree)
        if not (rel.endswith("sample_jobs") or "/sample_jobs/" in rel + "/"
                or rel.endswith("health-checks")):
            continue
        for f in files:
            if f.endswith(".yaml") or f.endswith(".yml"):
                found.append(os.path.join(rel, f))
    for rel in sorted(found):
        with open(os.path.join(tree, rel), encoding="utf-8") as fh:
            yield "lava:" + rel, fh.read()


def string_literal_at(source_lines, lineno, col):
    """The text of the single string literal token starting at (lineno, col), or None."""
    rest = "".join(source_lines[lineno - 1:])[col:]
    tokens = tokenize.generate_tokens(io.StringIO(rest).readline)
    tok = next(tokens)
    if tok.type != tokenize.STRING:
        return None
    nxt = next(tokens)
    while nxt.type in (tokenize.NL, tokenize.COMMENT):
        nxt = next(tokens)
    if nxt.type == tokenize.STRING:  # implicit concatenation: not extractable simply
        return None
    prefix = tok.string[: len(tok.string) - len(tok.string.lstrip("rRbBuUfF"))]
    if any(c in prefix.lower() for c in "bf"):
        return None
    return ast.literal_eval(tok.string)


def looks_like_job(text):
    try:
        data = yaml_safe_load(text)
    except Exception:
        return False
    return isinstance(data, dict) and bool(JOB_KEYS & set(k for k in data if isinstance(k, str)))


def inline_corpus(tree):
    tests = os.path.join(tree, "tests")
    cache = {}
    for dirpath, _, files in sorted(os.walk(tests)):
        for f in sorted(files):
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                with open(path, encoding="utf-8") as fh:
                    cache[os.path.relpath(path, tree)] = fh.read().splitlines(keepends=True)
    for rel, lines in sorted(cache.items()):
        for key in _inline_keys_for(tree, rel):
            text = "".join(string_literal_at(lines, l, c) for (l, c) in key)
            if looks_like_job(text):
                where = "+".join("%d:%d" % (l, c) for (l, c) in key)
                yield "lava-inline:%s@%s" % (rel, where), text


def _inline_keys_for(tree, rel):
    """Positions of the multi-line string literals of one test module, and of `NAME =
    literal; NAME += literal …` chains (each prefix of a chain is a text of its own, as the
    tests validate it after each step)."""
    path = os.path.join(tree, rel)
    with open(path, encoding="utf-8") as fh:
        source = fh.read()
    lines = source.splitlines(keepends=True)
    module = ast.parse(source)
    seen = []

    def literal(node):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            return None
        if "\n" not in node.value:
            return None
        try:
            text = string_literal_at(lines, node.lineno, node.col_offset)
        except (tokenize.TokenError, SyntaxError, StopIteration):
            return None
        if text != node.value:
            return None
        return (node.lineno, node.col_offset)

    for scope in ast.walk(module):
        body = getattr(scope, "body", None)
        if not isinstance(body, list):
            continue
        chains = {}
        for stmt in body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(
                stmt.targets[0], ast.Name
            ):
                pos = literal(stmt.value)
                if pos:
                    chains[stmt.targets[0].id] = [pos]
                else:
                    chains.pop(stmt.targets[0].id, None)
            elif (isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, ast.Add)
                  and isinstance(stmt.target, ast.Name) and stmt.target.id in chains):
                pos = literal(stmt.value)
                if pos:
                    chains[stmt.target.id] = chains[stmt.target.id] + [pos]
                    key = tuple(chains[stmt.target.id])
                    if key not in seen:
                        seen.append(key)
                else:
                    chains.pop(stmt.target.id, None)
    for node in ast.walk(module):
        pos = literal(node)
        if pos and (pos,) not in seen:
            seen.append((pos,))
    return seen


def mutation_corpus(directory):
    for f in sorted(os.listdir(directory)):
        if f.endswith(".yaml"):
            with open(os.path.join(directory, f), encoding="utf-8") as fh:
                yield "mutation:" + f, fh.read()


def device_verdict(text):
    """What the scheduler's `Device.is_valid()` says of a rendered configuration, and what
    `lava-server manage devices check` (lava_common.schemas.device) says."""
    from lava_scheduler_app.schema import SubmissionException, validate_device
    from lava_common.schemas.device import validate as validate_common

    record = {}
    try:
        data = yaml_safe_load(text)
        validate_device(data)
        record["verdict"] = "accept"
    except (SubmissionException, yaml.YAMLError) as exc:
        record.update(verdict="refuse", exception=type(exc).__name__, message=str(exc))
        inner = exc.args[0] if exc.args else None
        if isinstance(inner, voluptuous.MultipleInvalid):
            record["errors"] = [
                {"path": path_json(e.path), "msg": e.msg, "text": str(e)} for e in inner.errors
            ]
        return record
    except Exception as exc:  # the scheduler would fail on it too
        record.update(verdict="refuse", exception=type(exc).__name__, message=str(exc))
        return record
    try:
        validate_common(data)
        record["check"] = None
    except voluptuous.Invalid as exc:
        record["check"] = {"path": str(exc.path), "msg": exc.msg}
    return record


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lava-tree", required=True)
    parser.add_argument("--mutations", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--device-configurations")
    parser.add_argument("--device-out")
    args = parser.parse_args()

    if args.device_configurations:
        with open(args.device_out, "w", encoding="utf-8") as out:
            for f in sorted(os.listdir(args.device_configurations)):
                with open(os.path.join(args.device_configurations, f), encoding="utf-8") as fh:
                    text = fh.read()
                record = {"source": f, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
                record.update(device_verdict(text))
                out.write(json.dumps(record, sort_keys=True) + "\n")

    user, _ = User.objects.get_or_create(username="lava-rs-conformance")
    corpus = list(lava_files(args.lava_tree))
    corpus += list(inline_corpus(args.lava_tree))
    corpus += list(mutation_corpus(args.mutations))
    counts = {}
    with open(args.out, "w", encoding="utf-8") as out:
        for key, text in corpus:
            record = {
                "source": key,
                "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            }
            record.update(submission_verdict(text, user))
            record["schema_strict"] = schema_verdict(text, True)
            record["schema"] = schema_verdict(text, False)
            counts[record["verdict"]] = counts.get(record["verdict"], 0) + 1
            out.write(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")
    print(
        "%d job definitions: %s"
        % (len(corpus), ", ".join("%s %d" % kv for kv in sorted(counts.items()))),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
