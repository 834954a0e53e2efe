"""The taxonomies: disciplines, figure modalities, sources, and source tags -> one discipline.

:func:`discipline_for_tags` maps every source tag (arXiv archives and categories, legacy ones
included, bioRxiv / medRxiv / ChemRxiv subject areas, journal subjects) to one primary
discipline. Standard library only: both sides and the datasets adapter import it.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from s1mmalign.core.discipline_text import decide, discipline_from_text, head_discipline, text_scores
from s1mmalign.core.journals import JOURNAL_DISCIPLINE, JOURNAL_FAMILIES, JOURNALS_BY_KEY, journal_key  # noqa: F401 (re-exported)

DISCIPLINES: tuple[str, ...] = (
    "mathematics",
    "physics",
    "chemistry",
    "biology",
    "astronomy",
    "earth_science",
    "medicine",
    "engineering",
    "computer_science",
    "other",
)

MODALITIES: tuple[str, ...] = (
    "plot",
    "heatmap",
    "diagram",
    "microscopy",
    "photograph",
    "medical_image",
    "molecular_structure",
    "map",
    "astronomical_image",
    "other",
)

#: Sources seen in the published release and in this project's readers. A record's
#: ``source`` must be a lower-case identifier; it need not be in this list.
SOURCES: tuple[str, ...] = (
    "arxiv",
    "biorxiv",
    "medrxiv",
    "chemrxiv",
    "psyarxiv",
    "nature_communications",
    "pmc",
)

# arXiv: every archive, and the categories whose discipline differs from their archive's.
# Legacy archives (before the 2000s reorganisation) are listed too.
_ARXIV_ARCHIVES: dict[str, str] = {
    "astro-ph": "astronomy",
    "cond-mat": "physics",
    "gr-qc": "physics",
    "hep-ex": "physics",
    "hep-lat": "physics",
    "hep-ph": "physics",
    "hep-th": "physics",
    "math-ph": "physics",
    "nlin": "physics",
    "nucl-ex": "physics",
    "nucl-th": "physics",
    "physics": "physics",
    "quant-ph": "physics",
    "math": "mathematics",
    "cs": "computer_science",
    "q-bio": "biology",
    "q-fin": "other",
    "stat": "mathematics",
    "eess": "engineering",
    "econ": "other",
    # legacy archives
    "acc-phys": "physics",
    "adap-org": "physics",
    "alg-geom": "mathematics",
    "ao-sci": "earth_science",
    "atom-ph": "physics",
    "bayes-an": "mathematics",
    "chao-dyn": "physics",
    "chem-ph": "chemistry",
    "cmp-lg": "computer_science",
    "comp-gas": "physics",
    "dg-ga": "mathematics",
    "funct-an": "mathematics",
    "mtrl-th": "physics",
    "patt-sol": "physics",
    "plasm-ph": "physics",
    "q-alg": "mathematics",
    "solv-int": "physics",
    "supr-con": "physics",
}

_ARXIV_CATEGORIES: dict[str, tuple[str, ...]] = {
    "astro-ph": ("CO", "EP", "GA", "HE", "IM", "SR"),
    "cond-mat": ("dis-nn", "mes-hall", "mtrl-sci", "other", "quant-gas", "soft", "stat-mech", "str-el", "supr-con"),
    "nlin": ("AO", "CD", "CG", "PS", "SI"),
    "physics": (
        "acc-ph", "ao-ph", "app-ph", "atm-clus", "atom-ph", "bio-ph", "chem-ph", "class-ph", "comp-ph",
        "data-an", "ed-ph", "flu-dyn", "gen-ph", "geo-ph", "hist-ph", "ins-det", "med-ph", "optics",
        "plasm-ph", "pop-ph", "soc-ph", "space-ph",
    ),
    "math": (
        "AC", "AG", "AP", "AT", "CA", "CO", "CT", "CV", "DG", "DS", "FA", "GM", "GN", "GR", "GT", "HO",
        "IT", "KT", "LO", "MG", "MP", "NA", "NT", "OA", "OC", "PR", "QA", "RA", "RT", "SG", "SP", "ST",
    ),
    "cs": (
        "AI", "AR", "CC", "CE", "CG", "CL", "CR", "CV", "CY", "DB", "DC", "DL", "DM", "DS", "ET", "FL",
        "GL", "GR", "GT", "HC", "IR", "IT", "LG", "LO", "MA", "MM", "MS", "NA", "NE", "NI", "OH", "OS",
        "PF", "PL", "RO", "SC", "SD", "SE", "SI", "SY",
    ),
    "q-bio": ("BM", "CB", "GN", "MN", "NC", "OT", "PE", "QM", "SC", "TO"),
    "q-fin": ("CP", "EC", "GN", "MF", "PM", "PR", "RM", "ST", "TR"),
    "stat": ("AP", "CO", "ME", "ML", "OT", "TH"),
    "eess": ("AS", "IV", "SP", "SY"),
    "econ": ("EM", "GN", "TH"),
}

# Categories whose discipline is not their archive's. Aliases map alike (math.MP = math-ph,
# math.IT = cs.IT, math.NA = cs.NA, cs.SY = eess.SY, math.ST = stat.TH, q-fin.EC = econ.GN).
_ARXIV_EXCEPTIONS: dict[str, str] = {
    "physics.ao-ph": "earth_science",
    "physics.geo-ph": "earth_science",
    "physics.chem-ph": "chemistry",
    "physics.atm-clus": "chemistry",
    "physics.med-ph": "medicine",
    "physics.space-ph": "astronomy",
    "math.MP": "physics",
    "math.IT": "computer_science",
    "cs.NA": "mathematics",
    "cs.SY": "engineering",
    "stat.ML": "computer_science",
    "q-bio.QM": "biology",
}

ARXIV_CATEGORY_DISCIPLINE: dict[str, str] = {
    **{archive: d for archive, d in _ARXIV_ARCHIVES.items()},
    **{f"{a}.{c}": _ARXIV_ARCHIVES[a] for a, cats in _ARXIV_CATEGORIES.items() for c in cats},
    **_ARXIV_EXCEPTIONS,
}

# Subject areas of the preprint servers and common journal subjects, lower-cased.
_SUBJECTS: dict[str, tuple[str, ...]] = {
    "biology": (
        # bioRxiv
        "animal behavior and cognition", "biochemistry", "bioengineering", "bioinformatics", "biophysics",
        "cancer biology", "cell biology", "developmental biology", "ecology", "evolutionary biology",
        "genetics", "genomics", "immunology", "microbiology", "molecular biology", "neuroscience",
        "paleontology", "physiology", "plant biology", "synthetic biology", "systems biology", "zoology",
        # journals
        "biological sciences", "life sciences", "structural biology", "computational biology and bioinformatics",
        "biotechnology", "molecular biology and genetics", "ecology and evolution", "plant sciences",
        "evolution", "cell biology and development", "neurobiology", "virology", "botany",
        # Nature subject areas
        "biological techniques", "stem cells", "chemical biology", "agriculture", "forestry",
        # eLife's subject areas
        "biochemistry and chemical biology", "chromosomes and gene expression", "computational and systems biology",
        "genetics and genomics", "immunology and inflammation", "microbiology and infectious disease",
        "physics of living systems", "stem cells and regenerative medicine", "structural biology and molecular biophysics",
    ),
    "medicine": (
        # bioRxiv's clinical areas
        "clinical trials", "epidemiology", "pathology", "pharmacology and toxicology",
        # medRxiv
        "addiction medicine", "allergy and immunology", "anesthesia", "cardiovascular medicine",
        "dentistry and oral medicine", "dermatology", "emergency medicine", "endocrinology",
        "endocrinology (including diabetes mellitus and metabolic disease)", "forensic medicine",
        "gastroenterology", "genetic and genomic medicine", "geriatric medicine", "health economics",
        "health informatics", "health policy", "health systems and quality improvement", "hematology",
        "hiv/aids", "infectious diseases", "infectious diseases (except hiv/aids)",
        "intensive care and critical care medicine", "medical education", "medical ethics", "nephrology",
        "neurology", "nursing", "nutrition", "obstetrics and gynecology", "occupational and environmental health",
        "oncology", "ophthalmology", "orthopedics", "otolaryngology", "pain medicine", "palliative medicine",
        "pediatrics", "pharmacology and therapeutics", "primary care research",
        "psychiatry and clinical psychology", "public and global health", "radiology and imaging",
        "rehabilitation medicine and physical therapy", "respiratory medicine", "rheumatology",
        "sexual and reproductive health", "sports medicine", "surgery", "toxicology", "transplantation",
        "urology",
        # journals
        "health sciences", "medicine", "medical research", "diseases", "cancer", "cardiology",
        "clinical medicine", "public health",
        # Nature subject areas
        "anatomy", "pathogenesis", "risk factors", "biomarkers", "signs and symptoms", "drug discovery",
        # eLife
        "epidemiology and global health",
    ),
    "chemistry": (
        # ChemRxiv
        "agriculture and food chemistry", "analytical chemistry", "biological and medicinal chemistry",
        "catalysis", "chemical education", "chemical engineering and industrial chemistry",
        "earth, space, and environmental chemistry", "energy", "inorganic chemistry", "materials science",
        "nanoscience", "organic chemistry", "organometallic chemistry", "physical chemistry", "polymer science",
        "theoretical and computational chemistry",
        # journals
        "chemistry", "chemical sciences", "materials chemistry", "nanotechnology", "electrochemistry",
        "nanoscience and technology",
    ),
    "physics": (
        "physical sciences", "physics", "optics and photonics", "condensed-matter physics",
        "condensed matter physics", "quantum physics", "applied physics", "nuclear physics",
        "particle physics", "plasma physics", "statistical physics", "quantum information",
    ),
    "astronomy": ("astronomy and astrophysics", "astronomy", "astrophysics", "planetary science", "space physics"),
    "earth_science": (
        "earth and environmental sciences", "earth sciences", "environmental sciences", "climate sciences",
        "geology", "geophysics", "ocean sciences", "atmospheric science", "hydrology", "natural hazards",
        "biogeochemistry", "environmental science", "solid earth sciences", "limnology", "water resources",
        "geography",
    ),
    "mathematics": ("mathematics", "applied mathematics", "statistics", "mathematics and computing"),
    "computer_science": ("computer science", "computational science", "machine learning", "information technology"),
    "engineering": ("engineering", "electrical and electronic engineering", "mechanical engineering",
                    "energy science and technology", "civil engineering", "aerospace engineering"),
    "other": ("scientific communication and education", "psychology", "social sciences", "economics",
              "business and management", "humanities", "environmental social sciences", "scientific community",
              "scientific community and society", "business and industry", "developing world", "energy and society"),
}

SUBJECT_DISCIPLINE: dict[str, str] = {s: d for d, subjects in _SUBJECTS.items() for s in subjects}

def _arxiv_discipline(tag: str) -> Optional[str]:
    """The discipline of an arXiv category or archive; None for any other tag."""
    t = tag.strip()
    if t in ARXIV_CATEGORY_DISCIPLINE:
        return ARXIV_CATEGORY_DISCIPLINE[t]
    archive = t.split(".", 1)[0]
    return _ARXIV_ARCHIVES[archive] if "." in t and archive in _ARXIV_ARCHIVES else None  # a new category, e.g. cs.XY


def _tag_discipline(tag: str) -> Optional[str]:
    """The discipline a published vocabulary (an arXiv category, a subject list, a discipline's
    name) gives one source tag; None for a free tag, which only the term weights can read."""
    d = _arxiv_discipline(tag)
    if d:
        return d
    low = _norm(tag)
    return SUBJECT_DISCIPLINE.get(low) or (low if low in DISCIPLINES else None)


def parse_categories(value: Any) -> list[str]:
    """Source tags from a space-separated string (arXiv), a ';'/',' list (journals) or a list."""
    if value is None:
        return []
    if isinstance(value, str):
        if ";" in value or ("," in value and not re.fullmatch(r"[\w.\- ]+", value)):
            parts = re.split(r"[;,]", value)
        elif re.fullmatch(r"[A-Za-z\-]+(\.[A-Za-z\-]+)?( [A-Za-z\-]+(\.[A-Za-z\-]+)?)*", value.strip()) and (
            any(p.split(".")[0] in _ARXIV_ARCHIVES for p in value.split())
        ):
            parts = value.split()
        else:
            parts = [value]
    elif isinstance(value, (list, tuple)):
        parts = [str(v) for v in value if v is not None]
    else:
        raise TypeError(f"categories must be a string or a list, not {type(value).__name__}")
    out: list[str] = []
    for p in parts:
        p = " ".join(p.split())
        if p and p not in out:
            out.append(p)
    return out


#: Article types whose words are field terms ("Database" in Nucleic Acids Research, F1000Research's
#: "Software Tool Article", Scientific Data's "Data Descriptor"): a heading, not a field; they count for nothing.
ARTICLE_TYPES = frozenset((
    "database", "database article", "database issue", "software", "software article", "software tool article",
    "software tools", "data descriptor", "data note", "data article", "data paper", "tools and resources",
    "methods and resources", "resource", "technical advance", "computational methods", "policy forum",
))

#: The top level of the Nature and PLOS subject hierarchies: a broad area decides only when no
#: more specific tag does ("Physical sciences; Chemistry" is chemistry). None: names no discipline.
BROAD_AREAS: dict[str, Optional[str]] = {
    # Nature
    "physical sciences": "physics", "earth and environmental sciences": "earth_science", "biological sciences": "biology",
    "health sciences": "medicine", "scientific community and society": "other", "humanities and social sciences": "other",
    # PLOS
    "biology and life sciences": "biology", "medicine and health sciences": "medicine", "earth sciences": "earth_science",
    "ecology and environmental sciences": "earth_science", "engineering and technology": "engineering",
    "computer and information sciences": "computer_science", "social sciences": "other", "science policy": "other",
    "people and places": None, "research and analysis methods": None,
    # generic
    "life sciences": "biology", "natural sciences": None, "multidisciplinary": None,
}

def _norm(tag: str) -> str:
    return " ".join(str(tag).lower().replace("_", " ").split())


def discipline_for_journal(title: Any) -> Optional[str]:
    """The discipline a journal title names: the table of common journals (titles as
    :func:`journal_key` reads them), then the term weights of :mod:`~s1mmalign.core.discipline_text`
    on the title ("BMC Microbiology" -> biology); None for multidisciplinary journals and titles that
    name no field."""
    low = journal_key(title)
    if not low:
        return None
    if low in JOURNALS_BY_KEY:
        return JOURNALS_BY_KEY[low]
    if low.startswith("ieee transactions on") or low.startswith("ieee "):
        return "engineering" if not re.search(r"comput|pattern|software|information", low) else "computer_science"
    return JOURNAL_FAMILIES.get(low.split(" ", 1)[0]) or _tag_discipline(low) or discipline_from_text(low)[0]


def discipline_for_tags(tags: Any, default: str = "other", *, journal: Any = None, title: Any = None,
                        abstract: Any = None) -> str:
    """The primary discipline of a paper from its source tags, primary tag first.

    An arXiv category with a discipline other than ``other`` decides. Else, with no free tag, the
    first subject-list tag (or a discipline's name) that names one. Free tags (author keywords,
    which no vocabulary lists) are read with the paper's ``title`` and ``abstract`` by the term
    weights of :func:`~s1mmalign.core.discipline_text.discipline_from_text`, each subject-list tag
    among them one vote, and decide when those are confident. Then the first subject-list tag; a
    tag that names ``other``; a broad area (:data:`BROAD_AREAS`: "Physical sciences", "Biology and
    life sciences"), so the specific subject of a Nature or PLOS hierarchy wins; the ``journal``
    title (:func:`discipline_for_journal`); the paper's own words alone; the head noun of the first
    free tag (:func:`~s1mmalign.core.discipline_text.head_discipline`); a field that leads the title
    and abstract at all (``lenient``); ``default``. Tags that name nothing (article types, and
    :data:`ARTICLE_TYPES`, whose words are field terms) count
    for nothing.
    """
    other = broad = None
    free: list[str] = []
    named: list[str] = []  # the disciplines subject-list tags name, in tag order
    for tag in parse_categories(tags):
        low = _norm(tag)
        if low in ARTICLE_TYPES:
            continue
        if low in BROAD_AREAS:
            broad = broad or BROAD_AREAS[low]
            continue
        arxiv = _arxiv_discipline(tag)
        if arxiv and arxiv != "other":
            return arxiv
        d = arxiv or _tag_discipline(tag)
        if d is None:
            if text_scores(tags=[low]):  # an article type ("Research Article") names no field
                free.append(low)
        elif d == "other":
            other = other or d
        else:
            named.append(d)
    subject = named[0] if named else None
    if subject and not free:
        return subject
    words = plain = None  # the scores of the paper's own words, with and without its free tags: read once each
    if free:  # author keywords: a subject-list tag among them is one strong vote, not the answer
        words = text_scores(title, abstract, tags=free, votes=named)
        d = decide(words)[0]
        if d is not None:
            return d
    d = subject or other or broad or discipline_for_journal(journal)
    if d is None and (title or abstract):
        plain = text_scores(title, abstract)
        d = decide(plain)[0]
    if d is None and free:  # keywords that name fields evenly: the first one's head noun
        d = head_discipline(free[0])
    if d is None and (title or abstract):  # a field that leads, even narrowly, beats the default
        # (no subject-list tag got here, so ``words`` had no votes: the title, abstract and free tags)
        d = decide(words if words is not None else plain, lenient=True)[0]
    return d or default
