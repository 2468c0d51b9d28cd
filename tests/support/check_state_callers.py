#!/usr/bin/env python3
"""check_state_callers.py: only the harness calls the task state word's transitions.

Usage: check_state_callers.py [ROOT]

The rule (common/src/task/harness.hpp, duet/detail/task/state.hpp): a run's
start and end, the join handshake, wakes and cancels are the harness's; the
scheduler, the workers, the blocking pool and the three task kinds call
the harness, never a transition of TaskState. This check reads the library's
sources (common/, drivers/, stackless/, stackful/: *.hpp, *.cpp, *.inc;
tests are free to drive the word directly) and fails, listing file:line,
where a transition is called outside the files allowed to (the harness and
state.hpp itself), or where TaskState declares a member this check does not
know (a new transition must join TRANSITIONS, so that it is checked too).
"""
import pathlib
import re
import sys

TRANSITIONS = (
    "wake_by_val", "wake_by_ref", "cancel", "to_running", "to_running_joined",
    "to_running_for_cancel", "to_idle", "resume_held", "to_yielded", "to_complete",
    "to_complete_releasing", "to_complete_joined", "release_after_completion",
    "set_join_waker", "unset_join_waker", "drop_join_interest", "release_join_interest",
    "to_listed_at_spawn", "to_running_for_inspection", "pin_at_spawn",
)
# TaskState's members that are not transitions of the life cycle: the
# header's reference count and loads, and the private CAS loop.
NOT_TRANSITIONS = ("load", "ref", "unref", "update")
STATE_HPP = "common/include/duet/detail/task/state.hpp"
# A member function of TaskState (BasicTaskState) as state.hpp declares it.
MEMBER = re.compile(r"^  (?:\[\[nodiscard\]\] )?[\w:<>]+ (\w+)\([^)]*\)(?: const)? noexcept")
# `state.` or `state().` then a transition's name and its call.
CALL = re.compile(r"\bstate(?:\(\))?\s*\.\s*(" + "|".join(TRANSITIONS) + r")\s*\(")
ALLOWED = {
    "common/src/task/harness.hpp",
    "common/src/task/harness.cpp",
    "common/include/duet/detail/task/state.hpp",
}
MODULES = ("common", "drivers", "stackless", "stackful")


def code_lines(text):
    """Yields (line number, code) with // comments dropped."""
    for n, line in enumerate(text.splitlines(), 1):
        yield n, line.split("//", 1)[0]


def violations(root):
    for module in MODULES:
        for path in sorted((root / module).rglob("*")):
            if path.suffix not in (".hpp", ".cpp", ".inc") or not path.is_file():
                continue
            rel = path.relative_to(root).as_posix()
            if rel in ALLOWED:
                continue
            for n, code in code_lines(path.read_text(errors="replace")):
                m = CALL.search(code)
                if m:
                    yield f"{rel}:{n}: calls TaskState::{m.group(1)} (go through task/harness.hpp)"


def unlisted_members(root):
    """TaskState's members this check does not know: a new transition must
    be added to TRANSITIONS (or, if it is not one, NOT_TRANSITIONS)."""
    text = (root / STATE_HPP).read_text()
    body = text[text.index("class BasicTaskState"):]
    names = {m.group(1) for m in map(MEMBER.match, body.splitlines()) if m}
    for name in sorted(names - set(TRANSITIONS) - set(NOT_TRANSITIONS)):
        yield f"{STATE_HPP}: TaskState::{name} is neither in TRANSITIONS nor NOT_TRANSITIONS here"


def main(argv):
    root = pathlib.Path(argv[1] if len(argv) > 1 else pathlib.Path(__file__).resolve().parents[2])
    found = list(unlisted_members(root)) + list(violations(root))
    for v in found:
        print(v)
    print(f"check_state_callers: {len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
