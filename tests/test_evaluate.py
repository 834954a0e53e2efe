"""``s1mmalign evaluate``: scores.parquet, report (JSON + Markdown) with the paper's numbers, plots."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import make_record

from s1mmalign.builder.commands.evaluate import summarize
from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.shards.write import write_dataset
from s1mmalign.builder.stages.recaption.tiny import build_tiny_bert_mlm, build_tiny_clip
from s1mmalign.builder.stages.scoring import ClipScorer, PseudoPerplexityScorer


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return str(build_tiny_clip(root / "clip")), str(build_tiny_bert_mlm(root / "bert"))


@pytest.fixture
def dataset(tmp_path):
    recs = [make_record(i, caption=f"Fig {i}: the data.", recaption=f"A plot of the data {i}; the curve rises." if i != 2 else None,
                        recaption_model="context:extractive-fusion@1/prompt-none" if i != 2 else None)
            for i in range(5)]
    write_dataset(recs, tmp_path / "ds")
    return tmp_path / "ds", recs


def test_evaluate_writes_scores_report_and_plots(models, dataset, capsys):
    from s1mmalign.builder.commands.cli import main

    clip_model, mlm_model = models
    root, recs = dataset
    assert main(["evaluate", str(root), "--clip-model", clip_model, "--mlm-model", mlm_model, "--no-progress", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "paper +18.21 %" in printed and "paper -27.77 %" in printed
    ev = root / "eval"
    table = pq.read_table(ev / "scores.parquet")
    assert table.column_names == ["key", "clip_score_caption", "clip_score_recaption", "pseudo_ppl_caption",
                                  "pseudo_ppl_recaption", "caption_chars", "recaption_chars"]
    rows = {r["key"]: r for r in table.to_pylist()}
    assert set(rows) == {r["key"] for r in recs}

    # The same numbers as the scorers give directly on the records.
    direct = PseudoPerplexityScorer(mlm_model, device="cpu")(ClipScorer(clip_model, device="cpu")(recs, Rejects()))
    for d in direct:
        r = rows[d["key"]]
        for f in ("clip_score_caption", "clip_score_recaption", "pseudo_ppl_caption", "pseudo_ppl_recaption"):
            if d[f] is None:
                assert r[f] is None
            else:
                assert abs(r[f] - d[f]) <= 1e-4 * max(1, abs(d[f]))  # stored as float32
    assert rows[recs[2]["key"]]["clip_score_recaption"] is None

    report = json.loads((ev / "report.json").read_text())
    paired = [r for r in rows.values() if r["clip_score_recaption"] is not None]
    cap = np.array([r["clip_score_caption"] for r in paired], dtype=np.float64)
    rec = np.array([r["clip_score_recaption"] for r in paired], dtype=np.float64)
    c = report["clip_score"]
    assert c["caption"]["n"] == 4 and report["records"] == 5 and report["with_recaption"] == 4
    assert abs(c["mean_change_pct"] - (rec.mean() - cap.mean()) / cap.mean() * 100) < 1e-6
    assert abs(c["var_change_pct"] - (rec.var() - cap.var()) / cap.var() * 100) < 1e-6
    assert report["paper"]["clip_mean_change_pct"] == 18.21 and report["paper"]["clip_var_change_pct"] == -27.77
    assert report["recaption_models"] == {"context:extractive-fusion@1/prompt-none": 4, "(none)": 1}
    md = (ev / "report.md").read_text()
    assert "+18.21 %" in md and "-27.77 %" in md and f"{c['mean_change_pct']:+.2f} %" in md and "267 ± 261" in md
    for png in ("clip_score_hist.png", "pseudo_ppl_cdf.png"):
        data = (ev / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert report["plots"] == ["clip_score_hist.png", "pseudo_ppl_cdf.png"]


def test_evaluate_with_one_model_and_a_limit(models, dataset, tmp_path):
    from s1mmalign.builder.commands.evaluate import evaluate_dataset

    root, _ = dataset
    report = evaluate_dataset(root, clip_model=models[0], out=tmp_path / "rep", limit=3, device="cpu")
    assert report["records"] == 3 and report["pseudo_ppl"]["caption"] is None
    assert pq.read_table(tmp_path / "rep" / "scores.parquet").num_rows == 3
    assert report["plots"] == ["clip_score_hist.png"]  # no empty pseudo-perplexity plot
    assert not (tmp_path / "rep" / "pseudo_ppl_cdf.png").exists()
    with pytest.raises(ValueError, match="--clip-model and/or --mlm-model"):
        evaluate_dataset(root)


def test_summary_relative_changes_and_empty_input():
    rows = [{"clip_score_caption": a, "clip_score_recaption": b, "pseudo_ppl_caption": 100.0, "pseudo_ppl_recaption": 50.0,
             "caption_chars": 10, "recaption_chars": 30} for a, b in [(0.5, 0.6), (0.7, 0.6), (0.6, 0.6)]]
    s = summarize(rows)
    assert abs(s["clip_score"]["mean_change_pct"] - 0.0) < 1e-9
    assert abs(s["clip_score"]["var_change_pct"] + 100.0) < 1e-9  # recaption scores have no spread
    assert s["pseudo_ppl"]["recaption_lower_frac"] == 1.0
    empty = summarize([])
    assert empty["clip_score"]["mean_change_pct"] is None and empty["records"] == 0
