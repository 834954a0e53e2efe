"""A paper's discipline from its own words (title + abstract) when no subject or journal names it.

:func:`s1mmalign.core.taxonomy.discipline_for_tags` is the one place a discipline is decided; it
calls :func:`discipline_from_text` last, when neither the source tags nor the journal title
decide (Markdown papers, web articles, preprints listed without subjects).

A term-weight classifier over the disciplines of :data:`~s1mmalign.core.taxonomy.DISCIPLINES`:
each discipline has a vocabulary of field terms (:data:`TERMS`), each term a weight (3: names
the field or its core objects, "galaxies", "theorem", "patients"; 2: typical of it; 1:
suggestive, shared with neighbours). A term counts once per text, title terms twice (a title
names the field more plainly than an abstract). The best discipline must score at least
:data:`MIN_SCORE` and hold at least :data:`MIN_SHARE` of all scores, else the answer is None and
the caller's default (``other``) stands: a mixed or vague text is not a guess. ``other`` has a
vocabulary too (economics, psychology, social sciences) so that such papers are not pulled into
mathematics by their models. Standard library only.
"""

from __future__ import annotations

import re
from typing import Any, Optional

MIN_SCORE = 4.0
MIN_SHARE = 0.6
TITLE_FACTOR = 2.0
MAX_CHARS = 3000

# discipline -> ((weight, pattern), ...); patterns are lower case, matched at a word start.
TERMS: dict[str, tuple[tuple[int, str], ...]] = {
    "mathematics": (
        (3, r"mathematic\w*|theorems?|lemmas?|conjectures?|corollar(?:y|ies)|manifolds?|homotop\w*|cohomolog\w*|algebraic (?:geometry|topology)"
            r"|number theory|graph theory|combinatori\w*|banach|hilbert spaces?|polynomials?|riemann\w*"),
        (2, r"proofs?|prove[sd]?|topolog\w*|algebras?|geometr(?:y|ic)|integers?|bounds? (?:on|for)|asymptotic\w*"
            r"|estimators?|stochastic processes?|partial differential equations?|game theory|probabilit(?:y|ies)|inequalit(?:y|ies)"),
        (1, r"statistic\w*|equations?|convergence|bayesian|numerical (?:analysis|scheme|method)s?|optimi[sz]ation|matri(?:x|ces)"),
    ),
    "physics": (
        (3, r"physics|quantum|photons?|lasers?|optics|numerical aperture|interferomet\w+|superconduct\w+|condensed matter|hadrons?"
            r"|bosons?|fermions?|neutrinos?|particle physics|spin(?:tronic)?s?\b|magnetoresist\w*|diffraction|wavefronts?"),
        (2, r"optical|objective lens\w*|(?:single|dual|two|second)[- ]objective|focal (?:plane|length|volume)s?|refocus\w*"
            r"|point spread functions?|aberrations?|polari[sz]\w+|wavelengths?|plasmas?|thermodynamic\w*|electrons?"
            r"|semiconductor\w*|lattices?|phonons?|scattering|resonators?|waveguides?|detectors?"),
        (1, r"physic\w*|magnetic fields?|spectroscop\w*|energy levels?|light-sheet|fluid dynamics|turbulen\w+|instruments?"),
    ),
    "chemistry": (
        (3, r"synthes[ie]s of|catalys\w+|catalytic|reaction mechanisms?|molecular dynamics|density functional|dft\b"
            r"|organic chemistry|inorganic|ligands?|solvents?|polymers?|crystal structures?|electrochemi\w+|chemistry"),
        (2, r"molecules?|molecular|compounds?|reactions?|chemical\w*|materials? (?:science|properties)|spectra\b|nmr\b|yield"),
        (1, r"atoms?|bonds?|ions?\b|solutions?\b|surfaces?"),
    ),
    "biology": (
        (3, r"biology|genom\w+|neurons?|neural circuits?|species"
            r"|ecolog\w+|evolution(?:ary)? (?:biology|history)|phylogen\w+|organisms?|zebrafish|drosophila|arabidopsis"
            r"|c\. elegans|yeast|bacteri\w+|microb\w+|cell biology|embryo\w*"),
        (2, r"genes?\b|proteins?|enzymes?|transcript\w*|rna\b|dna\b|mirnas?|cells?\b|cellular|tissues?|mice\b|mouse|larva\w*|behaviou?r\w*|populations? of|habitats?|fish(?:es|eries)?"
            r"|physiolog\w+|metabolis\w+|mutants?|synap\w+|biolog\w+|evolution\w*|live[- ]cell"),
        (1, r"life|living|growth|biodiversity|cortex|cortical|imaging"),
    ),
    "astronomy": (
        (3, r"astronomy|galax(?:y|ies)|stars?\b|stellar|exoplanet\w*|cosmolog\w+|telescopes?|supernova\w*|black holes?|quasars?"
            r"|nebula\w*|dark matter|astrophys\w+|astronom\w+|redshifts?"),
        (2, r"planets?\b|orbits?|solar system|interstellar|gravitational (?:waves?|lens\w*)|luminosit\w+|sky surveys?"),
        (1, r"spectra\b|photometr\w+"),
    ),
    "earth_science": (
        (3, r"earth sciences?|geoscien\w+|geophysic\w+|geolog\w+|seismi\w+|earthquakes?|volcan\w+|tectonic\w*|climate|atmospher\w+|ocean\w*|glaci\w+"
            r"|hydrolog\w+|aquifers?|sediment\w*|crust\w*|mantle|aeromagnetic|gravimetr\w+|geomagnet\w+|paleomagnet\w+"),
        (2, r"magnetic anomal\w+|potential[- ]field|gravity (?:data|anomal\w+)|precipitation|rainfall|soils?\b|rocks?\b"
            r"|minerals?|permafrost|sea[- ]level|groundwater|watersheds?|remote sensing|geochem\w+|earth\b"),
        (1, r"environment\w*|weather|landscape\w*|rivers?|magnetic data|surveys?"),
    ),
    "medicine": (
        (3, r"medicine|patients?|clinical\w*|diseases?|cancers?|carcinoma\w*|tumou?rs?|therap(?:y|ies|eutic)|diagnos\w+|hospital\w*"
            r"|epidemiolog\w+|mortality|surgery|surgical|infections?|syndromes?|disorders?|pharmacolog\w+|drugs?\b|vaccin\w+"),
        (2, r"health\w*|cohorts?|treatments?|randomi[sz]ed|trials?\b|symptoms?|prevalence|risk factors?|dose\w*|medic\w+"
            r"|pain|inflammat\w+|cardiovascular|diabet\w+|obesity"),
        (1, r"outcomes?|injur\w+|chronic|adverse"),
    ),
    "engineering": (
        (3, r"engineering|photovoltai\w+|solar (?:energy|power|panels?|cells?|irradiance)|power (?:systems?|grids?|plants?|electronics)"
            r"|turbines?|engines?|robot\w*|structural (?:engineering|health)|civil engineering|mechanical engineering"),
        (2, r"engineer\w*|control systems?|controllers?|sensors?|circuits?|actuators?|manufactur\w+|batter(?:y|ies)"
            r"|renewable|inverters?|vehicles?|signal processing|antennas?"),
        (1, r"energy|efficiency|design|modules?|devices?|loads?\b"),
    ),
    "computer_science": (
        (3, r"computer science|machine learning|deep learning|neural networks?|algorithms?|software|compilers?|programming languages?"
            r"|operating systems?|databases?|computer vision|natural language processing|image processing|open[- ]source"),
        (2, r"comput\w+|python|libraries|library\b|implementations?|data structures?|parallel|gpus?|benchmarks?|api\b"
            r"|datasets?|classif(?:ier|ication)s?|training"),
        (1, r"code|users?|interactive|visuali[sz]ation|tools?\b|toolkit|framework|packages?"),
    ),
    "other": (
        (3, r"econom\w+|taxe?s?\b|taxation|income|labou?r market|wages?|monetary|fiscal|households?|poverty|sociolog\w+"
            r"|psycholog\w+|political|elections?|voters?|legal|law\b|linguistic\w*|histor(?:y|ical) of|education(?:al)? polic\w+"),
        (2, r"social|societ\w+|policy|policies|market\w*|firms?|employment|gender\w*|survey respondents|participants"
            r"|welfare|finance|financial"),
        (1, r"public|countr(?:y|ies)|government\w*"),
    ),
}

