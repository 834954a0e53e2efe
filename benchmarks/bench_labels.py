"""Modality and discipline labels on the hand-checked evaluation set (``benchmarks/labels_eval``).

    .venv/bin/python benchmarks/bench_labels.py [--set benchmarks/labels_eval] [--confusion] [--errors]

The set is split once into **dev** and **test** by paper (:func:`split_of`: no paper in both,
about half the figures each); items marked ``"split": "fresh"``, ``"fresh2"``, ... ``"fresh10"``
(papers added after the rules were tuned, labelled before any classifier ran on them) are held-out
splits of their own, **fresh** to **fresh10**, kept out of dev and test. Rules are tuned by
looking at dev only (``--confusion`` and ``--errors`` show dev); test and the held-out splits are the
headlines. For each modality method prints accuracy on dev, test, fresh, fresh2, fresh3, fresh4 and all
(every item), per modality
(correct/items), and with ``--confusion`` the dev confusion matrix (rows: hand label, columns:
predicted):

* caption rules: :func:`classify_caption` on the caption alone (no cue -> ``other``);
* recaption rules: :func:`recaption_vote` on the recaption alone;
* image only: the layout statistics vote of the thumbnail alone (the paper's discipline only
  tells a dark-field micrograph from a sky image);
* combined: the ``rules`` stage (every signal, precedence and confidence) with the recaption,
  and without it (the set's recaptions are hand-written descriptions, not a model's: both are
  reported).

Discipline: ``discipline_for_tags(categories, journal=..., title=..., abstract=...)`` against
the hand label, per discipline, on the items that belong to a paper.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Optional

from PIL import Image

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.stages import modality_signals as signals
from s1mmalign.builder.stages.modality import RulesClassifier, classify_caption
from s1mmalign.core import contract

HERE = Path(__file__).resolve().parent


def load(folder: Path) -> list[dict]:
    """The set's items with the thumbnail bytes as the record's image."""
    items = []
    for line in (folder / "items.jsonl").read_text(encoding="utf-8").splitlines():
        it = json.loads(line)
        it["image"] = {"bytes": (folder / it["thumbnail"]).read_bytes(), "path": it["image_path"]}
        it["citation_contexts"] = it.get("contexts") or []
        items.append(it)
    return items


# an item's "split" field: new papers labelled blind, never tuned on
HELD_OUT = ("fresh", "fresh2", "fresh3", "fresh4", "fresh5", "fresh6", "fresh7", "fresh8", "fresh9", "fresh10", "fresh11", "fresh12")
SPLITS = ("dev", "test", *HELD_OUT, "all")


def split_of(items: list[dict]) -> dict[str, str]:
    """Item id -> "dev", "test" or a held-out split (:data:`HELD_OUT`), fixed by the set alone. An
    item marked with a held-out ``"split"`` (``"fresh"`` ... ``"fresh4"``) is in that split; the other papers (a figure of no paper is its
    own group) in the order of sha256("labels-eval/" + paper id), each to the split with fewer figures so far (ties
    to dev). No paper is in two splits; dev and test hold about half the other figures each."""
    groups: dict[str, list[str]] = defaultdict(list)
    out = {it["id"]: it["split"] for it in items if it.get("split") in HELD_OUT}
    for it in items:
        if it["id"] not in out:
            groups[it.get("paper_id") or it["id"]].append(it["id"])
    sizes = {"dev": 0, "test": 0}
    for key in sorted(groups, key=lambda k: hashlib.sha256(f"labels-eval/{k}".encode()).hexdigest()):
        part = "dev" if sizes["dev"] <= sizes["test"] else "test"
        sizes[part] += len(groups[key])
        out.update(dict.fromkeys(groups[key], part))
    return out


def report_splits(name: str, parts: list[str], gold: list[str], pred: list[str], labels, confusion: bool,
                  errors: Optional[list[str]] = None, detail: Optional[list[str]] = None) -> dict[str, float]:
    """:func:`report` on dev, test, each held-out split and all (the confusion matrix and ``--errors`` of dev only)."""
    out = {}
    for split in SPLITS:
        keep = [i for i, p in enumerate(parts) if split in ("all", p)]
        out[split] = report(f"{name} [{split}]", [gold[i] for i in keep], [pred[i] for i in keep], labels,
                            confusion and split == "dev")
    if errors is not None:
        for i, p in enumerate(parts):
            if p == "dev" and gold[i] != pred[i]:
                print(f"    {errors[i]}: {gold[i]} -> {pred[i]}  {(detail[i] if detail else '')[:150]!r}")
    return out


def report(name: str, gold: list[str], pred: list[str], labels, confusion: bool) -> float:
    """Print accuracy overall and per label (and the confusion matrix); return the overall."""
    n = len(gold)
    if not n:
        return float("nan")
    acc = sum(g == p for g, p in zip(gold, pred)) / n
    per = defaultdict(lambda: [0, 0])
    for g, p in zip(gold, pred):
        per[g][0] += g == p
        per[g][1] += 1
    parts = [f"{lab} {per[lab][0]}/{per[lab][1]}" for lab in labels if per[lab][1]]
    print(f"{name:<40} {acc:6.3f}  ({n})  " + ", ".join(parts))
    if confusion:
        used = [lab for lab in labels if per[lab][1] or lab in pred]
        short = {lab: lab[:6] for lab in used}
        print(" " * 22 + " ".join(f"{short[c]:>6}" for c in used))
        cm = Counter(zip(gold, pred))
        for r in used:
            if per[r][1]:
                print(f"  {r:<20}" + " ".join(f"{cm[(r, c)] or '.':>6}" for c in used))
    return acc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", type=Path, default=HERE / "labels_eval")
    ap.add_argument("--confusion", action="store_true", help="print the dev confusion matrix of each method")
    ap.add_argument("--errors", action="store_true", help="list the dev items each method gets wrong")
    a = ap.parse_args(argv)
    items = load(a.set)
    split = split_of(items)
    parts = [split[it["id"]] for it in items]
    mods = contract.MODALITIES
    gold = [it["modality"] for it in items]
    print(f"{len(items)} figures; modality counts: {dict(Counter(gold).most_common())}")
    print(f"split by paper: dev {parts.count('dev')}, test {parts.count('test')}, "
          + ", ".join(f"{h} {parts.count(h)}" for h in HELD_OUT) + " figures "
          f"(dev: {dict(Counter(g for g, p in zip(gold, parts) if p == 'dev').most_common())})\n")

    images = [Image.open(io.BytesIO(it["image"]["bytes"])) for it in items]
    caption = [classify_caption(it.get("caption") or "")[0] for it in items]
    recaption = [signals.recaption_vote(it.get("recaption") or "")[0] for it in items]
    image_only = [signals.combine({"image": signals.image_vote(signals.image_stats(im), it.get("discipline"))}).modality
                  for it, im in zip(items, images)]
    stage = RulesClassifier()
    with_rc = [dict(it, recaption_model="hand-written") for it in items]
    without_rc = [dict(it, recaption=None, recaption_model=None) for it in items]
    t0 = time.perf_counter()
    combined_recs = stage(with_rc, Rejects())
    combined = [r["modality"] for r in combined_recs]
    per_record_ms = (time.perf_counter() - t0) / len(items) * 1e3
    combined_no_rc = [r["modality"] for r in stage(without_rc, Rejects())]

    print(f"modality accuracy ({', '.join(SPLITS)}; then correct/items per modality)")
    ids = [it["id"] for it in items] if a.errors else None
    caps = [it.get("caption") or "" for it in items]
    recaps = [it.get("recaption") or "" for it in items]
    methods = [f"{r['modality_method']}: {r.get('recaption') or ''}" for r in combined_recs]
    report_splits("caption rules", parts, gold, caption, mods, a.confusion, ids, caps)
    report_splits("recaption rules (hand-written)", parts, gold, recaption, mods, a.confusion, ids, recaps)
    report_splits("image only", parts, gold, image_only, mods, a.confusion)
    report_splits("combined, with recaption", parts, gold, combined, mods, a.confusion, ids, methods)
    report_splits("combined, without recaption", parts, gold, combined_no_rc, mods, a.confusion, ids, caps)
    print(f"\ncombined stage: {per_record_ms:.2f} ms per record (256 px thumbnails, 1 core)")
    # what convert pays per release record (layout=False; the image is decoded only when the text
    # signals do not decide): on the set's recaptions, and on them phrased as the release's are
    # ("The figure displays a line plot ...": the figure type right after the verb)
    fast = RulesClassifier(layout=False)
    phrased = [dict(it, recaption="The figure displays " + it["recaption"][0].lower() + it["recaption"][1:])
               for it in with_rc]
    plain = [r for r in phrased if signals.recaption_vote(r["recaption"])[1] >= 1.0]
    for name, batch in (("the set's recaptions", with_rc), ("release phrasing", phrased),
                        (f"release phrasing naming the type ({len(plain)})", plain)):
        best = float("inf")
        for _ in range(5):
            t0 = time.process_time()
            fast(batch, Rejects())
            best = min(best, (time.process_time() - t0) / len(batch) * 1e3)
        print(f"combined stage, layout=False, {name}: {best:.3f} CPU-ms per record (best of 5)")

    paper = [it for it in items if it.get("discipline")]
    dparts = [split[it["id"]] for it in paper]
    dgold = [it["discipline"] for it in paper]
    dpred = [contract.discipline_for_tags(it.get("categories") or [], journal=it.get("journal"), title=it.get("title"),
                                          abstract=it.get("abstract")) for it in paper]
    print("\ndiscipline accuracy (items of a paper)")
    report_splits("discipline_for_tags", dparts, dgold, dpred, contract.DISCIPLINES, a.confusion,
                  [it["id"] for it in paper] if a.errors else None, [it.get("title") or "" for it in paper])
    meta = [bool(it.get("categories") or it.get("journal")) for it in paper]
    for name, keep in (("  papers with subjects or a journal", True), ("  papers with neither", False)):
        for part in SPLITS:
            sub = [(g, p) for g, p, m, s in zip(dgold, dpred, meta, dparts) if m == keep and part in ("all", s)]
            if sub:
                print(f"{name + f' [{part}]':<40} {sum(g == p for g, p in sub) / len(sub):6.3f}  ({len(sub)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
