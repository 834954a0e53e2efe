"""Front matter of LaTeX sources: the journal a class or a \\journal names, author keywords, subject
codes, and the discipline they give a paper read without arXiv metadata."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.sources.arxiv import paper_records
from s1mmalign.builder.sources.latex import PaperFiles
from s1mmalign.builder.sources.latex.front import CLASS_JOURNALS, REVTEX_OPTIONS, document_class, venue_journal
from s1mmalign.builder.sources.latex.paper import parse_paper
from s1mmalign.core.taxonomy import discipline_for_journal


def png(seed: int) -> bytes:
    rnd = random.Random(seed)
    img = Image.frombytes("RGB", (120, 90), bytes(rnd.randrange(256) for _ in range(120 * 90 * 3)))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def paper(preamble: str, front: str = "", title: str = "A study of the accelerating orbit of WASP-4") -> PaperFiles:
    tex = (preamble + "\n\\begin{document}\n\\title{" + title + "}\n" + front +
           "\n\\begin{figure}\\includegraphics{a.png}\\caption{Timing residuals.}\\end{figure}\n\\end{document}\n")
    return PaperFiles({"main.tex": tex.encode(), "a.png": png(1)})


@pytest.mark.parametrize("preamble,want", [
    (r"\documentclass[twocolumn,tighten]{../aastex631}", ("aastex631", ["twocolumn", "tighten"])),
    (r"\documentclass{Classes/PhDThesisPSnPDF}", ("phdthesispsnpdf", [""])),
    (r"\usepackage{amsmath}", ("", [])),
])
def test_the_document_class_is_its_file_name_and_options(preamble, want):
    assert document_class(preamble) == want


def test_a_commented_out_class_names_no_journal():
    front = parse_paper(paper("% \\documentclass[usenatbib]{mnras}\n\\documentclass[a4paper]{article}")).front
    assert front.journal == ""
    assert parse_paper(paper("\\documentclass[usenatbib]{mnras}")).front.journal.startswith("Monthly Notices")


@pytest.mark.parametrize("preamble,journal", [
    (r"\documentclass[aps,prl,twocolumn]{revtex4-2}", "Physical Review"),
    (r"\documentclass[aip,jcp,reprint]{revtex4-1}", "The Journal of Chemical Physics"),
    (r"\documentclass[10pt,journal,compsoc]{IEEEtran}", "IEEE Transactions on Computers"),
    (r"\documentclass[conference]{IEEEtran}", ""),  # IEEE publishes every engineering field: no journal by itself
    ("\\documentclass{article}\n\\usepackage[final]{neurips_2023}", "Advances in Neural Information Processing Systems"),
    ("\\documentclass{article}\n\\usepackage{jcappub}", "Journal of Cosmology and Astroparticle Physics"),
    (r"\documentclass[fleqn,usenatbib]{mnras}", "Monthly Notices of the Royal Astronomical Society"),
    (r"\documentclass{elsarticle}", ""),
    (r"\documentclass{article}", ""),
])
def test_the_class_and_its_options_name_the_journal_they_serve(preamble, journal):
    assert venue_journal(preamble) == journal


def test_every_class_journal_names_a_discipline():
    """The titles stand for journals of one field each; the journal table or the title's words read them."""
    unread = {k: j for k, j in {**CLASS_JOURNALS, **REVTEX_OPTIONS}.items() if discipline_for_journal(j) is None}
    assert unread == {"jmp": "Journal of Mathematical Physics"}  # mathematics or physics: the paper's words decide
    assert discipline_for_journal(CLASS_JOURNALS["aastex*"]) == "astronomy"
    assert discipline_for_journal(REVTEX_OPTIONS["jcp"]) == "chemistry"
    assert discipline_for_journal(CLASS_JOURNALS["acmart"]) == "computer_science"
    assert discipline_for_journal(CLASS_JOURNALS["copernicus*"]) == "earth_science"
    assert discipline_for_journal(CLASS_JOURNALS["apa7"]) == "other"


def test_keywords_in_the_forms_of_the_common_classes():
    front = parse_paper(paper(
        "\\documentclass{article}\n\\newcommand{\\keywords}[1]{\\par\\textbf{Keywords:} #1}",  # a definition: no keyword
        r"\keywords{Exoplanet tides (497) --- Radial velocity (1332); Transit timing \and orbital decay}"
        r"\begin{keyword} white dwarfs \sep hydrodynamics \end{keyword}"
        r"\begin{IEEEkeywords} Timing, timing \end{IEEEkeywords}"
        r"\subjclass[2020]{70F15}")).front
    assert front.keywords == ["Exoplanet tides", "Radial velocity", "Transit timing", "orbital decay", "white dwarfs",
                              "hydrodynamics", "Timing", "mathematics"]
    many = parse_paper(paper(r"\documentclass{article}", r"\keywords{" + ", ".join(f"k{i}" for i in range(100)) + "}")).front
    assert len(many.keywords) == 30
    named = parse_paper(paper("\\documentclass{elsarticle}\n\\journal{Nuclear Instruments and Methods in Physics Research A}")).front
    assert named.journal == "Nuclear Instruments and Methods in Physics Research A"


@pytest.mark.parametrize("preamble,front,want", [
    # the title names no field; the class serves astronomy journals only
    (r"\documentclass[twocolumn]{aastex62}", "", "astronomy"),
    (r"\documentclass{article}", "", "other"),
    (r"\documentclass{sig-alternate}", "", "computer_science"),
    # elsarticle's \journal names it; author keywords are read with the title
    ("\\documentclass{elsarticle}\n\\journal{Journal of Computational Physics}", "", "physics"),
    (r"\documentclass{article}", r"\begin{keyword} exoplanet tides \sep radial velocity \end{keyword}", "astronomy"),
])
def test_a_paper_without_metadata_takes_its_discipline_from_its_front_matter(preamble, front, want):
    recs = list(paper_records("2401.00001", paper(preamble, front, title="WASP-4 is accelerating toward us"), Rejects()))
    assert recs and {r["discipline"] for r in recs} == {want}


def test_arxiv_categories_still_decide_over_the_class():
    meta = {"categories": ["cs.LG"], "title": "WASP-4 is accelerating toward us", "abstract": ""}
    recs = list(paper_records("2401.00001", paper(r"\documentclass{aastex631}"), Rejects(), meta))
    assert {r["discipline"] for r in recs} == {"computer_science"}
