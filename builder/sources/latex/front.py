"""A paper's front matter: title, abstract, author keywords and the journal its source names.

A source tarball read without arXiv metadata has no categories; what decides its discipline is
then its own words (:func:`s1mmalign.core.taxonomy.discipline_for_tags`). Three of those words
are in the preamble and the front matter, not the abstract: the **journal** (``\\journal{...}``
of elsarticle, ``\\journalname{...}`` of svjour, or the journal a class serves: AASTeX the AAS
journals, ``mnras``, ``aa``, REVTeX's ``prl``/``prb``/``jcp`` options, ``jheppub``, ``achemso``,
``agujournal``, ``acmart``, ``llncs``, ``siamart``, ... :data:`CLASS_JOURNALS`), the **author
keywords** (``\\keywords``, ``keyword``/``keywords``/``IEEEkeywords`` environments, ``\\kwd``) and
the subject codes (``\\subjclass``: MSC, mathematics; ``\\pacs``: PACS, physics). A class that
serves several fields (IEEEtran, elsarticle, svjour3, article) names no journal by itself.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Optional

from s1mmalign.builder.sources.latex.files import LOADS
from s1mmalign.builder.sources.latex.macros import cut_definitions
from s1mmalign.builder.sources.latex.syntax import Unbalanced, read_args
from s1mmalign.builder.sources.latex.text import Converter, clean_text

MAX_KEYWORDS = 30
MAX_KEYWORD_CHARS = 200

#: class (or, for conference styles, package) -> the journal title it stands for, read by
#: :func:`~s1mmalign.core.taxonomy.discipline_for_journal` like any journal title. Names ending
#: in ``*`` match any suffix (``aastex631``, ``siamart220329``, ``neurips_2023``).
CLASS_JOURNALS: dict[str, str] = {
    "aastex*": "The Astrophysical Journal", "emulateapj": "The Astrophysical Journal",
    "mnras": "Monthly Notices of the Royal Astronomical Society", "aa": "Astronomy & Astrophysics",
    "preaa": "Astronomy & Astrophysics", "pasj*": "Publications of the Astronomical Society of Japan",
    "pasa*": "Publications of the Astronomical Society of Australia",
    "jcappub": "Journal of Cosmology and Astroparticle Physics", "jheppub": "Journal of High Energy Physics",
    "jhep": "Journal of High Energy Physics", "jinstpub": "Journal of Instrumentation", "iopart": "Journal of Physics", "pos": "Proceedings of Science",
    "revtex*": "Physical Review",  # the option names the journal (REVTEX_OPTIONS)
    "achemso": "Journal of the American Chemical Society", "agujournal*": "Journal of Geophysical Research",
    "agutex": "Journal of Geophysical Research", "ametsoc*": "Journal of the Atmospheric Sciences",
    "copernicus*": "Copernicus geoscience", "gji": "Geophysical Journal International",
    "elife": "eLife", "bioinfo": "Bioinformatics",
    "amsart": "mathematics", "amsproc": "mathematics", "siamart*": "SIAM Journal on Applied Mathematics",
    "siamltex": "SIAM Journal on Applied Mathematics", "siamonline*": "SIAM Journal on Applied Mathematics",
    "imsart": "The Annals of Statistics", "jss": "Journal of Statistical Software",
    "acmart": "Communications of the ACM", "sig-alternate*": "Communications of the ACM", "llncs": "Lecture Notes in Computer Science",
    "lipics*": "Leibniz International Proceedings in Informatics",
    "jmlr*": "Journal of Machine Learning Research", "neurips_*": "Advances in Neural Information Processing Systems",
    "nips_*": "Advances in Neural Information Processing Systems", "icml*": "International Conference on Machine Learning",
    "iclr*": "International Conference on Learning Representations",
    "cvpr*": "IEEE computer vision and pattern recognition", "iccv*": "IEEE computer vision and pattern recognition",
    "eccv*": "European Conference on Computer Vision", "aaai*": "AAAI Conference on Artificial Intelligence",
    "ijcai*": "International Joint Conference on Artificial Intelligence",
    "ascelike*": "Journal of Structural Engineering", "asme*": "ASME mechanical engineering",
    "apa6": "psychology", "apa7": "psychology",
}
#: REVTeX's journal options (APS and AIP); "aps" alone is the Physical Review family.
REVTEX_OPTIONS: dict[str, str] = {
    **dict.fromkeys(("prl", "pra", "prb", "prc", "prd", "pre", "prx", "prapplied", "prfluids", "prmaterials",
                     "prresearch", "prab", "prper", "rmp", "aps"), "Physical Review"),
    "jcp": "The Journal of Chemical Physics", "apl": "Applied Physics Letters", "jap": "Journal of Applied Physics",
    "pof": "Physics of Fluids", "pop": "Physics of Plasmas", "rsi": "Review of Scientific Instruments",
    "cha": "Chaos (physics)", "jmp": "Journal of Mathematical Physics", "aipa": "AIP Advances (physics)",
}

_TITLE = re.compile(r"\\title(?![A-Za-z@])\*?")
_ABSTRACT_HEADING = re.compile(r"\\(?:chapter|section)\*\s*(?:\[[^\]]*\]\s*)?\{\s*(?:Abstract|ABSTRACT|Summary)\s*\}")
_NEXT_PART = re.compile(r"\\(?:chapter|section|part|tableofcontents|listoffigures|maketitle)(?![A-Za-z@])|\\end\{document\}")
_KEYWORD_CMDS = re.compile(r"\\(?:keywords?|kwd|KEYWORDS?|keyword[sS]?)(?![A-Za-z@])\*?")
_KEYWORD_ENVS = re.compile(r"\\begin\{(keywords?|IEEEkeywords|keyword[sS]?|kwd-group)\}(.*?)\\end\{\1\}", re.S)
_SEPARATORS = re.compile(r"\\sep\b|\\and\b|\\kwd\b|\\\\|\s+-{2,3}\s+|[,;·•]|\$\\cdot\$|\\cdot\b")


@dataclass
class FrontMatter:
    title: str = ""
    abstract: str = ""
    journal: str = ""  # a journal title the source names, or the one its class serves; "" when neither
    keywords: list[str] = field(default_factory=list)  # author keywords, and "mathematics" / "physics" for MSC / PACS codes


def document_class(preamble: str) -> tuple[str, list[str]]:
    """The class a preamble loads (its file name, lower case: ``../aastex6`` is ``aastex6``) and
    its options; ``("", [])`` when there is none."""
    for m in LOADS.finditer(preamble):
        if m.group(1) in ("documentclass", "documentstyle"):
            return posixpath.basename(m.group(3).strip()).lower(), [o.strip().lower() for o in (m.group(2) or "").split(",")]
    return "", []


def _class_journal(name: str) -> str:
    for key, journal in CLASS_JOURNALS.items():
        if name == key or (key.endswith("*") and name.startswith(key[:-1])):
            return journal
    return ""


def venue_journal(preamble: str) -> str:
    """The journal the class (with its options) or a conference style package stands for."""
    name, options = document_class(preamble)
    if name.startswith("revtex"):
        return next((REVTEX_OPTIONS[o] for o in options if o in REVTEX_OPTIONS), CLASS_JOURNALS["revtex*"])
    if name == "ieeetran" and "compsoc" in options:
        return "IEEE Transactions on Computers"
    journal = _class_journal(name)
    for m in LOADS.finditer(preamble):  # neurips_2023.sty, icml2024.sty: an article in a conference's style
        if not journal and m.group(1) == "usepackage":
            journal = next((j for n in m.group(3).split(",") if (j := _class_journal(n.strip().lower()))), "")
    return journal


def last_title(tex: str) -> Optional[re.Match]:
    r"""The ``\title`` the paper prints: the last one before ``\maketitle`` (each defines the title anew;
    drafts keep their old titles above), else the last one."""
    made = tex.find("\\maketitle")
    found = [m for m in _TITLE.finditer(tex) if made < 0 or m.start() < made] or list(_TITLE.finditer(tex))
    return found[-1] if found else None


def _argument(tex: str, m: Optional[re.Match], conv: Converter) -> str:
    """The text of the argument of the command ``m`` found in ``tex`` ("" for none)."""
    if not m:
        return ""
    try:
        _, args, _ = read_args(tex, m.end(), 1, 1)
    except Unbalanced:
        return ""
    return clean_text(conv.convert(args[0]))


def _keywords(tex: str, conv: Converter) -> list[str]:
    raw: list[str] = []
    for m in _KEYWORD_CMDS.finditer(tex):
        try:
            _, args, _ = read_args(tex, m.end(), 1, 1)
        except Unbalanced:
            continue
        raw.append(args[0])
    raw += [m.group(2) for m in _KEYWORD_ENVS.finditer(tex)]
    out: list[str] = []
    for text in raw:
        for part in _SEPARATORS.split(text):
            word = re.sub(r"\(\d+\)", "", clean_text(conv.convert(part))).strip(" .:")  # AASTeX's UAT numbers "(594)"
            if word and len(word) <= MAX_KEYWORD_CHARS and word.lower() not in (w.lower() for w in out):
                out.append(word)
    return out[:MAX_KEYWORDS]


def abstract_without_environment(tex: str) -> str:
    r"""The abstract a paper gives without an ``abstract`` environment, as source: ``\abstract{...}`` (a
    class's command), else a thesis's unnumbered ``\chapter*{Abstract}`` (or ``\section*``) up to the next heading."""
    m = re.search(r"\\abstract(?![A-Za-z@])", tex)
    if m:
        try:
            return read_args(tex, m.end(), 1, 0)[1][0]
        except Unbalanced:
            return ""
    m = _ABSTRACT_HEADING.search(tex)
    if not m:
        return ""
    end = _NEXT_PART.search(tex, m.end())
    return tex[m.end():end.start() if end else len(tex)]


def read_front_matter(tex: str, conv: Converter) -> FrontMatter:
    """Title, abstract, journal and keywords of a paper's expanded source (the module docstring)."""
    front = FrontMatter(title=_argument(tex, last_title(tex), conv))
    m = re.search(r"\\begin\{abstract\}(.*?)\\end\{abstract\}", tex, re.S)
    front.abstract = clean_text(conv.convert(m.group(1) if m else abstract_without_environment(tex)))
    start = tex.find("\\begin{document}")
    preamble = tex[:start] if start >= 0 else tex
    used = cut_definitions(tex)  # a class's or preamble's \newcommand{\keywords}[1]{...} names no keyword
    named = (_argument(used, re.search(rf"\\{c}(?![A-Za-z@])\*?", used), conv) for c in ("journal", "journalname"))
    front.journal = next(filter(None, named), "") or venue_journal(preamble)  # elsarticle's, svjour's, the class's
    front.keywords = _keywords(used, conv)
    for command, field_name in (("subjclass", "mathematics"), ("pacs", "physics")):
        if re.search(rf"\\{command}(?![A-Za-z@])", used):
            front.keywords.append(field_name)
    return front
