"""The taxonomies: disciplines, figure modalities, sources, and source tags -> one discipline.

:func:`discipline_for_tags` maps every source tag (arXiv archives and categories, legacy ones
included, bioRxiv / medRxiv / ChemRxiv subject areas, journal subjects) to one primary
discipline. Standard library only: both sides and the datasets adapter import it.
"""

from __future__ import annotations

import re
from typing import Any, Optional

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
        "biogeochemistry", "environmental science",
    ),
    "mathematics": ("mathematics", "applied mathematics", "statistics", "mathematics and computing"),
    "computer_science": ("computer science", "computational science", "machine learning", "information technology"),
    "engineering": ("engineering", "electrical and electronic engineering", "mechanical engineering",
                    "energy science and technology", "civil engineering", "aerospace engineering"),
    "other": ("scientific communication and education", "psychology", "social sciences", "economics",
              "business and management", "humanities"),
}

SUBJECT_DISCIPLINE: dict[str, str] = {s: d for d, subjects in _SUBJECTS.items() for s in subjects}

# Fallback for free-text subjects: the first rule whose pattern matches wins (order matters:
# "medicinal chemistry" is chemistry, "biophysics" biology, "astroparticle" astronomy).
_KEYWORD_RULES: tuple[tuple[str, re.Pattern], ...] = tuple(
    (d, re.compile(p))
    for d, p in (
        ("chemistry", r"chemi|catal|polymer|\bmolecul(ar|e) (synthesis|chemistry)"),
        ("astronomy", r"astro|cosmolog|galax|stellar|planetary|exoplanet"),
        ("earth_science", r"\bgeo|climat|ocean|atmospher|earth|environment|hydrolog|seismo|volcan|glaci"),
        ("medicine", r"medic|clinic|health|disease|cancer|oncolog|surg|patholog|pharmac|nurs|epidemiol|"
                     r"cardio|neurolog|psychiat|pediatr|radiol|therap"),
        ("biology", r"\bbio|genet|genom|\bcell|neuro|ecolog|evolut|immun|microb|zoolog|botan|plant|protein"),
        ("physics", r"physic|quantum|optic|photon|condensed|particle|nuclear|plasma|laser"),
        ("mathematics", r"math|algebra|geometr|topolog|statistic|probabilit|combinator"),
        ("computer_science", r"comput|machine learning|artificial intelligence|software|algorithm|robot"),
        ("engineering", r"engineer|electr|mechanic|signal|control|materials"),
    )
)


def _discipline_of_tag(tag: str) -> Optional[str]:
    """The discipline of one source tag, or None when the tag names none."""
    t = tag.strip()
    if not t:
        return None
    if t in ARXIV_CATEGORY_DISCIPLINE:
        return ARXIV_CATEGORY_DISCIPLINE[t]
    archive = t.split(".", 1)[0]
    if "." in t and archive in _ARXIV_ARCHIVES:  # a category not listed yet, e.g. cs.XY
        return _ARXIV_ARCHIVES[archive]
    low = " ".join(t.lower().replace("_", " ").split())
    if low in SUBJECT_DISCIPLINE:
        return SUBJECT_DISCIPLINE[low]
    if low in DISCIPLINES:
        return low
    for discipline, pattern in _KEYWORD_RULES:
        if pattern.search(low):
            return discipline
    return None


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


def discipline_for_tags(tags: Any, default: str = "other") -> str:
    """The primary discipline of a paper from its source tags, primary tag first.

    The first tag that names a discipline other than ``other`` decides; tags that name
    nothing are skipped. ``default`` is returned when no tag decides.
    """
    fallback = None
    for tag in parse_categories(tags):
        d = _discipline_of_tag(tag)
        if d is None:
            continue
        if d != "other":
            return d
        fallback = fallback or d
    return fallback or default

