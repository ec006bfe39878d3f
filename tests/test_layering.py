"""The layers import in one direction: shared imports only shared; firmware and boards never
import host; firmware modules form no import cycle. Read from the sources with ast, so a new
import that breaks the layering fails here before anyone has to notice it."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"shared": "shared", "netmeter": "firmware", "boards": "boards", "host": "host"}


def _module(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "firmware":
        parts = parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _sources(*dirs):
    return {_module(p): p for d in dirs for p in sorted((ROOT / d).rglob("*.py"))}


def _imports(path):
    """Every absolute module name path imports, at top level or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(node.module + "." + alias.name for alias in node.names)
    return names


def _layer(name):
    return LAYERS.get(name.split(".")[0])


def _violations(dirs, allowed):
    bad = []
    for name, path in _sources(*dirs).items():
        for imported in sorted(_imports(path)):
            layer = _layer(imported)
            if layer is not None and layer not in allowed:
                bad.append("%s imports %s (%s)" % (name, imported, layer))
    return bad


def test_shared_imports_only_shared():
    assert _violations(["shared"], {"shared"}) == []


def test_firmware_and_boards_never_import_host():
    assert _violations(["firmware", "boards"], {"shared", "firmware", "boards"}) == []


def test_firmware_never_imports_boards():
    # The app receives its hardware from the runner: only the runner picks a board.
    bad = _violations(["firmware/netmeter"], {"shared", "firmware"})
    assert [line for line in bad if not line.startswith("netmeter.runner ")] == []


def _cycles(graph):
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return groups


def _graph(*dirs):
    sources = _sources(*dirs)
    return {name: sorted(_imports(path) & set(sources) - {name}) for name, path in sources.items()}


def test_no_import_cycles_among_firmware_shared_and_boards():
    assert _cycles(_graph("firmware", "shared", "boards")) == []


def test_no_import_cycles_in_host():
    assert _cycles(_graph("host")) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]
