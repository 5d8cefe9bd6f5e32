#!/usr/bin/env python3
"""Keeps the code quoted in the documentation equal to code that is compiled.

A code block in a Markdown file (README.md, docs/**/*.md) may be tied to a
region of a source file:

    <!-- snippet: examples/session-gateway/gateway/gateway.cc#server-plan -->
    ```cpp
    ...
    ```

The region is marked in the source by comment lines

    // [snippet:server-plan]        (in CMake, YAML, shell: # [snippet:NAME])
    ...
    // [end-snippet]

and the block must equal the lines between them exactly, indentation
included (marker lines of regions nested inside are left out). A block may
instead quote a whole file:

    <!-- snippet-file: examples/session-gateway/scenarios/half-open.yaml -->

The marker must be the last non-blank line before the block's opening fence.
Every C++ or CMake block (```cpp, ```cmake, ...) must carry a snippet marker:
what is not compiled must not be shown as code to copy.

The test fails (exit 1) on a block that differs from its region (printing
the doc's file:line and the first differing line), a marker that names a
missing file or region, a marker with no block after it, a malformed region
(unclosed, duplicated, an end without a start) and an unmarked C++/CMake
block. Before that it checks itself: an altered copy, in memory, of a doc and
of a source must be reported; if not, it exits 1.

Usage: doc_snippets_test.py REPO_ROOT
Python 3, standard library only.
"""

import pathlib
import re
import sys

DOC_MARKER = re.compile(r"^\s*<!--\s*snippet:\s*(\S+)#([A-Za-z0-9_.-]+)\s*-->\s*$")
FILE_MARKER = re.compile(r"^\s*<!--\s*snippet-file:\s*(\S+)\s*-->\s*$")
ANY_MARKER = re.compile(r"<!--\s*snippet")
REGION_START = re.compile(r"^\s*(?://|#)\s*\[snippet:([A-Za-z0-9_.-]+)\]\s*$")
REGION_END = re.compile(r"^\s*(?://|#)\s*\[end-snippet\]\s*$")
REGION_ANY = re.compile(r"^\s*(?://|#)\s*\[(?:end-)?snippet\b")
FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
# Info strings of blocks that must be tied to compiled code.
COMPILED = {"c", "cc", "cpp", "c++", "cxx", "h", "hpp", "hxx", "cmake"}


class Region:
    def __init__(self, name, start):
        self.name = name
        self.start = start  # 1-based line of the [snippet:NAME] marker
        self.lines = []     # (source line number, text)


def parse_regions(text, path):
    """The marked regions of a source file: ({name: Region}, [errors])."""
    regions, errors, stack = {}, [], []
    for no, line in enumerate(text.split("\n"), 1):
        start = REGION_START.match(line)
        if start:
            name = start.group(1)
            if name in regions or any(r.name == name for r in stack):
                first = regions[name].start if name in regions else next(r.start for r in stack if r.name == name)
                errors.append("%s:%d: region '%s' is marked twice (first at line %d)" % (path, no, name, first))
            stack.append(Region(name, no))
            continue
        if REGION_END.match(line):
            if not stack:
                errors.append("%s:%d: [end-snippet] without a [snippet:NAME] before it" % (path, no))
            else:
                r = stack.pop()
                regions.setdefault(r.name, r)
            continue
        if REGION_ANY.match(line):
            errors.append("%s:%d: malformed snippet marker: %s" % (path, no, line.strip()))
            continue
        for r in stack:
            r.lines.append((no, line))
    for r in stack:
        errors.append("%s:%d: region '%s' has no [end-snippet]" % (path, r.start, r.name))
    return regions, errors


class Block:
    def __init__(self, start, info):
        self.start = start  # 1-based line of the opening fence
        self.info = info
        self.lines = []     # (doc line number, text)


def parse_doc(text):
    """Markers and fenced blocks in document order, and marker errors.

    Returns ([(kind, line, payload)], [(line, message)]) where kind is
    "snippet" (payload (path, name)), "file" (payload path), "text" (a
    non-blank line outside any block) or "block" (payload Block).
    """
    events, errors = [], []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line, no = lines[i], i + 1
        fence = FENCE.match(line)
        if fence and not (fence.group(2)[0] == "`" and "`" in fence.group(3)):
            indent, mark = len(fence.group(1)), fence.group(2)
            block = Block(no, fence.group(3).strip().split(" ")[0].lower() if fence.group(3).strip() else "")
            i += 1
            while i < len(lines):
                close = FENCE.match(lines[i])
                if (close and close.group(2)[0] == mark[0] and len(close.group(2)) >= len(mark)
                        and not close.group(3).strip()):
                    break
                content = lines[i]
                strip = min(indent, len(content) - len(content.lstrip(" ")))
                block.lines.append((i + 1, content[strip:]))
                i += 1
            events.append(("block", no, block))
            i += 1
            continue
        m = DOC_MARKER.match(line)
        f = FILE_MARKER.match(line)
        if m:
            events.append(("snippet", no, (m.group(1), m.group(2))))
        elif f:
            events.append(("file", no, f.group(1)))
        elif ANY_MARKER.search(line):
            errors.append((no, "malformed snippet marker (want <!-- snippet: PATH#NAME --> or "
                               "<!-- snippet-file: PATH -->): " + line.strip()))
        elif line.strip():
            events.append(("text", no, None))
        i += 1
    return events, errors


