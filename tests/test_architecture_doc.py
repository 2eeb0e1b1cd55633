"""docs/architecture.md keeps up with the layout: every path it names exists, and every module
of ``simmarket/`` appears in its layout tree.

The layout tree is the first ``text`` code block after the "## Layout" heading: one entry per
line, two spaces of indentation per level, a folder ending in ``/``, then a description.
Elsewhere in the document, a path is named in full (``simmarket/core/world.py``) or relative to
the package in backticks (``core/model.py``). A module added, moved or removed without the
document following fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
PACKAGE = ROOT / "simmarket"
SUBPACKAGES = ("config", "core", "links", "store", "analysis", "experiments", "cli")

ENTRY = re.compile(r"^( *)([A-Za-z_]\w*(?:\.py|/))(?:\s|$)")
FULL_PATH = re.compile(r"(?<![\w./-])simmarket/[\w./-]*[\w/]")
RELATIVE_PATH = re.compile(rf"`((?:{'|'.join(SUBPACKAGES)})/[\w/]*\.py)`")


@pytest.fixture(scope="module")
def text() -> str:
    assert DOC.is_file(), f"{DOC} is missing"
    return DOC.read_text(encoding="utf-8")


def layout_tree(text: str) -> list[str]:
    """The paths of the layout tree, relative to the repository root (folders end in /)."""
    section = text.split("\n## Layout\n", 1)
    assert len(section) == 2, "docs/architecture.md has no '## Layout' section"
    block = re.search(r"```text\n(.*?)\n```", section[1], flags=re.DOTALL)
    assert block, "the Layout section has no ```text code block"
    paths, stack = [], []
    for line in block.group(1).splitlines():
        m = ENTRY.match(line)
        if not m:
            continue
        indent, name = len(m.group(1)), m.group(2)
        assert indent % 2 == 0, f"odd indentation in the layout tree: {line!r}"
        depth = indent // 2
        assert depth <= len(stack), f"entry deeper than its folder: {line!r}"
        del stack[depth:]
        paths.append("".join(stack) + name)
        if name.endswith("/"):
            stack.append(name)
    assert paths and paths[0] == "simmarket/", "the layout tree must start at simmarket/"
    return paths


def named_paths(text: str) -> set[str]:
    """Every simmarket path the prose names, in full or relative to the package."""
    full = {p.rstrip(".") for p in FULL_PATH.findall(text)}
    relative = {f"simmarket/{p}" for p in RELATIVE_PATH.findall(text)}
    return full | relative


def modules() -> list[str]:
    """Every module file and package folder of simmarket/, as the layout tree writes them.

    A subpackage is listed as its folder (its ``__init__.py`` goes without saying); the
    top-level ``__init__.py`` holds the public names, so it is listed itself.
    """
    out = []
    for f in sorted(PACKAGE.rglob("*.py")):
        if "__pycache__" in f.parts:
            continue
        rel = f.relative_to(ROOT).as_posix()
        if f.name == "__init__.py" and f.parent != PACKAGE:
            out.append(f.parent.relative_to(ROOT).as_posix() + "/")
        else:
            out.append(rel)
    return out


def test_the_layout_tree_is_read(text):
    tree = layout_tree(text)
    assert {"simmarket/api.py", "simmarket/core/", "simmarket/core/world.py",
            "simmarket/links/encounter/recommender.py"} <= set(tree)


def test_every_path_in_the_layout_tree_exists(text):
    missing = [p for p in layout_tree(text) if not (ROOT / p).exists()
               or (p.endswith("/") and not (ROOT / p).is_dir())]
    assert not missing, f"docs/architecture.md lists paths that do not exist: {missing}"


def test_every_path_named_in_the_text_exists(text):
    named = named_paths(text)
    assert named, "no simmarket paths found in docs/architecture.md"
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_every_module_is_in_the_layout(text):
    tree = set(layout_tree(text))
    absent = [m for m in modules() if m not in tree]
    assert not absent, (f"modules missing from the layout tree of docs/architecture.md: "
                        f"{absent}")
