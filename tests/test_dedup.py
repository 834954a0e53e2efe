"""Deduplicator: exact and near duplicates across batches, the near-blank guard, bounded state."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.stages.dedup import Deduplicator, Signature, image_hashes


def _plot(seed: int, kind: str) -> Image.Image:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    fig, ax = plt.subplots(figsize=(4, 3), dpi=80)
    if kind == "line":
        ax.plot(np.cumsum(rng.normal(size=100)))
    else:
        ax.scatter(rng.random(30), rng.random(30), s=4)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _bytes(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _rec(key: str, data: bytes) -> dict:
    return {"key": key, "image": {"bytes": data, "path": None}, "caption": "c", "source": "arxiv"}


def _variant(img: Image.Image, i: int) -> bytes:
    """The same figure as a publisher may ship it again: resized, re-encoded, trimmed."""
    w, h = img.size
    if i % 3 == 0:
        return _bytes(img.resize((w * 3 // 4, h * 3 // 4)), "JPEG", quality=70)
    if i % 3 == 1:
        return _bytes(img.crop((2, 2, w - 2, h - 2)), "JPEG", quality=85)
    return _bytes(img.resize((w * 2, h * 2)), "PNG")


@pytest.fixture(scope="module")
def plots() -> list[Image.Image]:
    return [_plot(s, "line") for s in range(20)] + [_plot(s, "scatter") for s in range(20)]


def test_exact_duplicates_across_batches_keep_the_first():
    a, b = _bytes(_plot(0, "line")), _bytes(_plot(1, "line"))
    dedup, rejects = Deduplicator(), Rejects()
    out1 = dedup([_rec("k1", a), _rec("k2", b), _rec("k3", a)], rejects)
    out2 = dedup([_rec("k4", b), _rec("k5", a)], rejects)
    assert [r["key"] for r in out1] == ["k1", "k2"] and out2 == []
    assert [(r.key, r.reason, r.detail) for r in rejects] == [
        ("k3", "exact_duplicate", "same bytes as k1"), ("k4", "exact_duplicate", "same bytes as k2"),
        ("k5", "exact_duplicate", "same bytes as k1")]
    assert all(r.stage == "dedup" for r in rejects)


def test_near_duplicates_recall_and_false_merges(plots):
    dedup, rejects = Deduplicator(), Rejects()
    originals = [_rec(f"p{i}", _bytes(img)) for i, img in enumerate(plots)]
    kept = dedup(originals, rejects)
    false_merges = len(plots) - len(kept)
    variants = [_rec(f"v{i}", _variant(img, i)) for i, img in enumerate(plots)]
    kept_variants = dedup(variants, rejects)
    caught = {r.key: r.detail for r in rejects if r.reason == "near_duplicate" and r.key.startswith("v")}
    right = sum(caught.get(f"v{i}") == f"looks like p{i}" for i in range(len(plots)))
    pairs = len(plots) * (len(plots) - 1) // 2
    print(f"\n[dedup] {len(plots)} distinct plots (20 line, 20 scatter; {pairs} pairs): {false_merges} merged by mistake; "
          f"near-duplicate recall {right}/{len(plots)} = {right / len(plots):.3f} (resize+JPEG q70, 2px trim+JPEG q85, 2x PNG)")
    assert false_merges == 0
    assert right / len(plots) >= 0.9 and len(kept_variants) == len(plots) - len(caught)


def test_near_blank_images_are_guarded():
    def blank(seed: int) -> Image.Image:
        rng = np.random.default_rng(seed)
        img = Image.new("RGB", (320, 240), "white")
        d = ImageDraw.Draw(img)
        x = int(rng.integers(20, 300))
        d.line([x, 20, x + int(rng.integers(-10, 10)), 220], fill=(120, 120, 120), width=1)
        return img

    imgs = [blank(s) for s in range(12)]
    _, _, (std, ink) = image_hashes(imgs[0])
    dedup, rejects = Deduplicator(), Rejects()
    out = dedup([_rec(f"b{i}", _bytes(im)) for i, im in enumerate(imgs)], rejects)
    # without the guard the degenerate hashes merge different figures
    unguarded = Deduplicator(min_std=0, min_ink=0)
    merged = len(imgs) - len(unguarded([_rec(f"b{i}", _bytes(im)) for i, im in enumerate(imgs)], Rejects()))
    print(f"\n[dedup guard] {len(imgs)} distinct near-blank images (grey std {std:.1f}, ink {ink:.4f}): "
          f"without the guard {merged} merged by mistake; with it kept {len(out)}, degenerate {dedup.stats['degenerate']}")
    assert merged > 0
    assert len(out) == len(imgs) and dedup.stats["degenerate"] == len(imgs)
    # exact duplicates of near-blank images are still removed
    assert dedup([_rec("again", _bytes(imgs[0]))], rejects) == [] and list(rejects)[-1].reason == "exact_duplicate"


def test_bounded_state_and_bad_input(plots):
    dedup, rejects = Deduplicator(max_entries=2), Rejects()
    data = [_bytes(p) for p in plots[:3]]
    assert len(dedup([_rec(f"k{i}", d) for i, d in enumerate(data)], rejects)) == 3
    assert len(dedup) == 2 and dedup.stats["forgotten_exact"] == 1 and dedup.stats["forgotten_near"] == 1
    assert len(dedup([_rec("again0", data[0])], rejects)) == 1  # its first occurrence was forgotten
    assert dedup([_rec("again2", data[2])], rejects) == []  # still remembered
    out = dedup([_rec("broken", b"\x89PNG\r\n\x1a\nbroken"), {"key": "none", "image": None}], rejects)
    assert out == [] and [r.reason for r in rejects][-2:] == ["undecodable", "no_image"]
    with pytest.raises(ValueError, match="max_distance"):
        Deduplicator(max_distance=8)
    with pytest.raises(ValueError, match="partitions"):
        Deduplicator(partitions=0)


def test_multi_index_lookup_misses_nothing_within_seven_bits():
    rng = np.random.default_rng(0)
    dedup = Deduplicator(max_distance=7, max_fine_distance=255)
    stored = [int(x) for x in rng.integers(0, 1 << 63, size=3000, dtype=np.uint64)]
    fine = bytes(32)
    for i, h in enumerate(stored):
        dedup._remember_near(Signature(f"s{i}", b"", h, fine))
    for i in range(300):
        h = stored[i]
        for b in rng.choice(63, size=int(rng.integers(0, 8)), replace=False):
            h ^= 1 << int(b)
        assert dedup.find_near(Signature("q", b"", h, fine)) == f"s{i}"  # random 63-bit hashes are > 7 bits apart
    far = stored[0] ^ int("1" * 12, 2)
    assert dedup.find_near(Signature("q", b"", far, fine)) is None


def _decay(tau: float) -> Image.Image:
    """A plot as a paper template draws it: y = exp(-t / tau), same style, only the data differs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.linspace(0, 5, 200)
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=50)
    ax.plot(x, np.exp(-x / tau))
    ax.set_xlabel("t")
    ax.set_ylabel("y")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _paper_rec(key: str, data: bytes, paper: str, caption: str) -> dict:
    return {**_rec(key, data), "paper_id": paper, "caption": caption}


