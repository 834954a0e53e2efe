"""Shared test fixtures: small contract records with real images drawn by PIL."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import s1mmalign_dataset as contract  # noqa: E402


def draw_figure(i: int, size=(96, 72), fmt: str = "PNG", mode: str = "RGB") -> bytes:
    """A small, distinct figure: axes, a line and a bar whose shape depends on ``i``."""
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    w, h = size
    d.line([(8, h - 8), (w - 4, h - 8)], fill="black")
    d.line([(8, h - 8), (8, 4)], fill="black")
    pts = [(8 + x, h - 10 - int((x * (i % 7 + 1)) % (h - 16))) for x in range(0, w - 12, 4)]
    d.line(pts, fill=(i * 37 % 255, 80, 200), width=2)
    d.rectangle([w // 2, h // 2 - i % 20, w // 2 + 8, h - 9], fill=(200, i * 11 % 255, 60))
    if mode != "RGB":
        img = img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def make_record(i: int, *, discipline: str = "physics", modality: str = "plot", source: str = "arxiv",
                image: bytes | None = None, **overrides) -> dict:
    paper = f"2101.{i // 3:05d}"
    rec = {
        "key": contract.make_key(source, paper, f"fig{i}"),
        "image": {"bytes": image if image is not None else draw_figure(i), "path": f"fig{i}.png"},
        "caption": f"Figure {i}: measured response of sample {i} versus temperature.",
        "recaption": f"A line plot showing the response of sample {i}; the curve rises then saturates." if i % 2 else None,
        "title": f"Paper {paper}",
        "abstract": "We measure things and find results.",
        "citation_contexts": [f"As shown in Fig. {i}, the response saturates."],
        "paper_id": paper,
        "figure_label": f"fig{i}",
        "source": source,
        "categories": ["cond-mat.str-el"],
        "discipline": discipline,
        "modality": modality,
        "license": "http://creativecommons.org/licenses/by/4.0/",
    }
    rec.update(overrides)
    return rec


def make_records(n: int, disciplines=("physics", "biology", "astronomy"), modalities=("plot", "heatmap", "diagram"),
                 start: int = 0) -> list[dict]:
    """``n`` records cycling through disciplines and modalities (deterministic)."""
    nd, nm = len(disciplines), len(modalities)
    return [make_record(start + i, discipline=disciplines[i % nd], modality=modalities[(i // nd) % nm]) for i in range(n)]


@pytest.fixture
def records():
    return make_records(36)


def make_release(root: Path, per_unit: dict[int, int], size=(260, 200)) -> Path:
    """A release in the published layout: one arXiv unit per year (``{year: figures}``), records
    alternating hep-th (physics) and q-bio.GN (biology)."""
    from s1mmalign.builder.sources.sample_release import write_archive, write_jsonl

    for year, n in per_unit.items():
        members = [(f"{year}01/{year}01.{i:04d}.tar.gz/f.png", draw_figure(year * 1000 + i, size=size)) for i in range(n)]
        recs = [{"arxiv_id": f"{year}01.{i:04d}", "title": "t", "image_path": f"images/{m}", "caption": f"c {i}",
                 "recaption": f"r {i}", "categories": "hep-th" if i % 2 else "q-bio.GN"} for i, (m, _) in enumerate(members)]
        write_jsonl(root / "arxiv" / "jsonl" / f"{year}_recaption.jsonl", recs)
        write_archive(root / "arxiv" / f"images_20{year}.tar.gz", members, part_size=200_000)
    return root
