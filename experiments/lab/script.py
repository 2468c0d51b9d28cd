"""What the lab's stand-alone driver scripts share (experiments/io/*.py,
experiments/http/*.py): a log line on stderr, raising RLIMIT_NOFILE, and
a non-blocking connect from one of many loopback sources.

Those scripts print their records on stdout, so everything else they say
goes to stderr, a line at a time and flushed at once (the lab shows a
failed run's last stderr line). They import this module after putting
experiments/ on sys.path:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from lab.script import log, raise_nofile
"""
from __future__ import annotations

import errno
import resource
import socket
import sys


def log(msg: str, name: str = "") -> None:
    """One line on stderr, flushed; `name: ` before it where given."""
    print(f"{name}: {msg}" if name else msg, file=sys.stderr, flush=True)


def raise_nofile(want: int) -> int:
    """RLIMIT_NOFILE at least `want` where the hard limit (or root) allows,
    else as high as the hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def start_connect(host: str, port: int, source: int) -> socket.socket | None:
    """A non-blocking connect to (host, port) from 127.0.0.`source` (many
    sources: more connections than one address has ephemeral ports): the
    socket, its connect under way, or None when it failed at once."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.bind((f"127.0.0.{source}", 0))
        err = s.connect_ex((host, port))
    except OSError as e:
        err = e.errno
    if err not in (0, errno.EINPROGRESS):
        s.close()
        return None
    return s
