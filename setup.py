"""Package discovery for the mapped layout: core/ -> s1mmalign.core, builder/ -> s1mmalign.builder,
loaders/ -> s1mmalign.loaders.

Everything else is in pyproject.toml. Subpackages are found here so a new folder with an
``__init__.py`` ships without anyone editing a list (tests/test_packaging.py checks the wheel).
"""

from pathlib import Path

from setuptools import setup


def packages(folder: str, name: str) -> list[str]:
    root = Path(__file__).parent / folder
    found = []
    for init in sorted(root.rglob("__init__.py")):
        parts = init.parent.relative_to(root).parts
        if "__pycache__" not in parts:
            found.append(".".join((name, *parts)))
    return found


setup(packages=packages("core", "s1mmalign.core") + packages("builder", "s1mmalign.builder")
      + packages("loaders", "s1mmalign.loaders"))
