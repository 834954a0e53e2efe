"""Recall and precision of figures and captions on real papers (TeX Live samples) and on ours.

Ground truth: tests/data/latex_real/truth.json (real papers; see SOURCES.md there) and
tests/data/latex_own_truth.json (the demo's sample papers, written by this project). A found
figure matches a true one when its image files are the same (in order) — "figures" — and
its caption is equal after whitespace/case normalisation — "captions".
"""

import json
from pathlib import Path

import pytest

from s1mmalign.builder.sources.arxiv import read_paper_path
from s1mmalign.builder.sources.contexts import find_citations
from s1mmalign.builder.sources.latex import PaperFiles, parse_paper

HERE = Path(__file__).parent
REAL = HERE / "data" / "latex_real"
OWN = Path(__file__).parents[1] / "builder" / "sample" / "papers"


def _norm(text: str) -> str:
    return "".join(text.split()).casefold()  # math spacing differs between TeX output and source


def _score(corpus: dict[str, tuple[PaperFiles, list[dict]]]) -> dict:
    n_true = n_found = fig_hits = cap_hits = cited = cited_with_ctx = 0
    misses = []
    for name, (files, truth) in corpus.items():
        paper = parse_paper(files)
        found = [f for f in paper.figures if not f.is_table]
        cites = find_citations(paper.paragraphs, paper.numbers())
        n_true += len(truth)
        n_found += len(found)
        for t in truth:
            match = [f for f in found if f.files == t["files"]]
            fig_hits += bool(match)
            cap_ok = any(_norm(f.caption) == _norm(t["caption"]) for f in match)
            cap_hits += cap_ok
            if not match or not cap_ok:
                misses.append((name, t["number"], [(f.files, f.caption) for f in found if f.index == t["number"]]))
            if t["cited"]:
                cited += 1
                fig = next((f for f in found if f.index == t["number"]), None)
                cited_with_ctx += bool(fig and cites[fig.id].sentences)
    return {
        "papers": len(corpus), "true": n_true, "found": n_found,
        "figure_recall": fig_hits / n_true, "figure_precision": fig_hits / max(n_found, 1),
        "caption_recall": cap_hits / n_true, "caption_precision": cap_hits / max(n_found, 1),
        "cited": cited, "contexts_found": cited_with_ctx, "misses": misses,
    }


def _print(label: str, s: dict) -> None:
    print(f"\n{label}: {s['papers']} papers, {s['true']} true figures, {s['found']} found | "
          f"figures recall {s['figure_recall']:.3f} precision {s['figure_precision']:.3f} | "
          f"captions recall {s['caption_recall']:.3f} precision {s['caption_precision']:.3f} | "
          f"contexts for {s['contexts_found']}/{s['cited']} referenced figures")
    for m in s["misses"]:
        print("  miss:", m)


def test_real_texlive_papers_recall_and_precision():
    truth = json.loads((REAL / "truth.json").read_text())
    corpus = {name: (PaperFiles.from_dir(REAL / name), figs) for name, figs in truth.items()}
    assert len(corpus) >= 10 and sum(len(f) for f in truth.values()) >= 25
    s = _score(corpus)
    _print("real (TeX Live samples)", s)
    assert s["figure_recall"] >= 0.95 and s["figure_precision"] >= 0.95
    assert s["caption_recall"] >= 0.95 and s["caption_precision"] >= 0.95
    assert s["contexts_found"] == s["cited"]


def test_own_papers_recall_and_precision():
    truth = json.loads((HERE / "data" / "latex_own_truth.json").read_text())
    corpus = {name: (read_paper_path(OWN / name), figs) for name, figs in truth.items()}
    s = _score(corpus)
    _print("own (demo sample papers)", s)
    assert s["figure_recall"] == s["figure_precision"] == 1.0
    assert s["caption_recall"] == s["caption_precision"] == 1.0
    assert s["contexts_found"] == s["cited"]


@pytest.mark.parametrize("name", ["revtex-aps", "jacow", "aastex"])
def test_real_contexts_are_the_citing_sentences(name):
    paper = parse_paper(PaperFiles.from_dir(REAL / name))
    cites = find_citations(paper.paragraphs, paper.numbers())
    first = {f.index: cites[f.id].sentences for f in paper.figures if not f.is_table}
    expected = {
        "revtex-aps": (2, "Fig. 2 has content that is too wide for a single column, so the figure* environment has been used."),
        "jacow": (1, "The layout of the text on the page is illustrated in Fig. 1."),
        "aastex": (2, "Figure 2 shows an inverted pyramid of individual figure constructed with six individual EPS "
                      "files using the \\gridline option."),
    }[name]
    assert expected[1] in first[expected[0]]
