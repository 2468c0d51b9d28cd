"""http_loc (experiments/lab/loc.py): the line counter on synthetic sources
(comments in C++, Go and Rust, comment markers inside literals, C++ raw
strings, Go back-quoted strings, Rust raw strings and nested comments,
digit separators and lifetimes that are no character literals), the
records of a synthetic tree and of this repository's own files, the
experiment's registration (every profile, no invocations, read in the
lab's process), and its table on the HTTP page."""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from lab import loc  # noqa: E402
from lab.experiments import EXPERIMENTS, PROFILES, Ctx  # noqa: E402
from lab.report import Report  # noqa: E402
from lab.results import Results  # noqa: E402
from lab.runner import PYTHON_RECORDS  # noqa: E402
from lab.tests.test_report import MACHINE, data_file  # noqa: E402

CPP = r'''// header comment
#include <string>

/* a block
   comment */
int f() {  // trailing comment
  auto s = "not // a comment";
  auto t = "/* nor this";
  char q = '"';
  char z = '\'';
  auto r = R"x(raw // text
/* still raw */
)x";
  long big = 1'000'000;  /* inline */ int k = 0;
  /* only a comment */
  return 0;
}
'''

GO = '''// Package doc.
package main

/* block */
var a = `raw // text
/* raw */`
var b = "x // y" // comment
var c = '/'
'''

RUST = r'''//! crate doc
/* outer /* nested */ still comment */
fn f<'a>(s: &'a str) -> &'static str {
    let u = "http://x"; // comment
    let r = r#"raw "// quoted" text"#;
    let c = '"';
    s
}
'''


class CountTest(unittest.TestCase):
    def test_cpp(self):
        code, physical = loc.count(CPP, "cpp")
        # Code: #include, int f, s, t, q, z, the raw string's three lines,
        # big, return, the closing brace.
        self.assertEqual((code, physical), (12, 17))

    def test_go(self):
        self.assertEqual(loc.count(GO, "go"), (5, 8))

    def test_rust(self):
        self.assertEqual(loc.count(RUST, "rust"), (6, 8))

    def test_blank_and_unterminated(self):
        self.assertEqual(loc.count("", "cpp"), (0, 0))
        self.assertEqual(loc.count("\n\n  \n", "cpp"), (0, 3))
        self.assertEqual(loc.count("x = 1;\n/* never closed\ny = 2;", "cpp"), (1, 3))
        self.assertEqual(loc.count('auto s = "open\n', "cpp"), (1, 1))


class RecordsTest(unittest.TestCase):
    def test_a_synthetic_tree(self):
        with tempfile.TemporaryDirectory() as root:
            for _, _, files, _ in loc.PARTS:
                for f in files:
                    os.makedirs(os.path.dirname(os.path.join(root, f)), exist_ok=True)
                    with open(os.path.join(root, f), "w", encoding="utf-8") as fh:
                        fh.write("// comment\n\nint x;\nint y;\n")
            os.remove(os.path.join(root, "drivers/http/src/poll_engine.cpp"))
            recs = loc.records(root)
        got = {(r["impl"], r["metric"]): r for r in recs}
        self.assertEqual(got[("duet-coroutine", "loc.engine")]["value"], 2)
        self.assertEqual(got[("duet-coroutine", "lines.engine")]["value"], 4)
        self.assertEqual(got[("duet-shared", "loc.handlers")]["value"], 6)   # app.hpp, app.cpp, main.cpp
        self.assertEqual(got[("go", "loc.program")]["value"], 2)
        self.assertTrue(got[("go", "loc.program")]["method"].startswith(
            "non-blank, non-comment lines, counted by experiments/lab/loc.py; experiments/peers/go/http/main.go: "))
        self.assertNotIn(("duet-poll", "loc.engine"), got)
        self.assertEqual(got[("duet-poll", "unavailable.loc.engine")]["method"],
                         "missing: drivers/http/src/poll_engine.cpp")
        for r in recs:
            self.assertEqual(r["experiment"], "http_loc")
            self.assertIsNone(r["n"])

    def test_this_repository_has_every_file(self):
        recs = loc.records()
        self.assertEqual([r for r in recs if r["metric"].startswith("unavailable.")], [])
        for r in recs:
            if r["metric"].startswith("loc."):
                phys = next(p for p in recs if p["impl"] == r["impl"] and p["metric"] == "lines." + r["metric"][4:])
                self.assertGreater(r["value"], 0)
                self.assertLess(r["value"], phys["value"])


class RegistrationTest(unittest.TestCase):
    def test_every_profile_reads_it_in_process(self):
        exp = next(e for e in EXPERIMENTS if e.name == "http_loc")
        self.assertEqual(exp.area, "http")
        self.assertIn(exp.program, PYTHON_RECORDS)
        for p in PROFILES:
            self.assertEqual(exp.invocations(Ctx(p, 2, MACHINE)), [])
            self.assertLessEqual(exp.estimate_s[p], 5)
        self.assertIsNone(exp.skip)
        self.assertEqual(exp.peer, "")


class PageTest(unittest.TestCase):
    def test_the_table_on_the_http_page(self):
        recs = loc.records()
        with tempfile.TemporaryDirectory() as d:
            R = Results({"http_loc": data_file("http_loc", recs)})
            Report(d, MACHINE, R, EXPERIMENTS, "quick").write()
            with open(os.path.join(d, "http.md"), encoding="utf-8") as fh:
                page = fh.read()
        got = {(r["impl"], r["metric"]): r["value"] for r in recs}
        self.assertIn("## Lines of code: engines and handlers", page)
        self.assertIn("It does not measure how hard that code is to write", page)
        co = got[("duet-coroutine", "loc.engine")]
        self.assertIn(f"| `drivers/http/src/coroutine_engine.cpp` | {co:,} | "
                      f"{got[('duet-coroutine', 'lines.engine')]:,} |", page)
        self.assertIn("| `drivers/http/src/poll_engine.hpp` + `drivers/http/src/poll_engine.cpp` | "
                      f"{got[('duet-poll', 'loc.engine')]:,} |", page)
        self.assertIn("| `examples/http_server/routes_fiber.cpp` |", page)
        self.assertIn("| `experiments/peers/tokio/http/src/main.rs` |", page)
        self.assertIn("Against the coroutine engine's connection loop: the fiber engine ", page)


if __name__ == "__main__":
    unittest.main()
