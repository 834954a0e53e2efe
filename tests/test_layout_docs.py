"""docs/DEVELOPING.md's map names only modules and folders that exist, and every package module
says its one job in the first line of its docstring and stays under ~450 lines."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME = re.compile(r"(?<![\w./`-])([A-Za-z_][\w]*(?:\.py|/))(?![\w])")


def map_paths() -> list[Path]:
    text = (ROOT / "docs" / "DEVELOPING.md").read_text()
    block = text.split("## The map", 1)[1].split("```", 2)[1]
    paths, top, sub = [], None, None
    for line in block.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        rest = NAME.findall(line)
        if indent == 0:
            top, sub = rest[0], None
            base = ROOT / top if top.endswith("/") else ROOT
            paths.append(ROOT / top)
            rest = rest[1:]
        elif indent == 2:
            first = rest[0]
            if first.endswith("/"):
                sub = first
                base = ROOT / top / sub
                paths.append(base)
                rest = rest[1:]
            else:
                sub, base = None, ROOT / top
        else:  # a continuation: same folder as the line before
            base = ROOT / top / sub if sub else ROOT / top
        paths += [base / n for n in rest]
    return paths


def test_every_module_the_map_names_exists():
    paths = map_paths()
    assert len(paths) > 40
    missing = [str(p.relative_to(ROOT)) for p in paths if not p.exists()]
    assert not missing, missing
    table = re.findall(r"`((?:core|builder|loaders)/[\w/]+\.py)`", (ROOT / "docs" / "DEVELOPING.md").read_text())
    assert table and not [t for t in table if not (ROOT / t).exists()]


def test_every_package_module_says_its_job_and_stays_small():
    for folder in ("core", "builder", "loaders"):
        for path in (ROOT / folder).rglob("*.py"):
            if "sample" in path.parts:
                continue
            text = path.read_text()
            doc = ast.get_docstring(ast.parse(text))
            assert doc and doc.strip().splitlines()[0], f"{path}: no docstring"
            assert len(text.splitlines()) <= 460, f"{path}: {len(text.splitlines())} lines"
