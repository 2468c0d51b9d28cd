#!/usr/bin/env python3
"""service_lines.py: the claim of examples/http_service, checked: each
model's handlers (the lines between `// handlers: begin` and
`// handlers: end` of coroutine.cpp and fiber.cpp) are at most --max lines
of code, counted as cloc counts them: blank lines and comment-only lines
left out, every other line counted whole (a wrapped statement counts each
of its lines). The route table, main() and the shared Service (its store
and configuration, service.cpp) lie outside the markers and are not
counted. Prints each file's count; exits 1 when one is over, or a file
lacks its markers."""
import argparse
import pathlib
import sys

BEGIN = "// handlers: begin"
END = "// handlers: end"


def handler_lines(text):
    """The code lines between the markers, or None when a marker is missing
    or they are out of order."""
    lines = text.splitlines()
    starts = [i for i, l in enumerate(lines) if l.strip() == BEGIN]
    ends = [i for i, l in enumerate(lines) if l.strip() == END]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        return None
    body = lines[starts[0] + 1:ends[0]]
    return [l for l in body if l.strip() and not l.strip().startswith("//")]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max", type=int, default=60)
    ap.add_argument("files", nargs="+", type=pathlib.Path)
    args = ap.parse_args(argv)
    ok = True
    for f in args.files:
        code = handler_lines(f.read_text())
        if code is None:
            print(f"{f}: no single '{BEGIN}' ... '{END}' pair")
            ok = False
            continue
        over = len(code) > args.max
        print(f"{f}: {len(code)} lines of handlers (at most {args.max}){' OVER' if over else ''}")
        ok = ok and not over
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
