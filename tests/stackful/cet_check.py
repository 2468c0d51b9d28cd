#!/usr/bin/env python3
"""The fiber switch claims no CET feature, whatever the toolchain's default.

Compiles stackful/src/switch.cpp and, as the control, stackful/src/fiber.cpp
with the build's own commands (compile_commands.json) and -fcf-protection=full
added where a user's CXXFLAGS go, as Ubuntu's and Fedora's GCC add it to
everything, then reads each object's GNU property note (readelf -n): fiber.o
must claim IBT and SHSTK (the toolchain honours the flag), switch.o neither
(stackful/CMakeLists.txt compiles it with -fcf-protection=none, so the linker
leaves the marking off whatever links it). Prints "SKIP: reason" where the
compiler or readelf cannot tell.

usage: cet_check.py <build dir>
"""
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile


def command_for(entries, suffix):
    for e in entries:
        if e["file"].endswith(suffix):
            args = e.get("arguments") or shlex.split(e["command"])
            return args, e["directory"]
    sys.exit(f"no compile command for {suffix} in compile_commands.json")


def compile_with_cet(args, cwd, out):
    # The compiler, then the user's flag, then the build's own flags (so a
    # per-source option later on the line wins, as it does in a real build).
    args = [args[0], "-fcf-protection=full"] + args[1:]
    i = args.index("-o")
    args[i + 1] = out
    subprocess.run(args, cwd=cwd, check=True)


def features(obj):
    notes = subprocess.run(["readelf", "-n", obj], capture_output=True, text=True, check=True)
    for line in notes.stdout.splitlines():
        if "x86 feature:" in line:
            return line.split("x86 feature:", 1)[1].strip()
    return ""


def main():
    build = sys.argv[1]
    if shutil.which("readelf") is None:
        print("SKIP: readelf is not installed (binutils)")
        return 0
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = json.load(f)
    with tempfile.TemporaryDirectory() as tmp:
        objs = {}
        for name in ("fiber", "switch"):
            args, cwd = command_for(entries, f"stackful/src/{name}.cpp")
            objs[name] = os.path.join(tmp, f"{name}.o")
            try:
                compile_with_cet(args, cwd, objs[name])
            except subprocess.CalledProcessError:
                if name == "fiber":
                    print(f"SKIP: {args[0]} does not compile with -fcf-protection=full")
                    return 0
                raise
        control = features(objs["fiber"])
        if "IBT" not in control or "SHSTK" not in control:
            print(f"SKIP: {args[0]} with -fcf-protection=full marks no CET feature ({control!r})")
            return 0
        got = features(objs["switch"])
        print(f"fiber.o: {control!r}; switch.o: {got!r}")
        if "IBT" in got or "SHSTK" in got:
            print("FAIL: the fiber switch's object claims CET features it does not keep")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