_RX = {d: [(w, re.compile(rf"\b(?:{p})")) for w, p in terms] for d, terms in TERMS.items()}


def text_scores(title: Any = None, abstract: Any = None) -> dict[str, float]:
    """Each discipline's score on a title and an abstract (only disciplines that score)."""
    scores: dict[str, float] = {}
    for text, factor in ((title, TITLE_FACTOR), (abstract, 1.0)):
        low = " ".join(str(text or "").lower()[:MAX_CHARS].split())
        if not low:
            continue
        for d, rules in _RX.items():
            s = sum(w * len(set(m.group(0) for m in rx.finditer(low))) for w, rx in rules)
            if s:
                scores[d] = scores.get(d, 0.0) + factor * s
    return scores


def discipline_from_text(title: Any = None, abstract: Any = None) -> tuple[Optional[str], float]:
    """The discipline a title and an abstract name and the confidence (the winner's share of all
    scores); ``(None, confidence)`` when the winner scores under :data:`MIN_SCORE` or its share is
    under :data:`MIN_SHARE`."""
    scores = text_scores(title, abstract)
    if not scores:
        return None, 0.0
    best = max(scores, key=scores.get)
    share = scores[best] / sum(scores.values())
    if scores[best] < MIN_SCORE or share < MIN_SHARE:
        return None, round(share, 3)
    return best, round(share, 3)
