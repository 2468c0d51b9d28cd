"""Statistics: every number in the report is the median of several samples,
shown with its min and max (never a mean: one preempted run on a shared
2-vCPU VM would drag a mean far away, while the median stays put).

A *record* is one line a measuring program prints (JSONL):

    {"experiment": "spawn_seq", "metric": "time_per_op", "value": 812.5,
     "unit": "ns", "n": 10000, "method": "steady_clock ...", "impl": "go"}

`impl` (which runtime or backend produced it) is optional; programs written
by other engineers may leave it out. Records of K repeated runs that share a
key (experiment, impl, metric, n) are folded into one Summary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


def median(xs: list[float]) -> float:
    if not xs:
        raise ValueError("median of nothing")
    s = sorted(xs)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2.0


@dataclass
class Summary:
    experiment: str
    metric: str
    unit: str
    n: int | None
    impl: str
    method: str
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)

    def to_json(self) -> dict:
        return {
            "experiment": self.experiment, "impl": self.impl, "metric": self.metric,
            "n": self.n, "unit": self.unit, "method": self.method,
            "median": self.median, "min": self.min, "max": self.max,
            "runs": len(self.samples), "samples": self.samples,
        }

    @classmethod
    def from_json(cls, d: dict) -> "Summary":
        return cls(d["experiment"], d["metric"], d.get("unit", ""), d.get("n"),
                   d.get("impl", ""), d.get("method", ""), list(d["samples"]))


def record_key(experiment: str, impl: str, metric: str, n) -> tuple:
    return (experiment, impl or "", metric, None if n is None else int(n))


def fold(records: list[dict]) -> list[Summary]:
    """Groups records by key, keeping first-seen order; samples accumulate."""
    out: dict[tuple, Summary] = {}
    for r in records:
        v = r.get("value")
        if v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v))):
            continue
        n = r.get("n")
        k = record_key(r["experiment"], r.get("impl", ""), r["metric"], n)
        s = out.get(k)
        if s is None:
            s = Summary(r["experiment"], r["metric"], r.get("unit", ""),
                        None if n is None else int(n), r.get("impl", "") or "",
                        r.get("method", ""))
            out[k] = s
        s.samples.append(float(v))
    return list(out.values())


def linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares slope and intercept (y = slope * x + intercept)."""
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError("need two or more points")
    mx = sum(xs) / len(xs)
    my = sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        raise ValueError("all x equal")
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return slope, my - slope * mx


def fmt_num(v: float, digits: int = 3) -> str:
    """Three significant digits, no exponent for ordinary magnitudes."""
    if v is None:
        return "?"
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 10 ** digits:
        return f"{v:,.0f}"
    if a < 1e-3:
        return f"{v:.2e}"
    places = max(0, digits - 1 - int(math.floor(math.log10(a))))
    s = f"{v:.{places}f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


BYTE_UNITS = (("GiB", 1024.0 ** 3), ("MiB", 1024.0 ** 2), ("KiB", 1024.0))


def fmt_bytes(b: float) -> str:
    for unit, scale in BYTE_UNITS:
        if abs(b) >= scale:
            return f"{fmt_num(b / scale)} {unit}"
    return f"{fmt_num(b)} B"


def fmt_time_ns(ns: float) -> str:
    a = abs(ns)
    if a >= 1e9:
        return f"{fmt_num(ns / 1e9)} s"
    if a >= 1e6:
        return f"{fmt_num(ns / 1e6)} ms"
    if a >= 1e3:
        return f"{fmt_num(ns / 1e3)} us"
    return f"{fmt_num(ns)} ns"
