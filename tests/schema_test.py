#!/usr/bin/env python3
"""Keeps scenarios/schema/scenario.schema.json true to scenarios/parser.cc.

  * every scenario the parser accepts (scenarios/*.yaml,
    tests/fixtures/scenarios/good/*.yaml and the replayable regressions in
    tests/fixtures/scenarios/regressions/) must be valid under the schema;
  * every malformed fixture in SCHEMA_REJECTS (tests/fixtures/scenarios/bad/)
    must be rejected by the schema;
  * a few inline cases pin the duration grammar of model.cc's parse_duration.

The other bad fixtures are errors the schema cannot see (YAML syntax, cross-
field rules, group references); NOT_SCHEMA says why for each. A bad fixture in
neither list is reported as a note, not a failure: classify it here when you
add it.

YAML is loaded the way an editor's YAML 1.2 language server types it (core
schema: true/false, null, ints, floats; yes/no/on/off are strings), not the
YAML 1.1 way PyYAML does by default, under which `off` and `yes` would be
booleans. Duplicate keys are an error, as in the parser.

Usage: schema_test.py [REPO_ROOT]   (default: the parent of this file's dir)
Needs the Debian packages python3-jsonschema and python3-yaml.
"""

import json
import pathlib
import re
import sys

try:
    import jsonschema
    import yaml
except ImportError as e:  # pragma: no cover - environment problem, said clearly
    sys.stderr.write(
        "schema_test: cannot import %s; install the Debian packages python3-jsonschema and python3-yaml\n"
        % e.name)
    sys.exit(1)

SCHEMA = pathlib.Path("scenarios/schema/scenario.schema.json")
GOOD_DIRS = [pathlib.Path("scenarios"), pathlib.Path("tests/fixtures/scenarios/good"),
             pathlib.Path("tests/fixtures/scenarios/regressions")]
BAD_DIR = pathlib.Path("tests/fixtures/scenarios/bad")
VERDICTS_DIR = pathlib.Path("tests/fixtures/scenarios/verdicts")

# Malformed fixtures the schema must reject, with what it catches.
SCHEMA_REJECTS = {
    "tcp-unknown-sysctl.yaml": "a sysctl the sim does not model",
    "tcp-sysctl-out-of-range.yaml": "a sysctl value outside its range",
    "bad-name.yaml": "scenario name with a space and capitals",
    "bandwidth-on-sim.yaml": "bandwidth fault on the simulated transport",
    "bare-number-duration.yaml": "duration without a unit (a number, not a string)",
    "bool-not-bool.yaml": "'yes' is not a boolean",
    "client-key-now-an-option.yaml": "request_every at the group's top level, not under options",
    "count-zero.yaml": "client count below 1",
    "duration-with-space.yaml": "duration '5 sec'",
    "empty.yaml": "an empty document (null) is not a map",
    "field-of-other-fault-kind.yaml": "burst_max on a loss fault",
    "handler-exception-no-trigger.yaml": "handler-exception without probability or nth",
    "jitter-bound-zero.yaml": "normal jitter with bound 0ms",
    "jitter-field-of-other-distribution.yaml": "max on normal jitter",
    "latency-on-sim.yaml": "latency fault on the simulated transport (the default)",
    "list-where-map.yaml": "server given as a list",
    "burst-loss-on-asio.yaml": "burst-loss fault on the real transport",
    "missing-name.yaml": "no scenario name",
    "missing-server-kind.yaml": "no server.kind",
    "negative-backlog.yaml": "backlog below 0",
    "negative-duration.yaml": "quiesce '-5s'",
    "no-clients.yaml": "empty client list",
    "null-value.yaml": "duration with no value",
    "option-wrong-type.yaml": "heartbeat_interval 'fast' is not a duration",
    "partition-without-duration.yaml": "partition without duration",
    "probability-above-one.yaml": "loss rate 1.5",
    "proxy-field-on-echo.yaml": "backend_connect_timeout in an echo server's options",
    "reaped-without-reader-idle.yaml": "half_open_reaped_within_grace without options.idle.reader",
    "seed-and-seeds.yaml": "both seed and seeds",
    "seeds-not-integers.yaml": "seed 'two'",
    "server-key-now-an-option.yaml": "idle at the server's top level, not under options",
    "server-vanish-on-asio.yaml": "server-vanish on the real transport",
    "time-scale-zero.yaml": "time_scale 0",
    "top-level-list.yaml": "top level is a list",
    "unknown-fault-field.yaml": "fault field 'rat'",
    "unknown-fault-kind.yaml": "fault kind 'packet-loss'",
    "unknown-handler-event.yaml": "pipeline event 'reed'",
    "unknown-ledger-reason.yaml": "close reason 'accept-failures'",
    "unknown-option.yaml": "client option 'request_evry'",
    "unknown-server-key.yaml": "server.options.idle key 'reeder'",
    "unknown-top-level-key.yaml": "top-level key 'durration'",
    "unknown-transport.yaml": "transport 'ns3'",
}

