#!/usr/bin/env python3
"""check_paths.py: every repository path named in a comment or a doc exists.

Usage: check_paths.py [ROOT]

Reads the files git tracks under ROOT (default: this script's repository;
outside a git checkout, every file but build*/ and dot folders):
- the comments of code: `//` and `/* */` in *.hpp, *.cpp, *.inc; `#` in
  *.py, *.sh, *.cmake, CMakeLists.txt and the extensionless scripts
  (tests/run, experiments/run, ...); a Python file's docstrings count as
  comments;
- the hand-written Markdown: every *.md except reports/*.md, which
  ./experiments/run generates ("do not edit by hand"): a stale path there is
  fixed by running the lab, not by editing, and its generator's own
  comments are checked here.

A path is a token that starts with a top-level folder of the repository
(common/, drivers/, stackless/, stackful/, experiments/, tests/, reports/,
docs/, cmake/, examples/, .ci/) and is not the tail of a longer name
(`spawn_join/stackless/1` is a benchmark, not a path); or a public header
named as it is included (`duet/poll.hpp`), looked up in every include
folder; or the target of a relative Markdown link, resolved against the
document's folder. A name without a suffix also matches its source
(`examples/echo_server` is the program built from echo_server.cpp). A
`:LINE` suffix and a `#anchor` are dropped. Tokens with
a placeholder or a glob (`<`, `*`, `{`, `...`) name a family, not a file,
and are skipped. Fails, listing file:line and the path, when one does not
exist.
"""
import io
import pathlib
import re
import subprocess
import sys
import tokenize

TOP = ("common", "drivers", "stackless", "stackful", "experiments", "tests", "reports",
       "docs", "cmake", "examples", ".ci")
INCLUDE_DIRS = ("common/include", "drivers/io/include", "drivers/tls/include", "drivers/dns/include",
                "drivers/http/include", "drivers/sim/include", "stackless/include", "stackful/include",
                "cmake/include")
CXX = (".hpp", ".cpp", ".inc", ".h", ".cc")
HASH = (".py", ".sh", ".cmake")

PATH_RE = re.compile(r"(?<![\w./-])((?:%s)/[\w./+<>*{}-]*)" %
                     "|".join(re.escape(t) for t in TOP))
HEADER_RE = re.compile(r"(?<![\w./-])(duet/[\w/<>*{}.-]*\.hpp)")
LINK_RE = re.compile(r"\]\(([^)\s]+)\)")
SKIP_CHARS = ("<", ">", "*", "{", "}", "...")


def tracked(root):
    """The files git tracks; outside a checkout, every file but build trees."""
    run = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True,
                         check=False)
    if run.returncode == 0:
        return [p for p in run.stdout.decode().split("\0") if p]
    return [str(p.relative_to(root)) for p in sorted(root.rglob("*"))
            if p.is_file() and not any(part.startswith(("build", ".")) for part in
                                       p.relative_to(root).parts)]


def cxx_comments(text):
    """(line, text) of every comment; string literals are skipped."""
    out, i, line, n = [], 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append((line, text[i + 2:end]))
            i = end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end
            for k, part in enumerate(text[i + 2:end].split("\n")):
                out.append((line + k, part))
            line += text.count("\n", i, end)
            i = end + 2
            continue
        elif c == '"' or c == "'":
            raw = text.startswith('R"', i - 1) and c == '"'
            if raw:
                delim = text[i + 1:text.find("(", i)]
                end = text.find(")" + delim + '"', i)
                end = n if end < 0 else end + len(delim) + 1
            else:
                end = i + 1
                while end < n and text[end] != c and text[end] != "\n":
                    end += 2 if text[end] == "\\" else 1
            line += text.count("\n", i, end)
            i = end + 1
            continue
        i += 1
    return out


