"""Results on file: the folded summaries of every experiment of one machine
(reports/data/<machine>/<experiment>.json), with lookups for the claim rules.
"""

from __future__ import annotations

import json
import os

from .stats import Summary, linear_fit


class Missing(Exception):
    """A number a rule needs is not on file (experiment not run or failed)."""


class Results:
    def __init__(self, files: dict[str, dict]):
        self.files = files                      # experiment name -> data file
        self.machine: dict = {}
        self.by_key: dict[tuple, Summary] = {}
        for name, d in files.items():
            for s in d.get("results", []):
                sm = Summary.from_json(s)
                self.by_key[(sm.experiment, sm.impl, sm.metric, sm.n)] = sm

    @classmethod
    def load(cls, data_dir: str) -> "Results":
        files = {}
        if os.path.isdir(data_dir):
            for f in sorted(os.listdir(data_dir)):
                if f.endswith(".json") and f != "machine.json":
                    with open(os.path.join(data_dir, f), encoding="utf-8") as fh:
                        d = json.load(fh)
                    files[d["experiment"]] = d
        return cls(files)

    def status(self, experiment: str) -> str:
        d = self.files.get(experiment)
        return d["status"] if d else "not run"

    def has(self, experiment: str, metric: str, n=None, impl: str = "") -> bool:
        return (experiment, impl, metric, n) in self.by_key

    def get(self, experiment: str, metric: str, n=None, impl: str = "") -> Summary:
        s = self.by_key.get((experiment, impl, metric, n))
        if s is None:
            raise Missing(f"{experiment}/{impl or '-'}/{metric}" + (f" n={n}" if n is not None else ""))
        return s

    def opt(self, experiment: str, metric: str, n=None, impl: str = "") -> Summary | None:
        return self.by_key.get((experiment, impl, metric, n))

    def series(self, experiment: str, metric: str, impl: str = "") -> list[Summary]:
        """All n of one (experiment, impl, metric), sorted by n."""
        out = [s for (e, i, m, _), s in self.by_key.items() if e == experiment and i == impl and m == metric]
        return sorted(out, key=lambda s: (s.n is None, s.n or 0))

    def series_prefix(self, experiment: str, prefix: str, impl: str = "") -> list[Summary]:
        return [s for (e, i, m, _), s in self.by_key.items() if e == experiment and i == impl and m.startswith(prefix)]

    def impls(self, experiment: str, metric: str) -> list[str]:
        seen = []
        for (e, i, m, _) in self.by_key:
            if e == experiment and m == metric and i not in seen:
                seen.append(i)
        return seen

    def largest(self, experiment: str, metric: str, impl: str, at_most=None) -> Summary:
        ss = [s for s in self.series(experiment, metric, impl) if s.n is not None and (at_most is None or s.n <= at_most)]
        if not ss:
            raise Missing(f"{experiment}/{impl}/{metric}")
        return ss[-1]

    def slope(self, experiment: str, metric: str, impl: str) -> tuple[float, list[Summary]]:
        """Least-squares slope of the medians of `metric` over n (e.g. RSS
        growth over N: bytes per task, free of fixed costs)."""
        ss = [s for s in self.series(experiment, metric, impl) if s.n]
        if len(ss) < 2:
            raise Missing(f"{experiment}/{impl}/{metric} at two or more N")
        slope, _ = linear_fit([float(s.n) for s in ss], [s.median for s in ss])
        return slope, ss

    def commands(self, experiments: list[str]) -> list[str]:
        return [self.files[e]["command"] for e in experiments if e in self.files]
