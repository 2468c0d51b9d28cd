"""The smoke profile through the real runner (what CI runs): builds, runs
every experiment with tiny N and no peers, and checks that the report has a
row for every claim ID of experiments/lab/claims.md with a measured value and
a verdict. Set DUET_LAB_SKIP_SMOKE=1 to skip (e.g. for a quick unit run),
or DUET_LAB_SMOKE_OUT=DIR to check the output of a smoke run made already
(tests/run's lab smoke stage: the profile runs once per CI run)."""

import os
import re
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "experiments"))

from lab import claims as C  # noqa: E402


@unittest.skipIf(os.environ.get("DUET_LAB_SKIP_SMOKE") == "1", "DUET_LAB_SKIP_SMOKE=1")
class SmokeTest(unittest.TestCase):
    def test_smoke_profile_produces_a_complete_ledger(self):
        made = os.environ.get("DUET_LAB_SMOKE_OUT")
        if made:
            self.check_output(made, 0, f"the smoke run in {made}")
            return
        with tempfile.TemporaryDirectory() as out:
            p = subprocess.run([os.path.join(ROOT, "experiments", "run"), "--profile", "smoke", "--no-peers",
                                "--out", out], capture_output=True, text=True, timeout=1800)
            self.check_output(out, p.returncode, (p.stdout + p.stderr)[-3000:])

    def check_output(self, out, returncode, tail):
        readme = os.path.join(out, "README.md")
        self.assertTrue(os.path.exists(readme), tail)
        with open(readme, encoding="utf-8") as fh:
            text = fh.read()
        rows = {}
        for line in text.splitlines():
            m = re.match(r"^\| ([MSKRP]\d+) \|", line)
            if m and line.count("|") >= 7:
                rows[m.group(1)] = [c.strip() for c in line.strip().strip("|").split(" | ")]
        problems = []
        for c in C.load_claims():
            r = rows.get(c.id)
            if r is None:
                problems.append(f"{c.id}: no row")
                continue
            measured, verdict = r[3], r[4]
            if verdict not in C.VERDICTS:
                problems.append(f"{c.id}: verdict '{verdict}' ({r[5]})")
            if not measured or measured.startswith("["):
                problems.append(f"{c.id}: no measured value")
        self.assertEqual(problems, [], tail)
        data = os.path.join(out, "data")
        self.assertTrue(any(f.endswith(".json") for _, _, fs in os.walk(data) for f in fs))
        self.assertEqual(returncode, 0, tail)


if __name__ == "__main__":
    unittest.main()