# Malformed fixtures the schema cannot reject, and why.
NOT_SCHEMA = {
    "tcp-sysctl-on-ns3.yaml": "a sysctl with tcp.profile ns3 (a rule across two keys)",
    "keepalive-on-ns3.yaml": "keepalive with tcp.profile ns3 (a rule across two keys)",
    "tcp-rto-min-above-max.yaml": "a minimum RTO above the maximum (a rule across two keys)",
    "keepalive-not-whole-seconds.yaml": "a keepalive time that is not whole seconds (the parser's unit rule)",
    "keepalive-with-time-scale.yaml": "keepalive with asio and a time_scale other than 1 (a rule across keys)",
    "nested-too-deep.yaml": "a limit of the YAML reader (nesting depth), not of the document's shape",
    "yaml-reader-hang.yaml": "not a scenario at all: input that makes yaml-cpp 0.7.0 loop (the reader stops it)",
    "bad-enum.yaml": "a client behaviour nobody registered (any name may be registered)",
    "bad-indentation.yaml": "YAML syntax error",
    "burst-max-below-min.yaml": "cross-field: burst_max >= burst_min",
    "close-at-after-end.yaml": "cross-field: close.at before duration",
    "duplicate-group.yaml": "group names unique",
    "duplicate-key.yaml": "duplicate YAML key (the loader, not the schema, rejects it)",
    "fault-after-end.yaml": "cross-field: fault at before duration",
    "hosts-above-count.yaml": "cross-field: hosts <= count",
    "option-rejected-by-factory.yaml": "the behaviour's factory: reconnect.max >= reconnect.initial",
    "tab-indentation.yaml": "YAML syntax (tab in indentation)",
    "two-documents.yaml": "more than one YAML document",
    "unclosed-flow.yaml": "YAML syntax error",
    "unknown-server-kind.yaml": "a server kind nobody registered (any name may be registered)",
    "unknown-target.yaml": "target names a group that does not exist",
}

# parse_duration (scenarios/model.cc): digits with at most one '.', then
# exactly one of us, ms, s, m, h. `duration` must also be greater than 0.
DURATIONS_OK = ["250us", "100ms", "1.5s", "2m", "1h", "5.s", ".5s", "0.5ms", "24h", "1440m"]
DURATIONS_BAD = ["5", "5 s", "5sec", "-1s", "s", "", "1.5.2s", "5S", "10min", "1d", "0s", "0.0ms", ".s", "1e3s"]


