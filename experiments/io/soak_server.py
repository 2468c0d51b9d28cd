"""soak_server.py: the server process a fault soak keeps under load
(experiments/io/soak.py drives examples/echo_server, http_soak.py
examples/http_server).

SoakServer starts the program with a low RLIMIT_NOFILE (so a connection
storm reaches EMFILE), its stderr in a file, reads its ready line
("listening on PORT"), and answers what the soak checks after each wave:
alive, descriptors open, RSS, how many accept errors it reported. stop()
sends SIGTERM and returns the exit status (killed past `stop_timeout`).
"""
from __future__ import annotations

import os
import re
import resource
import signal
import subprocess


class SoakServer:
    def __init__(self, argv: list[str], name: str, nofile: int, stop_timeout: float,
                 env: dict[str, str] | None = None):
        def limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.stop_timeout = stop_timeout
        self.err_path = f"/tmp/duet-{name}-{os.getpid()}.err"
        self.err = open(self.err_path, "w+", encoding="utf-8")
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.err, text=True,
                                  preexec_fn=limit, env=env)
        line = self.p.stdout.readline()
        m = re.search(r"listening on (\d+)", line)
        if not m:
            self.stop()
            raise RuntimeError(f"{os.path.basename(argv[0])} did not start: {line!r}")
        self.port = int(m.group(1))

    def alive(self) -> bool:
        return self.p.poll() is None

    def fds(self) -> int:
        """Open descriptors, less the server's reads of its own /proc files
        (the fiber stack mapper counts /proc/self/maps while it maps a slab):
        those may be open at any moment and are nobody's leak."""
        base = f"/proc/{self.p.pid}/fd"
        n = 0
        for name in os.listdir(base):
            try:
                target = os.readlink(f"{base}/{name}")
            except OSError:
                continue  # closed since the listing
            if not target.startswith("/proc/"):
                n += 1
        return n

    def rss(self) -> int:
        with open(f"/proc/{self.p.pid}/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def emfile_reports(self) -> int:
        self.err.flush()
        with open(self.err_path, encoding="utf-8", errors="replace") as f:
            return sum(1 for line in f if "accept:" in line)

    def stop(self) -> int | None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.err.close()
        os.unlink(self.err_path)
        return self.p.returncode
