"""Results on file: the folded summaries of every experiment of one machine
(reports/data/<machine>/<experiment>.json), with lookups for the claim rules.
A rule sees a view (`only`) holding the data files of the experiments it
declares; looking up records that only another experiment's file holds is a
bug in the rule (UndeclaredRead), not a missing number.
"""

from __future__ import annotations

import json
import os

from .stats import Summary, linear_fit


class Missing(Exception):
    """A number a rule needs is not on file (experiment not run or failed);
    its message names the records (`record_name`)."""


def record_name(experiment: str, impl: str, metric: str, n=None) -> str:
    """How a record is named in a "missing: <name>" verdict:
    experiment/impl/metric (as the record says them; impl "-" when empty,
    "*" for any), with n=N when one N is meant."""
    return f"{experiment}/{impl or '-'}/{metric}" + (f" n={n}" if n is not None else "")


def _at_least(k: int) -> str:
    return "" if k <= 1 else " at two or more N" if k == 2 else f" at {k} or more N"


class UndeclaredRead(Exception):
    """A rule looked up records of an experiment its declaration leaves out."""


class Results:
    def __init__(self, files: dict[str, dict]):
        self.files = files                      # experiment name -> data file
        self.machine: dict = {}
        self.by_key: dict[tuple, Summary] = {}
        self.hidden: set[tuple[str, str]] = set()   # (record experiment, impl) kept out of a view
        for d in files.values():
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

    def only(self, names) -> "Results":
        """The data files of the experiments `names` only (what a rule that
        declares them may read)."""
        view = Results({n: d for n, d in self.files.items() if n in names})
        view.machine = self.machine
        inside = {(e, i) for (e, i, _, _) in view.by_key}
        view.hidden = {(e, i) for (e, i, _, _) in self.by_key} - inside
        return view

    def _check(self, experiment: str, impl: str):
        if (experiment, impl) in self.hidden:
            raise UndeclaredRead(f"records {experiment}/{impl or '-'} come from an experiment the rule does not "
                                 "declare")

    def status(self, experiment: str) -> str:
        d = self.files.get(experiment)
        return d["status"] if d else "not run"

    def on_file(self, experiment: str) -> bool:
        """The experiment's data file holds at least one record."""
        return bool(self.files.get(experiment, {}).get("results"))

    def get(self, experiment: str, metric: str, n=None, impl: str = "") -> Summary:
        self._check(experiment, impl)
        s = self.by_key.get((experiment, impl, metric, n))
        if s is None:
            raise Missing(record_name(experiment, impl, metric, n))
        return s

    def opt(self, experiment: str, metric: str, n=None, impl: str = "") -> Summary | None:
        self._check(experiment, impl)
        return self.by_key.get((experiment, impl, metric, n))

    def series(self, experiment: str, metric: str, impl: str = "", at_least: int = 0) -> list[Summary]:
        """All n of one (experiment, impl, metric), sorted by n; Missing
        naming them when fewer than `at_least` are on file."""
        self._check(experiment, impl)
        out = [s for (e, i, m, _), s in self.by_key.items() if e == experiment and i == impl and m == metric]
        if len(out) < at_least:
            raise Missing(record_name(experiment, impl, metric) + _at_least(at_least))
        return sorted(out, key=lambda s: (s.n is None, s.n or 0))

    def series_prefix(self, experiment: str, prefix: str, impl: str = "", at_least: int = 0) -> list[Summary]:
        """Every record of (experiment, impl) whose metric starts with
        `prefix`; Missing naming them when fewer than `at_least`."""
        self._check(experiment, impl)
        out = [s for (e, i, m, _), s in self.by_key.items() if e == experiment and i == impl and m.startswith(prefix)]
        if len(out) < at_least:
            raise Missing(record_name(experiment, impl, prefix + "*") + _at_least(at_least))
        return out

    def impls(self, experiment: str, metric: str) -> list[str]:
        seen = []
        for (e, i, m, _) in self.by_key:
            if e == experiment and m == metric and i not in seen:
                seen.append(i)
        return seen

    def largest(self, experiment: str, metric: str, impl: str, at_most=None) -> Summary:
        ss = [s for s in self.series(experiment, metric, impl) if s.n is not None and (at_most is None or s.n <= at_most)]
        if not ss:
            raise Missing(record_name(experiment, impl, metric))
        return ss[-1]

    def slope(self, experiment: str, metric: str, impl: str) -> tuple[float, list[Summary]]:
        """Least-squares slope of the medians of `metric` over n (e.g. RSS
        growth over N: bytes per task, free of fixed costs)."""
        ss = [s for s in self.series(experiment, metric, impl) if s.n]
        if len(ss) < 2:
            raise Missing(record_name(experiment, impl, metric) + _at_least(2))
        slope, _ = linear_fit([float(s.n) for s in ss], [s.median for s in ss])
        return slope, ss
