#!/usr/bin/env python3
"""check_vocabulary.py: the public headers spell each idea of
docs/vocabulary.md's checked rows one way.

Usage: check_vocabulary.py ROOT            the include folders of a checkout
       check_vocabulary.py --prefix DIR    an installed tree (DIR/include)

Reads every public header (duet/**/*.hpp, not duet/detail/ nor any
detail/ folder), outside its `namespace detail` blocks, and fails,
listing file:line, on:
- a type named *Options (a Config is the word), unless it is a deprecated
  alias (`using X [[deprecated(...)]] = ...`) or SocketOptions (the
  socket's own options, setsockopt's word);
- a top-level enum class without both `enum_values(E)` and `to_string(E)`
  in its header (duet/names.hpp's rule), unless EXEMPT names it with its
  reason; an enum nested in a class is a protocol's own state, not a
  setting, and is not checked;
- a function that names an enum's value another way (`*_name(Enum)`)
  unless deprecated;
- a task kind spelled as a model (an enumerator `stackless` or `stackful`
  not deprecated), or `Coro` for coroutine in a public type's name;
- a result spelled `io::Result` (duet::Result is the word), in code or in
  a comment's example, unless on a deprecated alias's line.
- `Abort` for cancel in a public type's name (Tokio's AbortHandle is
  duet's CancelHandle).
- statistics spelled another way: a function returning a `*Stats`
  snapshot whose name does not end in `stats` (`memory()`), a
  process-wide `*_stats()` free function outside namespace `duet`
  (`io::io_stats()`), or a `*Snapshot` type;
- a field named for something else: `*_per_host` (a pool is per origin,
  an address and port), `read_timeout` (the deadline of every wait on the
  peer is `io_timeout`);
- a `configure_*` function of more than one parameter (it takes a
  Config);
- an internal in the public namespace: `spawn_via` outside `detail`, or
  an include of `duet/detail/tls.hpp` (the thread-locals' header is
  `duet/detail/thread_local.hpp`; `duet/tls.hpp` is TLS the protocol);
- a `try_*` function that takes a `bool` (a "try" never blocks: the
  blocking form is the name without `try_`);
- a request's plain-call form named `fetch` (the plain-call form of an
  operation is its name with `_now`: `send_now`, as `open_now`);
- a timeout's answer shown as an optional (`timeout(...);  // optional<...>`
  in a comment's example): it is a Result whose error is
  duet::TimeoutErrc::elapsed.
Each of these but the last two passes when deprecated (`[[deprecated` on
the line or the line before); a renamed field kept for one release passes
when its type is a `detail::Old*` one (assigning it warns; a
[[deprecated]] data member would warn in every copy of its struct).
"""
import pathlib
import re
import sys

INCLUDE_DIRS = ("cmake/include", "common/include", "drivers/io/include", "drivers/tls/include",
                "drivers/dns/include", "drivers/http/include", "drivers/sim/include",
                "stackless/include", "stackful/include")

# Top-level enums that are no setting or status, each with its reason.
EXEMPT = {
    "StreamErrc": "an error code: its category's message() names it",
    "OpKind": "the drivers' operation codes, named by the driver's own trace",
    "Interest": "a bit mask, not one value",
    "TimeoutErrc": "an error code: its category's message() names it",
    "ClientErrc": "an error code: its category's message() names it",
}

TYPE_OPTIONS = re.compile(r"^\s*(?:struct|class)\s+(?:DUET_API\s+)?(\w+Options)\b|^\s*using\s+(\w+Options)\b(.*)$")
ENUM = re.compile(r"^enum class (\w+)")
NAME_FN = re.compile(r"\b(\w+_name)\s*\(\s*(?:duet::)?(?:\w+::)*(\w+)\s+\w+\s*\)")
MODEL_ENUMERATOR = re.compile(r"^\s*(stackless|stackful)\b(?!\s*\[\[deprecated)\s*[,=}]")
IO_RESULT = re.compile(r"\bio::Result\b")
ABORT_TYPE = re.compile(r"^\s*(?:struct|class|using)\s+(?:DUET_API\s+)?(\w*Abort\w*)\b(.*)$")
CORO_TYPE = re.compile(r"^\s*(?:struct|class|using)\s+(?:DUET_API\s+)?(\w*Coro(?!utine)\w*)\b(.*)$")
STATS_GETTER = re.compile(r"(?:^|[\s:])(\w*Stats)\s+(\w+)\s*\(")
FREE_STATS = re.compile(r"^(?:\[\[[^\]]*\]\]\s*)*(?:DUET_API\s+)?(?:inline\s+)?[\w:]*Stats\w*\s+(\w+_stats)\s*\(")
SNAPSHOT_TYPE = re.compile(r"^\s*(?:struct|class|using)\s+(?:DUET_API\s+)?(\w+Snapshot)\b")
RETIRED_FIELD = re.compile(r"^\s*(?:\[\[[^\]]*\]\]\s*)?[\w:<>, ]*[\w>]\s+(\w+_per_host|read_timeout)\s*[{=;]"
                           r"|^\s+(\w+_per_host|read_timeout)\s*[{=;]")