class Yaml12Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema scalars and duplicate-key errors."""


Yaml12Loader.yaml_implicit_resolvers = {}
_RESOLVERS = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     list("-+.0123456789")),
]
for _tag, _regexp, _first in _RESOLVERS:
    Yaml12Loader.add_implicit_resolver(_tag, re.compile(_regexp), _first)


def _int12(loader, node):
    v = loader.construct_scalar(node)
    if v.startswith("0o"):
        return int(v[2:], 8)
    if v.startswith("0x"):
        return int(v[2:], 16)
    return int(v, 10)


def _float12(loader, node):
    v = loader.construct_scalar(node)
    low = v.lower()
    if low.endswith(".inf"):
        return float("-inf") if low.startswith("-") else float("inf")
    if low == ".nan":
        return float("nan")
    return float(v)


def _mapping_without_duplicates(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                "duplicate key %r (first at line %d)" % (key, seen[key] + 1), key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _int12)
Yaml12Loader.add_constructor("tag:yaml.org,2002:float", _float12)
Yaml12Loader.construct_mapping = _mapping_without_duplicates


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=Yaml12Loader)


def where(error):
    path = "".join("[%d]" % p if isinstance(p, int) else ".%s" % p for p in error.absolute_path)
    return path.lstrip(".") or "(top level)"


def errors_of(validator, doc, limit=4):
    errs = sorted(validator.iter_errors(doc), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return ["%s: %s" % (where(e), e.message) for e in errs[:limit]]


def main(argv):
    root = pathlib.Path(argv[1] if len(argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
    failures = []
    notes = []

    schema_path = root / SCHEMA
    try:
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)
    except (OSError, ValueError, jsonschema.exceptions.SchemaError) as e:
        print("FAIL %s: not a valid draft 2020-12 schema: %s" % (schema_path, e))
        return 1
    validator = jsonschema.Draft202012Validator(schema)

    # (a) what the parser accepts, the schema accepts.
    good = []
    for d in GOOD_DIRS:
        good += sorted(p for p in (root / d).glob("*") if p.suffix in (".yaml", ".yml"))
    # The verdict table's scenarios that validate (its "# expect: error" rows
    # are parser errors the schema cannot see: cross-field rules, limits).
    for p in sorted((root / VERDICTS_DIR).glob("*.yaml")):
        if "# expect: error" not in p.read_text(encoding="utf-8"):
            good.append(p)
    if len(good) < 2:
        failures.append("FAIL found only %d good scenario files under %s" % (len(good), root))
    for path in good:
        try:
            doc = load(path)
        except yaml.YAMLError as e:
            failures.append("FAIL %s: cannot be loaded: %s" % (path, str(e).replace("\n", " ")))
            continue
        errs = errors_of(validator, doc)
        if errs:
            failures.append("FAIL %s: in a directory of valid scenarios, but the schema rejects it:\n      %s"
                            % (path, "\n      ".join(errs)))

    # (b) the malformed fixtures the schema can see, it rejects.
    bad_dir = root / BAD_DIR
    for name, what in sorted(SCHEMA_REJECTS.items()):
        path = bad_dir / name
        if not path.exists():
            failures.append("FAIL %s: listed in SCHEMA_REJECTS but missing" % path)
            continue
        try:
            doc = load(path)
        except yaml.YAMLError as e:
            failures.append("FAIL %s: cannot be loaded, so the schema never sees it (%s); move it to NOT_SCHEMA"
                            % (path, str(e).splitlines()[0]))
            continue
        if validator.is_valid(doc):
            failures.append("FAIL %s: malformed scenario accepted by the schema (expected it to catch: %s)"
                            % (path, what))
    present = {p.name for p in bad_dir.glob("*") if p.suffix in (".yaml", ".yml")}
    for name in sorted(present - set(SCHEMA_REJECTS) - set(NOT_SCHEMA)):
        notes.append("note %s: not classified in %s (SCHEMA_REJECTS or NOT_SCHEMA)" % (bad_dir / name, __file__))

    # (c) the duration grammar, case by case.
    def with_duration(text):
        return {"name": "d", "duration": text, "server": {"kind": "echo"}, "clients": [{"name": "c"}]}
    for text in DURATIONS_OK:
        if not validator.is_valid(with_duration(text)):
            failures.append("FAIL %s: duration %r is valid for the parser but rejected" % (schema_path, text))
    for text in DURATIONS_BAD:
        if validator.is_valid(with_duration(text)):
            failures.append("FAIL %s: duration %r is rejected by the parser but accepted" % (schema_path, text))

    for line in notes:
        print(line)
    for line in failures:
        print(line)
    if failures:
        print("schema_test: %d failure(s)" % len(failures))
        return 1
    print("schema_test: %d valid scenarios accepted, %d malformed fixtures rejected, %d duration cases, "
          "%d fixtures the schema cannot judge" % (len(good), len(SCHEMA_REJECTS),
                                                   len(DURATIONS_OK) + len(DURATIONS_BAD), len(NOT_SCHEMA)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
