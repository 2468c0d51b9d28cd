"""http_loc: the lines of duet::http's three connection engines and of the
example's two handler sets, with the peers' HTTP programs beside them for
reference (issue 51's "natural programming model" claim, measured by
reading the files; nothing is built or run).

A line counts when it holds a character outside every comment and is not
blank: C++ `//` and `/* */`, Go `//` and `/* */`, Rust `//` and nested
`/* */`. Comment markers inside string and character literals (C++ raw
strings `R"d(...)d"`, Go back-quoted strings, Rust raw strings `r#"..."#`
included) are not comments; a literal's lines are code.
"""

from __future__ import annotations

import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

SCRIPT = "experiments/lab/loc.py"
METHOD = f"non-blank, non-comment lines, counted by {SCRIPT}"

# (impl, metric, files relative to the repository root, what the files are)
PARTS = [
    ("duet-coroutine", "loc.engine", ["drivers/http/src/coroutine_engine.cpp"],
     "the coroutine engine: a Task per connection, a co_await at each wait the machine asks for"),
    ("duet-fiber", "loc.engine", ["drivers/http/src/fiber_engine.cpp"],
     "the fiber engine: a fiber per connection, a blocking call at each wait the machine asks for"),
    ("duet-poll", "loc.engine", ["drivers/http/src/poll_engine.hpp", "drivers/http/src/poll_engine.cpp"],
     "the poll engine: one hand-written poll future per connection (the tuned ceiling)"),
    ("duet-coroutine", "loc.handlers", ["examples/http_server/routes_coroutine.cpp"],
     "the example's routes as coroutines (also what the poll engine serves)"),
    ("duet-fiber", "loc.handlers", ["examples/http_server/routes_fiber.cpp"],
     "the example's routes as plain functions on fibers"),
    ("duet-shared", "loc.handlers", ["examples/http_server/app.hpp", "examples/http_server/app.cpp",
                                     "examples/http_server/main.cpp"],
     "what both handler sets share: flags, options, the pooled client, the proxy's and fan-out's helpers, "
     "starting the server"),
    ("duet-shared", "loc.machine", ["drivers/http/src/conn.hpp", "drivers/http/src/conn.cpp",
                                    "drivers/http/src/turn.hpp", "drivers/http/src/handshake.cpp"],
     "the connection machine every engine waits for: every decision of a connection, no I/O; the waits "
     "the engines share; the TLS handshake's task"),
    ("duet-shared", "loc.core", ["drivers/http/src/server_state.hpp", "drivers/http/src/exchange.cpp",
                                 "drivers/http/src/server.cpp", "drivers/http/src/router.cpp",
                                 "drivers/http/src/codec.cpp", "drivers/http/src/message.cpp",
                                 "drivers/http/src/body.cpp", "drivers/http/src/body_pump.hpp",
                                 "drivers/http/src/body_writer.hpp"],
     "what every engine shares: the request-level steps, the accept loop, the router, the I/O-free codec, "
     "the streamed bodies' reader and writer"),
    ("go", "loc.program", ["experiments/peers/go/http/main.go"],
     "Go net/http peer, whole file: handlers, ReverseProxy, fan-out, flags, TLS, listening"),
    ("hyper", "loc.program", ["experiments/peers/tokio/http/src/main.rs"],
     "Tokio+hyper peer, whole file: handlers, proxy client, fan-out, arguments, TLS, accept loop"),
]

LANG = {".cpp": "cpp", ".hpp": "cpp", ".h": "cpp", ".cc": "cpp", ".go": "go", ".rs": "rust"}

_CPP_RAW = re.compile(r'(?:u8|[uUL])?R"([^()\\\s"]{0,16})\(')
_RUST_RAW = re.compile(r'b?r(#*)"')
_CHAR = re.compile(r"'(?:\\[^\n]{1,10}?|[^\\'\n])'")


def count(text: str, lang: str) -> tuple[int, int]:
    """(non-blank non-comment lines, physical lines) of one source text."""
    code: set[int] = set()
    line = 0
    i = 0
    n = len(text)

    def literal(start: int, end: int):
        """Marks the lines of text[start:end] (a literal) that hold anything
        but whitespace; returns end."""
        nonlocal line
        for c in text[start:end]:
            if c == "\n":
                line += 1
            elif not c.isspace():
                code.add(line)
        return end

    def ident_before(k: int) -> bool:
        return k > 0 and (text[k - 1].isalnum() or text[k - 1] == "_")

    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text[i] == "\n":
                    line += 1
                    i += 1
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                elif lang == "rust" and text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                else:
                    i += 1
        elif lang == "cpp" and (m := _CPP_RAW.match(text, i)) and not ident_before(i):
            close = ")" + m.group(1) + '"'
            j = text.find(close, m.end())
            i = literal(i, n if j < 0 else j + len(close))
        elif lang == "rust" and (m := _RUST_RAW.match(text, i)) and not ident_before(i):
            close = '"' + m.group(1)
            j = text.find(close, m.end())
            i = literal(i, n if j < 0 else j + len(close))
        elif lang == "go" and c == "`":
            j = text.find("`", i + 1)
            i = literal(i, n if j < 0 else j + 1)
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            i = literal(i, min(n, j + 1))
        elif c == "'" and (m := _CHAR.match(text, i)):
            i = literal(i, m.end())
        else:
            code.add(line)
            i += 1
    physical = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
    return len(code), physical


def count_file(path: str) -> tuple[int, int]:
    with open(path, encoding="utf-8", errors="replace") as f:
        return count(f.read(), LANG[os.path.splitext(path)[1]])


def records(root: str = ROOT) -> list[dict]:
    """Per part (PARTS): loc.<role>, its non-blank non-comment lines, and
    lines.<role>, its physical lines; a part whose file is missing gives an
    `unavailable` record naming it."""
    out = []
    for impl, metric, files, what in PARTS:
        paths = [os.path.join(root, f) for f in files]
        missing = [f for f, p in zip(files, paths) if not os.path.exists(p)]
        if missing:
            out.append({"experiment": "http_loc", "impl": impl, "metric": f"unavailable.{metric}", "value": 1,
                        "unit": "", "n": None, "method": f"missing: {', '.join(missing)}"})
            continue
        counts = [count_file(p) for p in paths]
        desc = f"{' + '.join(files)}: {what}"
        out.append({"experiment": "http_loc", "impl": impl, "metric": metric, "value": sum(c[0] for c in counts),
                    "unit": "lines", "n": None, "method": f"{METHOD}; {desc}"})
        out.append({"experiment": "http_loc", "impl": impl, "metric": "lines." + metric.split(".", 1)[1],
                    "value": sum(c[1] for c in counts), "unit": "lines", "n": None,
                    "method": f"physical lines (comments and blank lines included); {desc}"})
    return out
