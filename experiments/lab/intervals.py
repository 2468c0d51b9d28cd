"""Intervals over reps, and the verdict of a target against its line.

A figure the lab grades is the median of its reps (stats.py). The median
alone flips sides of a line from run to run when the reps spread across
it, so every graded figure carries an interval over its reps, and a target
is graded by the whole interval (`decide`):

- met: the whole interval lies on the right side of the line (or inside
  the band);
- missed: the whole interval lies on the wrong side;
- undecided at N reps: the interval crosses the line, or there is a single
  rep (no spread to read). `reps_needed` estimates how many reps would
  decide it.

The interval (`interval`, `ratio_interval`):

- from BOOTSTRAP_MIN_REPS reps on, a percentile bootstrap of the median at
  CONFIDENCE, BOOTSTRAP_RESAMPLES resamples, from a fixed seed over the
  sorted reps: the same reps give the same interval, whatever their order;
- below it, order statistics: the k-th lowest to the k-th highest rep
  holds the population's median with probability 1 - 2 P(B <= k-1), B
  binomial(n, 1/2), with no assumption on the distribution. The interval
  is the narrowest such run that holds it with probability CONFIDENCE
  (the min-max from 6 to 8 reps, the second-lowest to the second-highest
  at 9), or the min-max where none does (1 - 2^(1-n): 75% at 3 reps, 94%
  at 5); a bootstrap of so few reps takes only a handful of distinct
  values and reads narrower than the data are.

A ratio of two figures is bootstrapped from its per-rep ratios when the two
were measured in the same rep (paired): the programs and drivers write
such ratios as records of their own (`rps_vs_nginx.*`, `p99_vs_tokio_*`,
"ratio ... in the same rep"), and a record of per-rep ratios is graded as
one figure. Records carry no rep index, so two figures' samples are not
known to be paired by position: a ratio the report takes of two figures
(memory per idle connection, a scope's spawn against a plain one) resamples
each side independently, and its min-max is min(a)/max(b) to max(a)/min(b).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .stats import fmt_num, median

# The interval's confidence level (a two-sided percentile interval).
CONFIDENCE = 0.95
# Resamples per bootstrap: enough that the percentile bounds (each on or
# next to one of the reps' middle order statistics) move by a small
# fraction of the reps' spread from one seed to another; the fixed seed
# below removes even that.
BOOTSTRAP_RESAMPLES = 2000
# The fewest reps a bootstrap is taken of; below, the min-max (see above).
BOOTSTRAP_MIN_REPS = 10
# Any fixed seed: it makes the interval a function of the reps alone.
BOOTSTRAP_SEED = 73
# The fewest reps that can decide a target: one rep shows no spread.
MIN_REPS = 2
# The largest number of reps `reps_needed` states; past it, "more than".
REPS_CAP = 100

MET, MISSED, UNDECIDED = "met", "missed", "undecided"


@dataclass(frozen=True)
class Interval:
    value: float    # the figure shown: the reps' median, or the ratio of the two sides' medians
    lo: float
    hi: float
    reps: int       # reps behind it (for a ratio of two sides, the fewer side's)
    method: str     # "min-max" or "bootstrap"
    sides: str = "one"   # "one" (a figure, or per-rep ratios), "independent" (a ratio of two sides)

    def text(self, fmt=fmt_num) -> str:
        """"lo-hi, min-max of 6 reps" / "lo-hi, 2nd lowest to 2nd highest of
        9 reps" / "lo-hi, 95% bootstrap of 12 reps"."""
        if self.method == "min-max":
            how = "min-max"
        elif self.method.startswith("order:"):
            k = _ordinal(int(self.method.split(":")[1]))
            how = f"{k} lowest to {k} highest"
        else:
            how = f"{fmt_num(CONFIDENCE * 100)}% bootstrap"
        of = f"each side's {self.reps}" if self.sides == "independent" else f"{self.reps}"
        return f"{fmt(self.lo)}-{fmt(self.hi)}, {how} of {of} rep{'s' if self.reps != 1 else ''}"


def _ordinal(k: int) -> str:
    return f"{k}{'th' if 10 <= k % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(k % 10, 'th')}"


def median_coverage(n: int, k: int) -> float:
    """The probability that the k-th lowest to the k-th highest of n reps
    hold the population's median: 1 - 2 P(B <= k-1), B binomial(n, 1/2)."""
    if not 1 <= k <= (n + 1) // 2:
        raise ValueError(f"order statistic {k} of {n} reps")
    tail = sum(math.comb(n, j) for j in range(k)) / 2 ** n
    return 1 - 2 * tail


def order_k(n: int) -> int:
    """The largest k whose k-th lowest to k-th highest of n reps hold the
    median with probability CONFIDENCE; 1 (the min-max) where none does."""
    k = 1
    while k + 1 <= (n + 1) // 2 and median_coverage(n, k + 1) >= CONFIDENCE:
        k += 1
    return k


def _percentiles(stats: list[float]) -> tuple[float, float]:
    s = sorted(stats)
    k = len(s)
    tail = (1 - CONFIDENCE) / 2
    lo = s[max(0, int(math.floor(tail * k)))]
    hi = s[min(k - 1, int(math.ceil((1 - tail) * k)) - 1)]
    return lo, hi


