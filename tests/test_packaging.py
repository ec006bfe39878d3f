"""Packaging the MicroPython way: packaging/<family>/manifest.py (frozen images) and
package.json (mpremote mip), both generated from the firmware's imports by host.packaging.
The manifests run here with stand-ins for MicroPython's manifest functions; package.json is
installed with the real mpremote into the simulated board from a server on 127.0.0.1."""

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import run_micropython

from host import packaging
from host.deploy import ROOT, stage
from host.sim.board import SimBoard


def test_manifests_and_package_json_are_generated_from_the_current_imports(capsys):
    assert packaging.main(["--check"]) == 0, capsys.readouterr().err
    for path, text in packaging.generated().items():
        assert path.read_text() == text


class Manifest:
    """MicroPython's manifest functions (tools/manifestfile.py, docs/reference/manifest.rst):
    include(manifest), freeze(path, script=None, opt=None), package(package_path, files=None,
    base_path=".", opt=None), module(module_path, base_path=".", opt=None). Records the
    files each would freeze, as (module path on the board, source file)."""

    def __init__(self, path):
        self.dir = path.parent
        self.includes = []
        self.files = {}
        namespace = {
            "include": self.include,
            "freeze": self.freeze,
            "package": self.package,
            "module": self.module,
            "require": self.require,
        }
        exec(compile(path.read_text(), str(path), "exec"), namespace)

    def include(self, manifest, **kwargs):
        self.includes.append(manifest)

    def require(self, name, **kwargs):
        raise AssertionError("the firmware needs nothing from micropython-lib: %s" % name)

    def package(self, package_path, files=None, base_path=".", opt=None):
        base = self.dir / base_path
        assert files, "package(%r) without files would freeze every .py in it" % package_path
        for f in files:
            self._add("%s/%s" % (package_path, f), base / package_path / f)

    def module(self, module_path, base_path=".", opt=None):
        assert module_path.endswith(".py")
        self._add(module_path, self.dir / base_path / module_path)

    def freeze(self, path, script=None, opt=None):
        raise AssertionError("use package()/module(): they name each file")

    def _add(self, name, source):
        assert source.is_file(), "%s: no such file %s" % (name, source)
        assert name not in self.files, "%s listed twice" % name
        self.files[name] = source.resolve()


def deployed_files():
    """What host deploy puts under lib/ (sources, not compiled)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        lib = stage(tmp, "sources") / "lib"
        return {p.relative_to(lib).as_posix() for p in lib.rglob("*.py")}


@pytest.mark.parametrize("family", sorted(packaging.FAMILIES))
def test_manifest_freezes_every_module_its_boards_import_and_nothing_else(family):
    manifest = Manifest(packaging.manifest_path(family))
    assert manifest.includes == ["$(PORT_DIR)/boards/manifest.py"]  # asyncio etc. stay in
    frozen = manifest.files
    deployed = deployed_files()
    assert set(frozen) <= deployed, set(frozen) - deployed
    for name, src in frozen.items():  # each is the deploy's own source file
        assert src == packaging.source(name).resolve()
    for board in packaging.FAMILIES[family]["boards"]:
        assert "boards/%s.py" % board in frozen
    assert "boards/unix_sim.py" not in frozen and "boards/drivers/pty.py" not in frozen
    # Closed under import: every firmware module a frozen one imports (lazily too) is frozen.
    for name in frozen:
        for module in packaging.imported_modules(packaging.source(name)):
            parts = module.split(".")
            candidates = ["/".join(parts) + ".py", "/".join(parts) + "/__init__.py"]
            if any(c in deployed for c in candidates):
                assert any(c in frozen for c in candidates), "%s imports %s" % (name, module)


@pytest.mark.parametrize("family", sorted(packaging.FAMILIES))
def test_frozen_set_imports_alone_in_the_micropython_vm(tmp_path, family):
    # Only the manifest's files on the path: each module imports with what is frozen.
    manifest = Manifest(packaging.manifest_path(family))
    for name, src in manifest.files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(src.read_bytes())
    modules = [n[:-3].replace("/", ".").removesuffix(".__init__") for n in manifest.files]
    script = tmp_path / "imports.py"
    script.write_text(
        "import sys\nsys.path[:] = [%r, '.frozen']\n" % str(tmp_path)
        + "".join("import %s\n" % m for m in modules)
        + "print('imported', %d)\n" % len(modules)
    )
    proc = run_micropython([str(script)])
    out = proc.stdout.decode() + proc.stderr.decode()
    assert proc.returncode == 0 and "imported %d" % len(modules) in out, out


def test_package_json_lists_each_familys_files_by_urls_beside_it():
    package = json.loads(packaging.PACKAGE_JSON.read_text())
    wanted = set()
    for family in packaging.FAMILIES:
        wanted |= set(Manifest(packaging.manifest_path(family)).files)
    assert {dest for dest, _ in package["urls"]} == wanted
    for dest, url in package["urls"]:
        assert (ROOT / url).resolve() == packaging.source(dest).resolve()


@pytest.fixture
def served():
    """The project tree over HTTP on 127.0.0.1, as a user's web server or GitHub would."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(ROOT))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def mpremote(device, *args):
    exe = Path(sys.executable).parent / "mpremote"
    env = dict(os.environ, no_proxy="127.0.0.1", NO_PROXY="127.0.0.1")
    return subprocess.run(
        [str(exe), "connect", device, "resume", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_mip_installs_the_firmware_from_a_url_into_the_simulated_board(tmp_path, served):
    with SimBoard(tmp_path / "board") as board:
        board.start()
        time.sleep(0.3)  # the REPL comes up
        proc = mpremote(
            board.device, "mip", "install", "--target", "lib", served + "/package.json"
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        package = json.loads(packaging.PACKAGE_JSON.read_text())
        lib = tmp_path / "board" / "lib"  # the unix port's filesystem is this directory
        for dest, url in package["urls"]:
            assert (lib / dest).read_bytes() == (ROOT / url).read_bytes(), dest
        installed = {p.relative_to(lib).as_posix() for p in lib.rglob("*.py")}
        assert installed == {dest for dest, _ in package["urls"]}
        # And the board imports the firmware from there.
        proc = mpremote(
            board.device,
            "exec",
            "import netmeter.runner, netmeter.app, netmeter.linkservice, boards.rp2_pico\n"
            "print('from', netmeter.app.__file__)",
        )
        assert proc.returncode == 0 and "from lib/netmeter/app.py" in proc.stdout, (
            proc.stdout + proc.stderr
        )
