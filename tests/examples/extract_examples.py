#!/usr/bin/env python3
"""extract_examples.py: every C++ example of the documentation, as a file
the test suite compiles (docs/examples.md says how to add one).

Sources and markers:
  README.md, docs/*.md    every fenced block whose info string starts with
                          `cpp`; a second word names the harness:
                          ```cpp            a whole file (top-level code)
                          ```cpp coroutine  statements in a coroutine body
                          ```cpp fiber      statements in a plain function
  public headers          a comment line `// Example (file|coroutine|fiber):`
  (*/include/duet/**,     followed by the example, each line `//   code`
  not detail/)            (three spaces; `//` alone for a blank line)

Each example becomes <out>/<source>_<line>.cpp, compiled with
tests/examples/prelude.hpp force-included (duet's headers, chrono literals,
and a few declared stand-ins for the user's code: see that file).

--check: also fails (exit 1, listing file:line) on code that escapes this:
a fenced block of C++ under another name (c++, cc, hpp, or no info string
with C++ in it), an indented markdown code block that holds C++, and a
public header comment line that looks like code outside an example block.

--list: prints the examples' file names.

--bundles K (with --out): also writes bundle_0.cpp ... bundle_<K-1>.cpp,
each holding a run of consecutive examples, every example inside a
namespace of its own (an example that defines main is compiled alone) (its #include lines hoisted to the top of the bundle,
blank lines left in their place so that the #line numbers hold). CMake
compiles the bundles, not the single files: each translation unit then
parses duet's headers once for many examples instead of once for each.
--list-bundles prints the bundles' file names (for CMake).
"""
import argparse
import pathlib
import re
import sys

HARNESSES = ("file", "coroutine", "fiber")
MARKER = re.compile(r"^// Example \((file|coroutine|fiber)\):\s*$")
# A comment line that reads as code: a coroutine keyword, or a statement's
# end (`;`, `{`, `}`), a trailing // comment aside.
CODE_HINT = re.compile(r"(\bco_await\b|\bco_return\b|;\s*(//.*)?$|\{\s*(//.*)?$|^\s*\}\)?;?\s*$)")


def markdown_sources(root):
    return [root / "README.md"] + sorted((root / "docs").glob("*.md"))


def header_sources(root):
    out = []
    for inc in sorted(root.glob("*/include/duet")):
        for h in sorted(inc.rglob("*.hpp")):
            if "detail" not in h.relative_to(inc).parts:
                out.append(h)
    return out


def markdown_examples(path, problems):
    lines = path.read_text().splitlines()
    found, i = [], 0
    while i < len(lines):
        m = re.match(r"^(```+|~~~+)\s*(.*)$", lines[i])
        if not m:
            if lines[i].startswith("    ") and (i == 0 or not lines[i - 1].strip()):
                j = i
                while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
                    j += 1
                block = [l[4:] for l in lines[i:j]]
                if any(looks_like_cpp(l) for l in block):
                    problems.append(f"{path}:{i + 1}: an indented code block holds C++: fence it "
                                    "as ```cpp (or ```text if it is output)")
                i = j
                continue
            i += 1
            continue
        fence, info = m.group(1), m.group(2).split()
        j = i + 1
        while j < len(lines) and not lines[j].startswith(fence):
            j += 1
        body = lines[i + 1:j]
        lang = info[0] if info else ""
        if lang == "cpp":
            harness = info[1] if len(info) > 1 else "file"
            if harness not in HARNESSES:
                problems.append(f"{path}:{i + 1}: ```cpp {harness}: the harness is one of "
                                f"{', '.join(HARNESSES)}")
            else:
                found.append((i + 1, harness, body))
        elif lang.lower() in ("c++", "cc", "cxx", "hpp", "h", "c"):
            problems.append(f"{path}:{i + 1}: ```{lang}: write ```cpp so that it is compiled")
        elif not lang and any(looks_like_cpp(l) for l in body):
            problems.append(f"{path}:{i + 1}: a fenced block without a language holds C++: "
                            "write ```cpp (or ```text)")
        i = j + 1
    return found


def looks_like_cpp(line):
    s = line.strip()
    return bool(re.search(r"(co_await|co_return|duet::|#include|std::\w+)", s)) and (
        s.endswith(";") or s.endswith("{") or s.endswith("}") or "//" in s)


