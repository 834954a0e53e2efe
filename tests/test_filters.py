"""filter_records: each failing record is a reject with its reason; passing ones are untouched."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.stages.filters import FilterOptions, filter_records


def _img(w: int, h: int, seed: int = 0, fmt: str = "PNG") -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray((rng.random((h, w, 3)) * 255).astype("uint8")).save(buf, fmt)
    return buf.getvalue()


def _rec(key: str, data: bytes, caption: str = "A real caption of the figure.", **extra) -> dict:
    return {"key": key, "image": {"bytes": data, "path": f"{key}.png"}, "caption": caption, "source": "pmc", **extra}


def _diagram(mode: str) -> bytes:
    """A flat block diagram as papers have them: 270x180, three labelled boxes, arrows, a loop."""
    img = Image.new("L", (270, 180), 255)
    d = ImageDraw.Draw(img)
    for i, (x, label) in enumerate([(10, "input"), (100, "model"), (190, "output")]):
        d.rectangle([x, 70, x + 70, 110], outline=0, width=1)
        d.text((x + 12, 84), label, fill=0)
        if i < 2:
            d.line([x + 70, 90, x + 90, 90], fill=0)
            d.polygon([(x + 90, 90), (x + 84, 86), (x + 84, 94)], fill=0)
    d.line([45, 110, 45, 150, 225, 150, 225, 110], fill=0)
    buf = io.BytesIO()
    img.convert(mode).save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _matplotlib_sketch() -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2.7, 1.8), dpi=100)
    ax.add_patch(plt.Circle((0.3, 0.5), 0.2, fill=False))
    ax.annotate("", xy=(0.9, 0.5), xytext=(0.5, 0.5), arrowprops={"arrowstyle": "->"})
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    img = Image.open(io.BytesIO(buf.getvalue())).convert("L")
    out = io.BytesIO()
    img.save(out, "PNG", optimize=True)
    return out.getvalue()


def test_small_flat_drawings_are_kept_blank_pages_are_not():
    drawings = {"bilevel": _diagram("1"), "grey": _diagram("L"), "matplotlib": _matplotlib_sketch()}
    blank = io.BytesIO()
    Image.new("RGB", (270, 180), "white").save(blank, "PNG")
    dot = Image.new("L", (270, 180), 255)
    dot.putpixel((100, 100), 0)
    dot_png = io.BytesIO()
    dot.save(dot_png, "PNG")
    rejects = Rejects()
    out = filter_records([_rec(k, v) for k, v in drawings.items()] +
                         [_rec("blank", blank.getvalue()), _rec("dot", dot_png.getvalue())], rejects)
    print("\n[filters] flat drawings kept: " + ", ".join(f"{k} {Image.open(io.BytesIO(v)).size} {len(v)} B"
                                                        for k, v in drawings.items()))
    assert all(len(v) < 5 * 1024 for v in drawings.values())
    assert min(len(v) for v in drawings.values()) < 1024  # a real figure of a few hundred bytes
    assert [r["key"] for r in out] == list(drawings)
    assert [(r.key, r.reason) for r in rejects] == [("blank", "blank"), ("dot", "blank")]


def test_each_filter_has_its_reason_and_good_records_pass():
    batch = [
        _rec("ok", _img(200, 150)),
        _rec("noimg", b""),
        _rec("garbage", b"\x00" * 6000),
        _rec("small", _img(300, 40)),
        _rec("icon", _img(90, 90)),
        _rec("strip", _img(1200, 100)),
        _rec("nocap", _img(200, 150, 1), caption="   "),
        _rec("shortcap", _img(200, 150, 2), caption="Fig. 1"),
        _rec("nonecap", _img(200, 150, 3), caption=None),
        _rec("ok2", _img(100, 700, 4)),  # aspect 7: allowed by default
    ]
    rejects = Rejects()
    out = filter_records(batch, rejects)
    assert [r["key"] for r in out] == ["ok", "ok2"]
    assert out[0] is batch[0]
    assert [(r.key, r.reason) for r in rejects] == [
        ("noimg", "no_image"), ("garbage", "undecodable"), ("small", "too_small"), ("icon", "too_few_pixels"),
        ("strip", "extreme_aspect"), ("nocap", "empty_caption"), ("shortcap", "empty_caption"), ("nonecap", "empty_caption"),
    ]
    assert all(r.stage == "filter" and r.source == "pmc" for r in rejects)
    assert "a side < 64" in [r.detail for r in rejects if r.key == "small"][0]
    assert rejects.by_reason() == {"empty_caption": 3, "no_image": 1, "undecodable": 1, "too_small": 1,
                                   "too_few_pixels": 1, "extreme_aspect": 1}


def test_options_and_reader_sizes():
    data = _img(120, 90)
    loose = FilterOptions(min_side=10, min_pixels=0, max_aspect=20.0, min_caption_chars=1)
    rejects = Rejects()
    assert len(filter_records([_rec("a", _img(1200, 100)), _rec("b", data, caption="x")], rejects, loose)) == 2
    # width/height filled by a reader are trusted (no decode): a claimed 10 px side is too small
    out = filter_records([_rec("c", data, width=10, height=90)], rejects, FilterOptions(min_side=20))
    assert out == [] and rejects.by_reason() == {"too_small": 1}
    bomb = FilterOptions(max_pixels=100 * 100, min_pixels=0)
    assert filter_records([_rec("d", _img(200, 150))], rejects, bomb) == [] and "too_large" in rejects.by_reason()
    assert FilterOptions().to_dict()["min_pixels"] == 10_000