def first_difference(doc_lines, src_lines):
    """Index of the first differing line, or None when equal."""
    for k in range(max(len(doc_lines), len(src_lines))):
        a = doc_lines[k][1] if k < len(doc_lines) else None
        b = src_lines[k][1] if k < len(src_lines) else None
        if a != b:
            return k
    return None


def describe(line):
    return "(nothing)" if line is None else repr(line)


def check_doc(doc_name, text, load):
    """Checks one document. `load(path)` returns a file's text or None.

    Returns (snippets checked, [error messages]).
    """
    events, parse_errors = parse_doc(text)
    errors = ["%s:%d: %s" % (doc_name, no, msg) for no, msg in parse_errors]
    checked = 0
    for idx, (kind, no, payload) in enumerate(events):
        if kind == "block":
            prev = events[idx - 1] if idx > 0 else None
            if payload.info in COMPILED and (prev is None or prev[0] not in ("snippet", "file")):
                errors.append("%s:%d: a ```%s block without a <!-- snippet: PATH#NAME --> marker before it: "
                              "quote compiled code only" % (doc_name, no, payload.info))
            continue
        if kind not in ("snippet", "file"):
            continue
        nxt = events[idx + 1] if idx + 1 < len(events) else None
        if nxt is None or nxt[0] != "block":
            errors.append("%s:%d: snippet marker not followed by a fenced code block" % (doc_name, no))
            continue
        block = nxt[2]
        path = payload[0] if kind == "snippet" else payload
        rel = pathlib.PurePosixPath(path)
        if rel.is_absolute() or ".." in rel.parts:
            errors.append("%s:%d: snippet path '%s' must be relative to the repository root" % (doc_name, no, path))
            continue
        source = load(path)
        if source is None:
            errors.append("%s:%d: snippet names a missing file: %s" % (doc_name, no, path))
            continue
        if kind == "snippet":
            name = payload[1]
            regions, region_errors = parse_regions(source, path)
            errors.extend("%s:%d: in the quoted file: %s" % (doc_name, no, e) for e in region_errors)
            if name not in regions:
                errors.append("%s:%d: %s has no region '%s' (mark it with [snippet:%s] ... [end-snippet])"
                              % (doc_name, no, path, name, name))
                continue
            src_lines = regions[name].lines
            what = "%s#%s" % (path, name)
        else:
            src_lines = list(enumerate(source.split("\n"), 1))
            if src_lines and src_lines[-1][1] == "":
                src_lines.pop()  # the file's final newline
            what = path
        k = first_difference(block.lines, src_lines)
        checked += 1
        if k is None:
            continue
        doc_line = block.lines[k][0] if k < len(block.lines) else (block.lines[-1][0] + 1 if block.lines
                                                                     else block.start + 1)
        src_at = ("%s:%d" % (path, src_lines[k][0])) if k < len(src_lines) else ("the end of the region in " + path)
        errors.append("%s:%d: the block differs from %s; first difference at %s:%d (source %s):\n"
                      "    doc:    %s\n    source: %s"
                      % (doc_name, no, what, doc_name, doc_line, src_at,
                         describe(block.lines[k][1] if k < len(block.lines) else None),
                         describe(src_lines[k][1] if k < len(src_lines) else None)))
    return checked, errors


def docs_of(root):
    docs = sorted((root / "docs").rglob("*.md")) if (root / "docs").is_dir() else []
    if (root / "README.md").is_file():
        docs.insert(0, root / "README.md")
    return docs


def file_loader(root):
    root = root.resolve()
    cache = {}

    def load(path):
        if path not in cache:
            p = (root / path).resolve()
            try:
                p.relative_to(root)
                cache[path] = p.read_text(encoding="utf-8") if p.is_file() else None
            except (ValueError, OSError, UnicodeDecodeError):
                cache[path] = None
        return cache[path]
    return load


# ------------------------------------------------------------- self-check --