def header_examples(path, problems):
    lines = path.read_text().splitlines()
    found, i = [], 0
    while i < len(lines):
        m = MARKER.match(lines[i])
        if m:
            j, body = i + 1, []
            while j < len(lines) and (lines[j].startswith("//   ") or lines[j] == "//"):
                body.append(lines[j][5:] if lines[j] != "//" else "")
                j += 1
            while body and not body[-1].strip():
                body.pop()
            if not body:
                problems.append(f"{path}:{i + 1}: an Example marker with no `//   code` lines")
            found.append((i + 1, m.group(1), body))
            i = j
            continue
        line = lines[i]
        if line.startswith("//   ") and CODE_HINT.search(line[2:].strip()):
            problems.append(f"{path}:{i + 1}: code in a comment outside an example block: put "
                            "`// Example (file|coroutine|fiber):` before it (docs/examples.md)")
        if not line.startswith("//"):
            break  # only the header comment at the top of the file
        i += 1
    return found


def wrap(harness, body, origin):
    code = "\n".join(body)
    head = f"// Extracted from {origin} by tests/examples/extract_examples.py.\n"
    if harness == "file":
        return head + f'#line 1 "{origin}"\n' + code + "\n"
    if harness == "coroutine":
        return (head + "[[maybe_unused]] static duet::Task<void> duet_example() {\n"
                f'#line 1 "{origin}"\n' + code + "\n  co_return;\n}\n")
    return (head + "[[maybe_unused]] static void duet_example() {\n"
            f'#line 1 "{origin}"\n' + code + "\n}\n")


INCLUDE = re.compile(r"^\s*#\s*include\b")
MAIN = re.compile(r"^\s*int\s+main\s*\(", re.M)


def bundle(parts):
    """One translation unit of several wrapped examples: (name, text) pairs."""
    includes, bodies = [], []
    for name, text in parts:
        kept = []
        for line in text.splitlines():
            if INCLUDE.match(line):
                if line.strip() not in includes:
                    includes.append(line.strip())
                kept.append("")
            else:
                kept.append(line)
        ns = "duet_example_" + name[:-len(".cpp")]
        bodies.append(f"namespace {ns} {{\n" + "\n".join(kept) + f"\n}}  // namespace {ns}\n")
    head = "// Bundled by tests/examples/extract_examples.py (--bundles).\n"
    return head + "".join(i + "\n" for i in includes) + "\n".join(bodies)


def write_if_changed(out, text):
    if not out.exists() or out.read_text() != text:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)


def collect(root, problems):
    examples = []
    for p in markdown_sources(root):
        for line, harness, body in markdown_examples(p, problems):
            examples.append((p, line, harness, body))
    for p in header_sources(root):
        for line, harness, body in header_examples(p, problems):
            examples.append((p, line, harness, body))
    return examples


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--out")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--bundles", type=int, default=0)
    ap.add_argument("--list-bundles", action="store_true")
    a = ap.parse_args()
    root = pathlib.Path(a.root)
    problems = []
    examples = collect(root, problems)
    names, texts = [], []
    for path, line, harness, body in examples:
        rel = path.relative_to(root)
        name = re.sub(r"[^A-Za-z0-9]+", "_", str(rel)) + f"_{line}.cpp"
        names.append(name)
        texts.append(wrap(harness, body, f"{rel}:{line}"))
        if a.out:
            write_if_changed(pathlib.Path(a.out) / name, texts[-1])
    bundles = []
    if a.bundles > 0:
        # A program (one that defines main) is compiled alone, as its user
        # would: main is special only at the global scope (its implicit
        # `return 0`), not inside a bundle's namespace.
        alone = [n for n, t in zip(names, texts) if MAIN.search(t)]
        parts = [(n, t) for n, t in zip(names, texts) if not MAIN.search(t)]
        k = min(a.bundles, max(len(parts), 1))
        for b in range(k):
            lo, hi = len(parts) * b // k, len(parts) * (b + 1) // k
            bundles.append(f"bundle_{b}.cpp")
            if a.out:
                write_if_changed(pathlib.Path(a.out) / bundles[-1], bundle(parts[lo:hi]))
        bundles += alone
    if a.list:
        print(";".join(names))
    if a.list_bundles:
        print(";".join(bundles))
    if a.check:
        for p in problems:
            print(p, file=sys.stderr)
        print(f"{len(examples)} examples, {len(problems)} problems")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