CONFIGURE_FN = re.compile(r"^\s*(?:\[\[[^\]]*\]\]\s*)*(?:DUET_API\s+)?(?:inline\s+)?[\w:<>]+\s+"
                          r"(configure_\w+)\s*\(([^()]*,[^()]*)\)")
SPAWN_VIA = re.compile(r"([\w>]+)\s+spawn_via\s*\(")  # a declaration: a type before the name
TLS_INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]duet/detail/tls\.hpp[>"]')
TRY_BOOL = re.compile(r"\b(try_\w+)\s*\(\s*bool\b")
FETCH_FN = re.compile(r"[\w>]\s+(fetch)\s*\(")  # a declaration: a type before the name
TIMEOUT_OPTIONAL = re.compile(r"\btimeout(?:_at)?\(.*//\s*(?:std::)?optional<")


def public_headers(roots):
    for root in roots:
        for p in sorted(root.rglob("*.hpp")):
            rel = p.relative_to(root)
            if "detail" in rel.parts:
                continue
            yield p


def in_detail(lines):
    """For each line, whether it lies inside a `namespace detail` block."""
    depth = 0
    out = []
    for line in lines:
        if re.match(r"^\s*namespace\s+(\w+::)*detail\s*\{", line):
            depth += 1
        out.append(depth > 0)
        if re.match(r"^\s*\}\s*//\s*namespace\s+(\w+::)*detail\b", line):
            depth -= 1
    return out


def namespaces(lines):
    """For each line, the namespace it lies in ("duet::io"; "" outside any),
    by `namespace a::b {` and the closing `}  // namespace a::b` comment."""
    stack = []
    out = []
    for line in lines:
        m = re.match(r"^\s*namespace\s+([\w:]+)\s*\{", line)
        if m:
            stack.append(m.group(1))
        out.append("::".join(stack))
        if re.match(r"^\s*\}\s*//\s*namespace\b", line) and stack:
            stack.pop()
    return out


def deprecated_near(lines, n):
    """Whether line n (1-based) or the line before says [[deprecated."""
    before = lines[n - 2] if n >= 2 else ""
    return "[[deprecated" in lines[n - 1] or "[[deprecated" in before


def check_names(path, lines, detail, spaces):
    """The rows of statistics, names that say something else, Config,
    internals and "try" (docs/vocabulary.md)."""
    problems = []
    for n, line in enumerate(lines, 1):
        if TLS_INCLUDE.match(line):
            problems.append(f"{path}:{n}: duet/detail/tls.hpp: the thread-locals' header is "
                            f"duet/detail/thread_local.hpp (docs/vocabulary.md)")
        code = line.split("//", 1)[0]
        if detail[n - 1] or not code.strip():
            continue
        m = SPAWN_VIA.search(code)
        if m and m.group(1) != "return":
            problems.append(f"{path}:{n}: spawn_via outside namespace detail: an internal "
                            f"(docs/vocabulary.md)")
        m = TRY_BOOL.search(code)
        if m:
            problems.append(f"{path}:{n}: {m.group(1)}(bool): a try never blocks; the blocking "
                            f"form drops try_ (docs/vocabulary.md)")
        if deprecated_near(lines, n):
            continue
        m = STATS_GETTER.search(code)
        if m and not m.group(2).endswith("stats") and not code.lstrip().startswith(("struct", "class")):
            problems.append(f"{path}:{n}: {m.group(2)}() returns {m.group(1)}: statistics are "
                            f"read as *stats() (docs/vocabulary.md)")
        m = FREE_STATS.match(code)
        if m and spaces[n - 1] != "duet":
            problems.append(f"{path}:{n}: {m.group(1)}() in namespace {spaces[n - 1] or '(none)'}: "
                            f"process-wide statistics are duet::<thing>_stats() (docs/vocabulary.md)")
        m = SNAPSHOT_TYPE.search(code)
        if m:
            problems.append(f"{path}:{n}: {m.group(1)}: a snapshot of statistics is <Thing>Stats "
                            f"(docs/vocabulary.md)")
        m = RETIRED_FIELD.search(code)
        if m and "detail::Old" not in code:
            name = m.group(1) or m.group(2)
            word = "io_timeout: it bounds writes too" if name == "read_timeout" else \
                "per origin: an address and port"
            problems.append(f"{path}:{n}: {name}: {word} (docs/vocabulary.md)")
        m = FETCH_FN.search(code)
        if m and not code.lstrip().startswith("return"):
            problems.append(f"{path}:{n}: fetch(): the plain-call form is send_now, as open_now "
                            f"(docs/vocabulary.md)")
        m = CONFIGURE_FN.search(code)
        if m:
            problems.append(f"{path}:{n}: {m.group(1)}({m.group(2).strip()}): a configure_* "
                            f"function takes a Config (docs/vocabulary.md)")
    return problems


def check_file(path, enums_all):
    problems = []
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    detail = in_detail(lines)
    problems += check_names(path, lines, detail, namespaces(lines))
    for n, line in enumerate(lines, 1):
        if detail[n - 1]:
            continue
        m = TYPE_OPTIONS.search(line)
        if m:
            name = m.group(1) or m.group(2)
            rest = m.group(3) or ""
            if name != "SocketOptions" and "[[deprecated" not in rest and "[[deprecated" not in line:
                problems.append(f"{path}:{n}: {name}: a Config is the word (docs/vocabulary.md)")
        m = NAME_FN.search(line)
        if m and m.group(2) in enums_all:
            before = lines[n - 2] if n >= 2 else ""
            if "[[deprecated" not in line and "[[deprecated" not in before:
                problems.append(f"{path}:{n}: {m.group(1)}({m.group(2)}): the name of a value is "
                                f"to_string (docs/vocabulary.md)")
        if MODEL_ENUMERATOR.search(line):
            problems.append(f"{path}:{n}: a task kind spelled as a model: coroutine, poll, fiber "
                            f"(docs/vocabulary.md)")
        m = CORO_TYPE.search(line)
        if m and "[[deprecated" not in m.group(2):
            problems.append(f"{path}:{n}: {m.group(1)}: coroutine is the word (docs/vocabulary.md)")
        if IO_RESULT.search(line) and "[[deprecated" not in line:
            problems.append(f"{path}:{n}: io::Result: duet::Result is the word (docs/vocabulary.md)")
        m = ABORT_TYPE.search(line)
        if m and "[[deprecated" not in m.group(2):
            problems.append(f"{path}:{n}: {m.group(1)}: cancel is the word (docs/vocabulary.md)")
        if TIMEOUT_OPTIONAL.search(line):
            problems.append(f"{path}:{n}: a timeout answers a duet::Result (its error "
                            f"TimeoutErrc::elapsed), not an optional (docs/vocabulary.md)")
    for n, line in enumerate(lines, 1):
        m = ENUM.match(line)
        if not m or detail[n - 1]:
            continue
        e = m.group(1)
        if e in EXEMPT:
            continue
        has_values = re.search(rf"\benum_values\(\s*{e}\s*\)", text)
        has_name = re.search(rf"\bto_string\(\s*{e}\b", text)
        if not (has_values and has_name):
            problems.append(f"{path}:{n}: enum {e} lacks enum_values({e}) and to_string({e}) "
                            f"(duet/names.hpp)")
    return problems


def main(argv):
    if len(argv) == 3 and argv[1] == "--prefix":
        roots = [pathlib.Path(argv[2]) / "include"]
    elif len(argv) == 2:
        roots = [pathlib.Path(argv[1]) / d for d in INCLUDE_DIRS]
    else:
        print(__doc__, file=sys.stderr)
        return 2
    headers = list(public_headers([r for r in roots if r.is_dir()]))
    enums_all = set()
    for p in headers:
        for line in p.read_text(encoding="utf-8").splitlines():
            m = ENUM.match(line.strip())
            if m:
                enums_all.add(m.group(1))
    problems = []
    for p in headers:
        problems += check_file(p, enums_all)
    for line in problems:
        print(line)
    print(f"check_vocabulary: {len(headers)} public headers read, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