SELF_SOURCE = """int before();
// [snippet:outer]
int f() {
  // [snippet:inner]
  return 1;
  // [end-snippet]
}
// [end-snippet]
"""
SELF_CMAKE = "project(x)\n# [snippet:find]\nfind_package(connfail 0.1 CONFIG REQUIRED)\n# [end-snippet]\n"
SELF_YAML = "name: x\nserver: {kind: echo}\n"
SELF_DOC = """# Example

<!-- snippet: src/a.cc#outer -->
```cpp
int f() {
  return 1;
}
```

Text.

<!-- snippet: src/a.cc#inner -->

```cpp
  return 1;
```

<!-- snippet: src/CMakeLists.txt#find -->
```cmake
find_package(connfail 0.1 CONFIG REQUIRED)
```

<!-- snippet-file: src/x.yaml -->
```yaml
name: x
server: {kind: echo}
```

```sh
echo not checked
```
"""


def self_check(root, docs):
    """Proves the check can fail. Returns [what went wrong] (empty: fine)."""
    problems = []
    files = {"src/a.cc": SELF_SOURCE, "src/CMakeLists.txt": SELF_CMAKE, "src/x.yaml": SELF_YAML}

    def run(doc, overrides=None):
        fs = dict(files, **(overrides or {}))
        return check_doc("self.md", doc, fs.get)

    def expect_error(label, doc, needle, overrides=None):
        _, errs = run(doc, overrides)
        if not any(needle in e for e in errs):
            problems.append("%s: no error containing %r (got %r)" % (label, needle, errs))

    n, errs = run(SELF_DOC)
    if errs or n != 4:
        problems.append("the unaltered example: want 4 snippets and no error, got %d and %r" % (n, errs))
    expect_error("an altered doc line", SELF_DOC.replace("  return 1;\n}\n```", "  return 2;\n}\n```", 1),
                 "first difference at self.md:6 ")
    expect_error("an altered indentation", SELF_DOC.replace("```cpp\n  return 1;", "```cpp\n return 1;", 1),
                 "first difference at self.md:15 ")
    expect_error("a line added to the source region",
                 SELF_DOC, "the block differs from src/a.cc#outer",
                 {"src/a.cc": SELF_SOURCE.replace("  return 1;\n", "  return 1;\n  // more\n", 1)})
    expect_error("an altered whole file", SELF_DOC, "the block differs from src/x.yaml",
                 {"src/x.yaml": SELF_YAML + "clients: []\n"})
    expect_error("a missing region", SELF_DOC.replace("#inner", "#gone"), "has no region 'gone'")
    expect_error("a missing file", SELF_DOC.replace("src/CMakeLists.txt", "src/Nope.txt"), "missing file")
    expect_error("an unmarked C++ block", SELF_DOC + "\n```cpp\nint g();\n```\n", "without a <!-- snippet")
    expect_error("a marker with no block", SELF_DOC + "\n<!-- snippet: src/a.cc#inner -->\nText.\n",
                 "not followed by a fenced code block")
    expect_error("an unclosed region", SELF_DOC, "has no [end-snippet]",
                 {"src/a.cc": SELF_SOURCE + "// [snippet:open]\nint h();\n"})

    # The real documents: alter, in memory, one line of the first quoted
    # block found and check that the alteration is reported at that line.
    load = file_loader(root)
    for doc in docs:
        text = doc.read_text(encoding="utf-8")
        events, _ = parse_doc(text)
        target = None
        for idx, (kind, _, _) in enumerate(events):
            if kind in ("snippet", "file") and idx + 1 < len(events) and events[idx + 1][0] == "block":
                block = events[idx + 1][2]
                if block.lines:
                    target = block.lines[len(block.lines) // 2]
                    break
        if target is None:
            continue
        lines = text.split("\n")
        lines[target[0] - 1] += " /* altered */"
        name = doc.relative_to(root).as_posix()
        _, errs = check_doc(name, "\n".join(lines), load)
        if not any("first difference at %s:%d " % (name, target[0]) in e for e in errs):
            problems.append("an altered line of %s (line %d) was not reported (got %r)" % (name, target[0], errs))
        break
    return problems


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: doc_snippets_test.py REPO_ROOT\n")
        return 2
    root = pathlib.Path(argv[1])
    docs = docs_of(root)
    problems = self_check(root, docs)
    if problems:
        sys.stderr.write("doc_snippets_test: the self-check failed, so this test cannot be trusted:\n")
        for p in problems:
            sys.stderr.write("  " + p + "\n")
        return 1
    load = file_loader(root)
    total, errors = 0, []
    for doc in docs:
        n, errs = check_doc(doc.relative_to(root).as_posix(), doc.read_text(encoding="utf-8"), load)
        total += n
        errors.extend(errs)
    for e in errors:
        sys.stderr.write(e + "\n")
    if total == 0 and not errors:
        errors.append("no snippet markers found in %d document(s): nothing was checked" % len(docs))
        sys.stderr.write(errors[-1] + "\n")
    print("doc_snippets_test: %d snippet(s) checked in %d document(s) (self-check passed), %d error(s)"
          % (total, len(docs), len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
