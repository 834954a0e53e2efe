"""A normal (non-editable) install ships every module and data file of builder/ and loaders/."""

import subprocess
import sys
import zipfile

from conftest import ROOT


def test_wheel_contains_every_module_and_sample(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(ROOT),
                    "-w", str(tmp_path)], check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("s1mmalign-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "s1mmalign_dataset.py" in names
    expected = set()
    for folder, package in (("builder", "s1mmalign/builder"), ("loaders", "s1mmalign/loaders")):
        for p in (ROOT / folder).rglob("*"):
            if p.is_file() and "__pycache__" not in p.parts and (p.suffix == ".py" or "sample" in p.parts):
                expected.add(f"{package}/{p.relative_to(ROOT / folder).as_posix()}")
    expected.add("s1mmalign/builder/dataset_card.md")
    missing = sorted(expected - names)
    assert not missing, f"not in the wheel (add the package to pyproject's [tool.setuptools] packages): {missing[:10]}"
    entry = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "s1mmalign = s1mmalign.builder.commands.cli:main" in entry