def python_comments(text):
    """(line, text) of `#` comments and of strings that stand alone as a
    statement (docstrings), read with Python's own tokenizer."""
    out, prev = [], tokenize.NEWLINE
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT and not tok.string.startswith("#!"):
                out.append((tok.start[0], tok.string[1:]))
            elif tok.type == tokenize.STRING and prev in (tokenize.NEWLINE, tokenize.INDENT,
                                                          tokenize.DEDENT, tokenize.NL):
                for k, part in enumerate(tok.string.split("\n")):
                    out.append((tok.start[0] + k, part))
            if tok.type not in (tokenize.COMMENT, tokenize.NL):
                prev = tok.type
            elif tok.type == tokenize.NL and prev in (tokenize.NEWLINE, tokenize.INDENT,
                                                        tokenize.DEDENT):
                prev = tokenize.NL
    except (tokenize.TokenError, SyntaxError):
        pass
    return out


def hash_comments(text):
    """(line, text) of `#` comments in shell and CMake."""
    out = []
    for no, raw in enumerate(text.splitlines(), 1):
        m = re.search(r"(?:^|\s)#(?!!)(.*)", raw)
        if m:
            out.append((no, m.group(1)))
    return out


def clean(token):
    token = token.split("#", 1)[0]
    token = re.sub(r":\d+(-\d+)?$", "", token)
    return token.rstrip(".,:;'`)")


def exists(root, rel):
    """A path exists; a name without a suffix may also be a build target
    named after its source (`examples/echo_server`: echo_server.cpp)."""
    p = root / rel
    if p.exists():
        return True
    return "." not in p.name and any(p.parent.glob(p.name + ".*"))


def check_text(root, path, lines, markdown):
    bad = []
    for no, text in lines:
        for m in PATH_RE.finditer(text):
            tok = m.group(1)
            if any(s in tok for s in SKIP_CHARS):
                continue
            tok = clean(tok)
            if tok and not exists(root, tok):
                bad.append((path, no, tok))
        for m in HEADER_RE.finditer(text):
            tok = m.group(1)
            if any(s in tok for s in SKIP_CHARS):
                continue
            if not any(exists(root, f"{inc}/{tok}") for inc in INCLUDE_DIRS):
                bad.append((path, no, tok))
        if markdown:
            for m in LINK_RE.finditer(text):
                tok = m.group(1).split("#", 1)[0]
                if not tok or re.match(r"^[a-z]+:", tok) or any(s in tok for s in SKIP_CHARS):
                    continue
                rel = (pathlib.Path(path).parent / tok)
                if not (root / rel).resolve().exists():
                    bad.append((path, no, tok))
    return bad


def kind(rel):
    name = pathlib.PurePath(rel).name
    if rel.endswith(".md"):
        return None if rel.startswith("reports/") else "md"
    if rel.endswith(CXX):
        return "cxx"
    if rel.endswith(".py"):
        return "py"
    if rel.endswith(HASH) or name == "CMakeLists.txt":
        return "hash"
    return None


def script_kind(root, rel):
    """An extensionless tracked file with a shell or Python shebang."""
    if "." in pathlib.PurePath(rel).name:
        return None
    try:
        head = (root / rel).open("rb").readline()
    except OSError:
        return None
    if head.startswith(b"#!") and b"python" in head:
        return "py"
    if head.startswith(b"#!") and b"sh" in head:
        return "hash"
    return None


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else
                        pathlib.Path(__file__).resolve().parents[2]).resolve()
    bad, files = [], 0
    for rel in tracked(root):
        k = kind(rel) or script_kind(root, rel)
        if k is None or not (root / rel).is_file():
            continue
        text = (root / rel).read_text(errors="replace")
        files += 1
        if k == "md":
            lines = list(enumerate(text.splitlines(), 1))
        elif k == "cxx":
            lines = cxx_comments(text)
        else:
            lines = python_comments(text) if k == "py" else hash_comments(text)
        bad += check_text(root, rel, lines, k == "md")
    for path, no, tok in bad:
        print(f"{path}:{no}: names {tok}, which does not exist", file=sys.stderr)
    print(f"check_paths: {files} files read, {len(bad)} missing path(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