def test_distinct_template_plots_from_two_papers_are_both_kept():
    a, b = _bytes(_decay(0.8)), _bytes(_decay(1.0))
    h1, h2 = image_hashes(Image.open(io.BytesIO(a))), image_hashes(Image.open(io.BytesIO(b)))
    assert (h1[0] ^ h2[0]).bit_count() <= 5  # the 63-bit hash alone cannot tell them apart
    one_paper = Deduplicator()([_paper_rec("a", a, "2101.00001", "Decay of the signal."),
                                _paper_rec("b", b, "2101.00001", "Decay of the reference.")], Rejects())
    assert [r["key"] for r in one_paper] == ["a"]  # within a paper the rule is unchanged
    rejects = Rejects()
    two_papers = Deduplicator()([_paper_rec("a", a, "2101.00001", "Relaxation of the magnetisation after the pulse."),
                                 _paper_rec("b", b, "PMC3000001", "Survival fraction of cells versus dose.")], rejects)
    assert [r["key"] for r in two_papers] == ["a", "b"] and len(rejects) == 0


def test_reencodings_and_resizes_across_papers_are_caught(plots):
    dedup, rejects = Deduplicator(), Rejects()
    caps = [f"Panel {i}: measured response of detector {i * 7 % 13} under condition {chr(65 + i % 26)}{i}." for i in range(len(plots))]
    dedup([_paper_rec(f"p{i}", _bytes(img), f"paper{i}", caps[i]) for i, img in enumerate(plots)], rejects)
    assert len(rejects) == 0
    # another paper, same size, re-encoded, another caption: caught by size + fine hash
    reenc = [_paper_rec(f"j{i}_{q}", _bytes(img, "JPEG", quality=q), f"other{i}", "Completely different wording.")
             for i, img in enumerate(plots) for q in (50, 90)]
    # another paper (e.g. the journal version), resized, the same caption: caught by the caption
    resized = [_paper_rec(f"r{i}", _variant(img, 3 * i), f"journal{i}", caps[i]) for i, img in enumerate(plots)]
    # another paper, resized, another caption: not enough evidence, kept
    other = [_paper_rec(f"o{i}", _variant(img, 3 * i), f"third{i}", "Another text about a new experiment.")
             for i, img in enumerate(plots)]
    kept_reenc, kept_resized = dedup(reenc, rejects), dedup(resized, rejects)
    kept_other = dedup(other, rejects)
    wrong = [r for r in rejects if r.detail.split()[-1][1:].split("_")[0] != r.key[1:].split("_")[0]]
    print(f"\n[dedup across papers] re-encodings caught {len(reenc) - len(kept_reenc)}/{len(reenc)}, "
          f"resizes with the caption caught {len(resized) - len(kept_resized)}/{len(resized)}, "
          f"resizes with another caption kept {len(kept_other)}/{len(other)}")
    assert not wrong
    assert len(kept_reenc) <= 1 and len(kept_resized) <= 2  # one JPEG q50 moves the 63-bit hash 6 bits and len(kept_other) == len(other)
