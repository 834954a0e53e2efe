"""Modality classifiers (caption rules, zero-shot tiny CLIP) and the multi-panel flag."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

import s1mmalign_dataset as contract
from s1mmalign.builder.records.prepare import prepare_record
from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.stages.modality import (
    PROMPTS,
    TEMPLATES,
    caption_is_multi_panel,
    classify_caption,
    layout_is_multi_panel,
    make_classifier,
)

REAL = Path(__file__).parent / "data" / "jats_real" / "expected.json"

# Labels a reader gives the 15 real PMC figures (tests/data/jats_real), in file order:
# (modality, multi-panel according to the caption).
REAL_LABELS = [
    ("diagram", False), ("plot", True), ("plot", True), ("plot", True),  # 1471-2180-11-174
    ("plot", True), ("plot", True), ("plot", True),  # ehp-116-1694: bar charts with panels A, B
    ("map", False),  # pntd.0002065
    ("diagram", False), ("plot", False), ("plot", False),  # pone.0000217: FGM sketch, two plots
    ("molecular_structure", True), ("plot", True), ("plot", True), ("photograph", False),  # pone.0046493 (plates)
]

# Captions written for the test, one or more per modality, with whether they enumerate panels.
WRITTEN = [
    ("Heatmap of gene expression across 40 samples; colour scale shows log2 fold change.", "heatmap", False),
    ("Confusion matrix of the classifier on the test set.", "heatmap", False),
    ("SEM image of the nanowire array. Scale bar, 1 \u00b5m.", "microscopy", False),
    ("(a) TEM micrograph of the particles and (b) their size distribution.", "microscopy", True),
    ("Immunofluorescence staining of HeLa cells for tubulin (green) and DAPI (blue).", "microscopy", False),
    ("Schematic of the experimental setup: laser, beam splitter and detector.", "diagram", False),
    ("Overview of the proposed network architecture.", "diagram", False),
    ("Flowchart of patient inclusion.", "diagram", False),
    ("Axial T2-weighted MRI showing a hyperintense lesion in the left temporal lobe.", "medical_image", False),
    ("Chest radiograph on admission (left) and after treatment (right panel).", "medical_image", True),
    ("Crystal structure of the enzyme bound to its ligand, shown as a ribbon diagram.", "molecular_structure", False),
    ("Map of the sampling locations across the three countries.", "map", False),
    ("Hubble image of the galaxy cluster with the lensed arcs marked.", "astronomical_image", False),
    ("Photograph of the field site in spring.", "photograph", False),
    ("Loss versus training epoch for three learning rates; error bars show one standard deviation.", "plot", False),
    ("Histogram of particle sizes (A) before and (B) after milling.", "plot", True),
    ("Kaplan-Meier survival curves of the two cohorts.", "plot", False),
    ("Table of hyperparameters used in all runs.", "other", False),
]


def _real_captions() -> list[str]:
    e = json.loads(REAL.read_text(encoding="utf-8"))
    return [f["caption"] for v in e.values() for f in v["figures"]]


def test_caption_rules_accuracy_on_real_and_written_captions():
    real = _real_captions()
    assert len(real) == len(REAL_LABELS)
    rows = [(c, m, mp) for c, (m, mp) in zip(real, REAL_LABELS)] + WRITTEN
    got = [classify_caption(c)[0] for c, _, _ in rows]
    acc_real = np.mean([g == m for g, (_, m, _) in zip(got[:len(real)], rows)])
    acc_written = np.mean([g == m for g, (_, m, _) in zip(got[len(real):], WRITTEN)])
    panel = [caption_is_multi_panel(c) == mp for c, _, mp in rows]
    print(f"\n[caption rules] modality accuracy: real PMC {acc_real:.3f} ({len(real)}), written {acc_written:.3f} "
          f"({len(WRITTEN)}); multi-panel caption cue accuracy {np.mean(panel):.3f} ({len(rows)})")
    assert acc_real >= 0.85 and acc_written >= 0.9
    assert np.mean(panel) >= 0.9
    assert set(m for _, m, _ in WRITTEN) == set(contract.MODALITIES)  # every label is reachable and checked
    assert classify_caption("") == ("other", 0)


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _plot(ncols: int, nrows: int = 1) -> Image.Image:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=(3 * ncols, 2.5 * nrows), dpi=60)
    for k, ax in enumerate(np.atleast_1d(axes).ravel()):
        x = np.linspace(0, 5, 50)
        ax.plot(x, np.sin(x * (k + 1)))
        ax.bar(x[::10], np.cos(x[::10]) + 1, width=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _micrograph(seed: int, size=(120, 100)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((size[1], size[0])) * 200 + 30).astype("uint8"), "L").convert("RGB")


def test_layout_multi_panel():
    grid = Image.new("RGB", (270, 230), "white")
    for i in range(2):
        for j in range(2):
            grid.paste(_micrograph(i * 2 + j), (10 + i * 130, 10 + j * 110))
    assert layout_is_multi_panel(grid)
    assert layout_is_multi_panel(_plot(2)) and layout_is_multi_panel(_plot(3))
    assert layout_is_multi_panel(_plot(1, 2)) and layout_is_multi_panel(_plot(2, 2))
    assert not layout_is_multi_panel(_plot(1))
    assert not layout_is_multi_panel(_micrograph(5, (300, 200)))
    scheme = Image.new("RGB", (300, 120), "white")
    d = ImageDraw.Draw(scheme)
    d.rectangle([20, 30, 120, 90], outline="black", width=3)
    d.rectangle([180, 30, 280, 90], outline="black", width=3)
    d.line([120, 60, 180, 60], fill="black", width=3)  # connected boxes: one diagram
    assert not layout_is_multi_panel(scheme)
    # the demo's sample figures are all single-panel (dark micrograph, plot, heatmap, schematic, map, CT, molecule)
    from s1mmalign.builder.sources.jats import iter_oa_package, read_jats_article

    sample = Path(__file__).parents[1] / "builder" / "sample" / "jats"
    recs = [*read_jats_article(sample / "PMC9000001", Rejects()), *read_jats_article(sample / "biorxiv-2024-000002", Rejects()),
            *iter_oa_package(sample / "PMC9000003.tar.gz", Rejects())]
    assert len(recs) == 7
    assert not any(layout_is_multi_panel(Image.open(io.BytesIO(r["image"]["bytes"]))) for r in recs)


def test_long_runs_match_the_per_row_definition():
    """The vectorised run finder marks exactly the pixels on a horizontal run of >= min_len."""
    from s1mmalign.builder.stages.modality import _long_runs

    rng = np.random.default_rng(0)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        mask = rng.random((h, w)) < rng.random()
        for min_len in (1, 2, 5, 12):
            want = np.zeros_like(mask)
            for r in range(h):
                c = 0
                while c < w:
                    e = c
                    while e < w and mask[r, e]:
                        e += 1
                    if e - c >= min_len:
                        want[r, c:e] = True
                    c = e + 1
            assert np.array_equal(_long_runs(mask, min_len), want), (h, w, min_len)


def _record(caption: str, img: Image.Image, key: str = "k1") -> dict:
    return {"key": key, "image": {"bytes": _png(img), "path": "x.png"}, "caption": caption, "title": "T",
            "abstract": "A", "citation_contexts": [], "paper_id": "p", "figure_label": "Figure 1", "source": "pmc",
            "categories": ["Biology"], "license": ""}


def test_rules_stage_fills_fields_and_records_pass_the_contract():
    classify = make_classifier("rules")
    batch = [_record("Heatmap of correlations.", _micrograph(0)),
             _record("Growth curve of the culture.", _plot(2), key="k2"),
             _record("Untitled.", _micrograph(1), key="k3")]
    rejects = Rejects()
    out = classify(batch, rejects)
    assert [(r["modality"], r["modality_method"], r["multi_panel"]) for r in out] == [
        ("heatmap", "rules:caption", False), ("plot", "rules:caption", True), ("other", "rules:none", False)]
    assert len(rejects) == 0 and "modality" not in batch[0]  # input records are not modified
    for r in out:
        prepare_record(r)
    with pytest.raises(ValueError, match="unknown modality classifier"):
        make_classifier("cnn")


def _tiny_clip(path: Path) -> Path:
    """A tiny random CLIP (model, character-level CLIPTokenizer, image processor) saved to ``path``."""
    import torch
    from tokenizers import pre_tokenizers
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPTokenizer

    path.mkdir(parents=True, exist_ok=True)
    chars = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = len(vocab), len(vocab) + 1
    (path / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (path / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    CLIPTokenizer(str(path / "vocab.json"), str(path / "merges.txt"), model_max_length=77).save_pretrained(str(path))
    config = CLIPConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=77, bos_token_id=vocab["<|startoftext|>"],
                         eos_token_id=vocab["<|endoftext|>"], pad_token_id=vocab["<|endoftext|>"]),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=32, patch_size=8),
        projection_dim=16,
    )
    torch.manual_seed(0)
    CLIPModel(config).eval().save_pretrained(str(path))
    CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(str(path))
    return path


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    return _tiny_clip(tmp_path_factory.mktemp("clip"))


def test_clip_classifier_zero_shot_with_prompt_ensembles(tiny_clip):
    import torch

    classify = make_classifier("clip", model=str(tiny_clip), device="cpu", batch_size=2, signals=False)
    assert classify.labels == list(PROMPTS) and set(classify.labels) <= set(contract.MODALITIES)
    # each modality's text vector is the normalised mean of its normalised prompt embeddings
    texts = [t.format(p) for p in PROMPTS["heatmap"] for t in TEMPLATES]
    tok = classify.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = classify.model.get_text_features(**tok)
    emb = torch.nn.functional.normalize(out if isinstance(out, torch.Tensor) else out.pooler_output, dim=-1).mean(0)
    assert torch.allclose(classify.text[classify.labels.index("heatmap")], torch.nn.functional.normalize(emb, dim=-1), atol=1e-5)

    batch = [_record("Map of sites.", _micrograph(i), key=f"k{i}") for i in range(3)]
    batch.append({**_record("x", _micrograph(0), key="bad"), "image": {"bytes": b"not an image", "path": "b.png"}})
    rejects = Rejects()
    out = classify(batch, rejects)
    assert [r["key"] for r in out] == ["k0", "k1", "k2"] and [r.reason for r in rejects] == ["undecodable"]
    probs = classify.probabilities([_micrograph(0)])
    assert probs.shape == (1, len(PROMPTS)) and abs(float(probs.sum()) - 1) < 1e-5
    for r in out:
        assert r["modality_method"] == f"clip:{tiny_clip}"
        assert r["modality"] == classify.labels[int(classify.probabilities([_micrograph(int(r['key'][1:]))]).argmax())]
        prepare_record(r)

    # below min_prob, a caption that names a modality decides
    fallback = make_classifier("clip", model=str(tiny_clip), device="cpu", min_prob=1.01, signals=False)
    out = fallback([_record("Map of sites.", _micrograph(0)), _record("Nothing named.", _micrograph(1), key="k2")], Rejects())
    assert (out[0]["modality"], out[0]["modality_method"]) == ("map", "caption-rules")
    assert out[1]["modality_method"] == f"clip:{tiny_clip}"

    # by default CLIP is one vote among the record's signals: a caption that names a modality
    # outweighs a weak CLIP vote; with no text signal, CLIP's label stands if confident enough
    combined = make_classifier("clip", model=str(tiny_clip), device="cpu")
    out = combined([_record("Map of sites.", _micrograph(0)), _record("Nothing named.", _micrograph(1), key="k2")], Rejects())
    assert (out[0]["modality"], out[0]["modality_method"]) == ("map", "rules:caption")
    p = float(combined.probabilities([_micrograph(1)]).max())
    assert out[1]["modality_method"] == (f"rules:clip:{tiny_clip}" if p >= 0.5 else "rules:none")


def test_clip_classifier_errors(tiny_clip, tmp_path):
    with pytest.raises(ValueError, match="unknown modalities"):
        make_classifier("clip", model=str(tiny_clip), prompts={"chart": ["a chart"]})
    with pytest.raises(RuntimeError, match="cannot load CLIP checkpoint"):
        make_classifier("clip", model=str(tmp_path / "nowhere"))


@pytest.mark.parametrize("caption", ["Code Structure of Package", "Package design of PhilDB", "Class structure of the library"])
def test_a_software_papers_code_structure_is_a_diagram(caption):
    # a JOSS paper's figure (PolytopeWalk, a rendered PDF of boxes and arrows) read as a plot from its image alone
    assert classify_caption(caption) == ("diagram", 3)
    assert classify_caption("The crystal structure of the package")[0] == "molecular_structure"
