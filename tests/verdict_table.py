#!/usr/bin/env python3
"""The verdict regression table: every scenario under
tests/fixtures/scenarios/verdicts/ says in its header what connfail must make
of it, and this runs the connfail program on it and checks.

Header lines (comments at the top of the file):
  # expect: pass
  # expect: fail KIND[,KIND...]          every run FAILs with a finding of each kind
  # expect: inconclusive WORDS           every run is INCONCLUSIVE, a note contains WORDS
  # expect: not-applicable WORDS         `run --variant` exits 2 naming WORDS; nothing written
  # expect: error LINE:COL FIELD: WORDS  `validate` exits 2 with file:LINE:COL: FIELD: ...WORDS
  # variant: NAME                        run against this known-bug variant
  # message: WORDS                       a finding's message contains WORDS

Usage: verdict_table.py CONNFAIL_PROGRAM VERDICTS_DIR WORK_DIR [--transport sim|asio|both]

Each row runs on the transports its file declares (or only --transport's).
The table can be pointed at an older connfail to show which rows it gets
wrong (the note of the change that added the table lists them).
"""

import json
import pathlib
import re
import shutil
import subprocess
import sys


def header(path):
    h = {}
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        m = re.match(r"#\s*(expect|variant|message):\s*(.*)$", line)
        if m:
            h[m.group(1)] = m.group(2).strip()
    return h


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout + p.stderr


def check(connfail, path, work, transport):
    h = header(path)
    if "expect" not in h:
        return ["no '# expect:' line"]
    kind, _, rest = h["expect"].partition(" ")
    problems = []
    if kind == "error":
        m = re.match(r"(\d+):(\d+) ([^:]+): (.*)$", rest)
        if not m:
            return ["malformed '# expect: error' line"]
        rc, out = run([connfail, "validate", str(path)])
        want = f"{path}:{m.group(1)}:{m.group(2)}: {m.group(3)}: "
        if rc != 2:
            problems.append(f"validate exited {rc}, expected 2")
        line = next((l for l in out.splitlines() if l.startswith(want)), None)
        if line is None:
            problems.append(f"no error starting '{want}'; got:\n{out.strip()}")
        elif m.group(4) not in line:
            problems.append(f"the error does not say '{m.group(4)}': {line}")
        return problems

    out_dir = work / path.stem
    shutil.rmtree(out_dir, ignore_errors=True)
    cmd = [connfail, "run", str(path), "--out", str(out_dir)]
    if transport != "both":
        cmd += ["--transport", transport]
    if "variant" in h:
        cmd += ["--variant", h["variant"]]
    rc, out = run(cmd)
    if kind == "not-applicable":
        if rc != 2:
            problems.append(f"run exited {rc}, expected 2 (the variant changes nothing)")
        if rest not in out:
            problems.append(f"the output does not say '{rest}':\n{out.strip()}")
        if out_dir.exists():
            problems.append("a report was written although nothing was to run")
        return problems

    report = out_dir / "report.json"
    if not report.exists():
        return [f"no report (exit {rc}):\n{out.strip()}"]
    runs = json.loads(report.read_text())["runs"]
    if not runs:
        return ["the report has no runs"]
    want_rc = {"pass": 0, "fail": 1, "inconclusive": 3}.get(kind)
    if want_rc is None:
        return [f"unknown expectation '{kind}'"]
    if rc != want_rc:
        problems.append(f"run exited {rc}, expected {want_rc}")
    for r in runs:
        where = f"[{r['transport']} seed={r['seed']}]"
        status = r.get("status", "pass" if r["passed"] else "fail")
        kinds = [f["kind"] for f in r["findings"]]
        if status != kind:
            problems.append(f"{where} status {status}, expected {kind}; findings: {kinds}; notes: {r.get('notes', [])}")
        if kind == "fail":
            for k in rest.split(","):
                if k.strip() not in kinds:
                    problems.append(f"{where} no '{k.strip()}' finding; got {kinds}")
        if kind == "inconclusive" and not any(rest in n for n in r.get("notes", [])):
            problems.append(f"{where} no note says '{rest}': {r.get('notes', [])}")
        if "message" in h and not any(h["message"] in f["message"] for f in r["findings"]):
            problems.append(f"{where} no finding message contains '{h['message']}': "
                            f"{[f['message'] for f in r['findings']]}")
    return problems


def main():
    if len(sys.argv) < 4:
        sys.stderr.write(__doc__)
        return 2
    connfail, verdicts, work = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
    transport = "both"
    if len(sys.argv) >= 6 and sys.argv[4] == "--transport":
        transport = sys.argv[5]
    work.mkdir(parents=True, exist_ok=True)
    files = sorted(verdicts.glob("*.yaml"))
    if len(files) < 20:
        print(f"verdict_table: only {len(files)} rows; the table holds at least 20")
        return 1
    failed = 0
    for f in files:
        problems = check(connfail, f, work, transport)
        print(("ok    " if not problems else "WRONG ") + f.name)
        for p in problems:
            print("      " + p.replace("\n", "\n      "))
        failed += 1 if problems else 0
    print(f"verdict_table: {len(files) - failed} of {len(files)} rows right")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