def interval(samples: list[float]) -> Interval:
    """The interval of one figure's reps (or of per-rep ratios)."""
    xs = sorted(float(x) for x in samples)
    if not xs:
        raise ValueError("interval of nothing")
    n, med = len(xs), median(xs)
    if n < BOOTSTRAP_MIN_REPS:
        k = order_k(n)
        return Interval(med, xs[k - 1], xs[n - k], n, "min-max" if k == 1 else f"order:{k}")
    rng = random.Random(BOOTSTRAP_SEED)
    lo, hi = _percentiles([median(rng.choices(xs, k=n)) for _ in range(BOOTSTRAP_RESAMPLES)])
    # The percentile interval of a median holds the sample median but for
    # freak draws; the estimate of reps_needed relies on it.
    return Interval(med, min(lo, med), max(hi, med), n, "bootstrap")


def _div(a: float, b: float) -> float:
    return a / b if b > 0 else math.inf


def ratio_interval(num: list[float], den: list[float], paired: bool = False) -> Interval:
    """The interval of num/den: over the per-rep ratios when the reps are
    paired (the same length, rep k of each measured together), else of the
    ratio of the medians with each side resampled on its own."""
    if paired:
        if len(num) != len(den):
            raise ValueError(f"paired reps of unequal length: {len(num)} and {len(den)}")
        return interval([_div(a, b) for a, b in zip(num, den)])
    a, b = sorted(float(x) for x in num), sorted(float(x) for x in den)
    if not a or not b:
        raise ValueError("ratio of nothing")
    n, value = min(len(a), len(b)), _div(median(a), median(b))
    if n < BOOTSTRAP_MIN_REPS:
        return Interval(value, _div(a[0], b[-1]), _div(a[-1], b[0]), n, "min-max", "independent")
    rng = random.Random(BOOTSTRAP_SEED)
    lo, hi = _percentiles([_div(median(rng.choices(a, k=len(a))), median(rng.choices(b, k=len(b))))
                           for _ in range(BOOTSTRAP_RESAMPLES)])
    return Interval(value, min(lo, value), max(hi, value), n, "bootstrap", "independent")


@dataclass(frozen=True)
class Region:
    """Where a target's figure must lie, bounds included: at most a line,
    at least a line, or within a band."""
    lo: float = -math.inf
    hi: float = math.inf

    def contains(self, x: float) -> bool:
        return self.lo <= x <= self.hi


def at_most(line: float) -> Region:
    return Region(hi=line)


def at_least(line: float) -> Region:
    return Region(lo=line)


def within(lo: float, hi: float) -> Region:
    return Region(lo, hi)


@dataclass(frozen=True)
class Decision:
    state: str                  # MET, MISSED or UNDECIDED
    reps: int
    reps_needed: int | None     # UNDECIDED only: the estimate; None past REPS_CAP

    def needed_text(self) -> str:
        """What would decide an undecided target, as an estimate."""
        if self.reps < MIN_REPS:
            return f"one rep shows no spread: {MIN_REPS} or more would decide it"
        if self.reps_needed is None:
            return f"more than {REPS_CAP} reps would be needed (estimate)"
        return f"~{self.reps_needed} reps would decide it (estimate)"


def reps_needed(iv: Interval, region: Region) -> int | None:
    """The reps at which an interval that crosses the region's edge would
    clear it, if its width shrinks as 1/sqrt(reps) about the same figure:
    n * (w/d)^2, w the distance from the figure to the interval's bound
    past the edge, d from the figure to the edge; None when that passes
    REPS_CAP or the figure sits on the edge."""
    c, n = iv.value, max(iv.reps, 1)
    factor = 0.0
    if region.contains(c):
        # Shrink the interval into the region, on every side it spills.
        for bound, edge in ((iv.hi, region.hi), (iv.lo, region.lo)):
            if region.contains(bound):
                continue
            d = abs(edge - c)
            if d == 0:
                return None
            factor = max(factor, (abs(bound - c) / d) ** 2)
    else:
        # Shrink it out of the region, on the side that faces it.
        edge, bound = (region.hi, iv.lo) if c > region.hi else (region.lo, iv.hi)
        d = abs(c - edge)
        if d == 0:
            return None
        factor = (abs(bound - c) / d) ** 2
    # Past the point where the bound would touch the edge (a rounding's
    # worth of slack keeps 4 * (0.2/0.1)^2 at 16, not 15.99).
    want = max(n + 1, int(math.floor(n * factor * (1 + 1e-9))) + 1)
    return want if want <= REPS_CAP else None


def decide(iv: Interval, region: Region) -> Decision:
    """Met when the whole interval lies in the region, missed when none of
    it does, undecided otherwise, and always undecided at fewer than
    MIN_REPS reps."""
    if iv.reps < MIN_REPS:
        return Decision(UNDECIDED, iv.reps, MIN_REPS)
    if region.lo <= iv.lo and iv.hi <= region.hi:
        return Decision(MET, iv.reps, None)
    if iv.hi < region.lo or iv.lo > region.hi:
        return Decision(MISSED, iv.reps, None)
    return Decision(UNDECIDED, iv.reps, reps_needed(iv, region))


@dataclass(frozen=True)
class Graded:
    """One target as a page graded it: what lab.repeat compares run to run."""
    key: str
    iv: Interval
    region: Region
    decision: Decision

    @property
    def state(self) -> str:
        return self.decision.state
