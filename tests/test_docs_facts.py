"""docs/facts.md is the project's own: every reference to it resolves, and every file and
test its "In the project" table names exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FACTS = ROOT / "docs" / "facts.md"
SCANNED = ("firmware", "boards", "shared", "host", "tests", "bench", "docs", "README.md")


def _files():
    for top in SCANNED:
        path = ROOT / top
        yield from [path] if path.is_file() else sorted(path.rglob("*.[pm][yd]"))


def test_every_reference_names_docs_facts_md_which_exists():
    assert FACTS.is_file()
    bare = []
    for path in _files():
        if path == FACTS or path == Path(__file__):
            continue
        for line in path.read_text(errors="replace").splitlines():
            for m in re.finditer(r"(\S*)facts\.md", line):
                if not m.group(1).endswith("docs/") and path.parent.name != "docs":
                    bare.append("%s: %s" % (path.relative_to(ROOT), line.strip()))
    assert not bare, bare


def test_what_the_table_names_exists():
    text = FACTS.read_text()
    table = text[text.index("## In the project") :]
    paths = set(re.findall(r"`?((?:firmware|shared|host|boards|tests)/[\w/.]+\.py)", table))
    paths |= set(re.findall(r"(tests/[\w/]+\.py)", table))
    assert len(paths) > 15
    for rel in paths:
        assert (ROOT / rel).is_file(), rel
    all_tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    names = re.findall(r"`(test_\w+)`", table)
    assert len(names) >= 6
    for name in names:
        assert "def %s(" % name in all_tests, name
    for func in re.findall(r"`(\w+)`\)", table):  # (`silence_us`), (`pulse_constant`), ...
        assert re.search(r"def %s\(|%s\b" % (func, func), all_tests + _sources()), func


def _sources():
    return "\n".join(
        p.read_text() for top in ("firmware", "shared", "host") for p in (ROOT / top).rglob("*.py")
    )
