"""checker_case.py: the base of the tree checkers' self-tests
(check_paths_test.py, check_comments_test.py, check_folders_test.py): runs
a checker on a tree without git, built in a temporary folder from
{path: text}."""
import pathlib
import subprocess
import sys
import tempfile
import unittest


class CheckerCase(unittest.TestCase):
    checker = ""  # the checker's file name, beside this one

    def run_on(self, files, args=()):
        """(exit status, stderr) of the checker on a tree of `files`, with
        `args` after the tree's root."""
        script = pathlib.Path(__file__).resolve().parent / self.checker
        with tempfile.TemporaryDirectory() as tmp:
            root = pathlib.Path(tmp)
            for rel, text in files.items():
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_text(text)
            run = subprocess.run([sys.executable, "-B", str(script), str(root), *args],
                                 capture_output=True, text=True, check=False)
            return run.returncode, run.stderr
