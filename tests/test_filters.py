"""filter_records: each failing record is a reject with its reason; passing ones are untouched."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.stages.filters import FilterOptions, filter_records


def _img(w: int, h: int, seed: int = 0, fmt: str = "PNG") -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray((rng.random((h, w, 3)) * 255).astype("uint8")).save(buf, fmt)
    return buf.getvalue()


def _rec(key: str, data: bytes, caption: str = "A real caption of the figure.", **extra) -> dict:
    return {"key": key, "image": {"bytes": data, "path": f"{key}.png"}, "caption": caption, "source": "pmc", **extra}


def test_each_filter_has_its_reason_and_good_records_pass():
    tiny_file = io.BytesIO()
    Image.new("RGB", (300, 200), "white").save(tiny_file, "PNG")  # blank: a few hundred bytes
    assert len(tiny_file.getvalue()) < 5 * 1024
    batch = [
        _rec("ok", _img(200, 150)),
        _rec("noimg", b""),
        _rec("light", tiny_file.getvalue()),
        _rec("garbage", b"\x00" * 6000),
        _rec("small", _img(300, 40)),
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
        ("noimg", "no_image"), ("light", "too_few_bytes"), ("garbage", "undecodable"), ("small", "too_small"),
        ("strip", "extreme_aspect"), ("nocap", "empty_caption"), ("shortcap", "empty_caption"), ("nonecap", "empty_caption"),
    ]
    assert all(r.stage == "filter" and r.source == "pmc" for r in rejects)
    assert "shorter side < 64" in [r.detail for r in rejects if r.key == "small"][0]


def test_options_and_reader_sizes():
    data = _img(120, 90)
    loose = FilterOptions(min_bytes=0, min_side=10, max_aspect=20.0, min_caption_chars=1)
    rejects = Rejects()
    assert len(filter_records([_rec("a", _img(1200, 100)), _rec("b", data, caption="x")], rejects, loose)) == 2
    # width/height filled by a reader are trusted (no decode): a claimed 10 px side is too small
    out = filter_records([_rec("c", data, width=10, height=90)], rejects, FilterOptions(min_bytes=0, min_side=20))
    assert out == [] and rejects.by_reason() == {"too_small": 1}
    bomb = FilterOptions(min_bytes=0, max_pixels=100 * 100)
    assert filter_records([_rec("d", _img(200, 150))], rejects, bomb) == [] and "too_large" in rejects.by_reason()
    assert FilterOptions().to_dict()["min_bytes"] == 5120
