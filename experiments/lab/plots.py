"""SVG plots through gnuplot (Debian's gnuplot-nox): one function per figure.
A plot that cannot be drawn (no gnuplot, no data) is skipped, never fatal."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile


def available() -> bool:
    return shutil.which("gnuplot") is not None


def lines(path: str, title: str, xlabel: str, ylabel: str, series: dict[str, list[tuple[float, float]]],
          logx: bool = True, logy: bool = True, marks: list[tuple[float, str]] | None = None,
          xformat: str = "", yformat: str = "") -> bool:
    """Line plot of several series; `marks` draws vertical lines (cache sizes)."""
    series = {k: sorted(v) for k, v in series.items() if v}
    if not available() or not series:
        return False
    xs = [x for pts in series.values() for x, _ in pts]
    # Marks outside the data's x range would be clipped (badly, by some SVG
    # renderers): keep those inside only.
    marks = [(x, label) for x, label in (marks or []) if min(xs) <= x <= max(xs)]
    with tempfile.TemporaryDirectory() as d:
        cmds = [
            "set terminal svg size 760,440 dynamic font 'sans,11'",
            f"set output '{path}'",
            f"set title '{_q(title)}'",
            f"set xlabel '{_q(xlabel)}'",
            f"set ylabel '{_q(ylabel)}'",
            "set key top left",
            "set grid",
        ]
        if xformat:
            cmds.append(f"set format x '{xformat}'")
        if yformat:
            cmds.append(f"set format y '{yformat}'")
        if logx:
            cmds.append("set logscale x")
        if logy:
            cmds.append("set logscale y")
        for i, (x, label) in enumerate(marks or []):
            cmds.append(f"set arrow {i + 1} from first {x}, graph 0 to first {x}, graph 1 nohead dt 2 lc rgb '#888888'")
            cmds.append(f"set label {i + 1} '{_q(label)}' at first {x}, graph 0.97 rotate by 90 right offset -0.8,0 "
                        f"font ',9' tc rgb '#555555'")
        plots = []
        for i, (name, pts) in enumerate(series.items()):
            f = os.path.join(d, f"s{i}.dat")
            with open(f, "w", encoding="utf-8") as fh:
                for x, y in pts:
                    if (not logx or x > 0) and (not logy or y > 0):
                        fh.write(f"{x} {y}\n")
            # gnuplot's palette has 8 colours: dash the series past the 8th.
            plots.append(f"'{f}' using 1:2 with linespoints lt {i % 8 + 1} dt {1 + i // 8} pt {i + 1} "
                         f"title '{_q(name)}'")
        cmds.append("plot " + ", ".join(plots))
        script = os.path.join(d, "plot.gp")
        with open(script, "w", encoding="utf-8") as fh:
            fh.write("\n".join(cmds) + "\n")
        p = subprocess.run(["gnuplot", script], capture_output=True, text=True)
        return p.returncode == 0 and os.path.exists(path)


def _q(s: str) -> str:
    return s.replace("'", "''").replace("_", "\\\\_")
