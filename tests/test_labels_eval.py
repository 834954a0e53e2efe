"""The evaluation set of benchmarks/labels_eval is well formed: every item has its thumbnail,
labels from the taxonomy, an origin (repository, path, commit) and a license; the dev/test split
is by paper and the held-out splits (fresh, fresh2, ..., fresh12) are new papers only."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from s1mmalign.core import contract

SET = Path(__file__).resolve().parents[1] / "benchmarks" / "labels_eval"


def test_every_item_is_complete_and_labelled_from_the_taxonomy():
    items = [json.loads(line) for line in (SET / "items.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(items) >= 200 and len({it["id"] for it in items}) == len(items)
    assert {it["modality"] for it in items} == set(contract.MODALITIES)
    assert {it["discipline"] for it in items} - {None} == set(contract.DISCIPLINES)
    for it in items:
        assert it["caption"].strip() and it["license"].strip() and it["recaption"].strip(), it["id"]
        assert it["recaption_model"].startswith("hand-written"), it["id"]  # never passed off as a model's
        o = it["origin"]
        assert o["repo"].count("/") == 1 and o["path"] and re.fullmatch(r"[0-9a-f]{40}", o["commit"]), it["id"]
        with Image.open(SET / it["thumbnail"]) as im:
            assert max(im.size) <= 256 and im.format == "JPEG", it["id"]
    assert sum((SET / "thumbs" / p.name).stat().st_size for p in (SET / "thumbs").iterdir()) < 7_500_000
    assert sorted(p.name for p in (SET / "thumbs").iterdir()) == sorted(Path(it["thumbnail"]).name for it in items)


def test_the_dev_test_split_is_fixed_by_paper_and_about_half_each():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_labels", SET.parent / "bench_labels.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    items = [json.loads(line) for line in (SET / "items.jsonl").read_text(encoding="utf-8").splitlines()]
    split = bench.split_of(items)
    assert split == bench.split_of(list(reversed(items)))  # the order of the lines does not matter
    by_paper: dict = {}
    for it in items:
        if it["paper_id"]:
            by_paper.setdefault(it["paper_id"], set()).add(split[it["id"]])
    assert all(len(parts) == 1 for parts in by_paper.values())  # no paper in two splits
    for held in bench.HELD_OUT:
        assert {i for i, p in split.items() if p == held} == {it["id"] for it in items if it.get("split") == held}
    tuned = [p for p in split.values() if p not in bench.HELD_OUT]
    assert 0.45 <= tuned.count("dev") / len(tuned) <= 0.55
    # the held-out splits leave dev and test as they were: the same ids without the held-out items
    assert split == {**bench.split_of([it for it in items if it.get("split") not in bench.HELD_OUT]),
                     **{it["id"]: it["split"] for it in items if it.get("split") in bench.HELD_OUT}}


@pytest.mark.parametrize("held, figures, papers", [("fresh", 60, 12), ("fresh2", 50, 15), ("fresh3", 60, 20),
                                                   ("fresh4", 60, 20), ("fresh5", 60, 20),
                                                   ("fresh6", 45, 20), ("fresh7", 45, 15),
                                                   ("fresh8", 60, 32), ("fresh9", 47, 19),
                                                   ("fresh10", 40, 23), ("fresh11", 47, 16),
                                                   ("fresh12", 46, 18)])
def test_each_held_out_split_is_new_papers_labelled_blind(held, figures, papers):
    items = [json.loads(line) for line in (SET / "items.jsonl").read_text(encoding="utf-8").splitlines()]
    part = [it for it in items if it.get("split") == held]
    ids = {it["paper_id"] for it in part}
    assert len(part) >= figures and len(ids) >= papers
    assert not ids & {it["paper_id"] for it in items if it.get("split") != held}  # new papers only
    assert not {it["origin"]["repo"] for it in part} & {it["origin"]["repo"] for it in items if it.get("split") != held}
    # open licenses only: the article's Creative Commons license, or (fresh4) the repository's MIT,
    # Apache-2.0 or BSD license where that license covers the manuscript and its figures
    assert all(it["license"].startswith(("CC-BY", "CC0", "MIT", "Apache-2.0", "BSD-3-Clause")) for it in part)
