"""A paper's discipline from its own words: author keywords, title and abstract, journal titles.

:func:`s1mmalign.core.taxonomy.discipline_for_tags` is the one place a discipline is decided; it
calls :func:`discipline_from_text` for free tags (author keywords no published vocabulary lists)
read with the title and abstract, for a journal title no table names, and last for the title
and abstract alone (Markdown papers, web articles, preprints listed without subjects).

A term-weight classifier over the disciplines of :data:`~s1mmalign.core.taxonomy.DISCIPLINES`,
the one vocabulary of field terms in the project (:data:`TERMS`): each term has a weight (3:
names the field or its core objects, "galaxies", "theorem", "patients"; 2: typical of it; 1:
suggestive, shared with neighbours). A term counts once per text; title terms and each free tag
count twice (they name the field more plainly than an abstract); a programming language tag
counts for nothing. The best discipline must score at least :data:`MIN_SCORE` and either hold
:data:`MIN_SHARE` of all scores or hold :data:`MIN_LEAD_SHARE` and lead the runner-up by
:data:`LEAD`, else the answer is None and the caller's next step stands: a mixed or vague text
is not a guess. ``other`` has a vocabulary too (economics, psychology, social sciences) so that
such papers are not pulled into mathematics by their models. Standard library only.
"""

from __future__ import annotations

import re
from typing import Any, Optional

MIN_SCORE = 4.0
MIN_SHARE = 0.6
MIN_LEAD_SHARE = 0.35
LEAD = 1.5
#: A method field yields to the fields it is applied to: when the best field of application (not
#: mathematics, not ``other``) scores at least this share of computer science, or leads it, computer
#: science drops out and the fields of application decide by the usual rules ("large language models"
#: beside "chemists": chemistry; image analysis software for cell biology: biology; an animal
#: training system's software is no rival of its biology), as subject editors file such papers.
APPLIED_SHARE = 0.7
METHOD_FIELD = "computer_science"
TITLE_FACTOR = 2.0
TAG_FACTOR = 2.0
VOTE = 3 * TAG_FACTOR
MAX_CHARS = 3000

#: Free tags that name a programming language or toolkit: how a paper's software is written, not
#: its field (software journals list them first), so they count for nothing.
LANGUAGE_TAGS = frozenset((
    "python", "python3", "r", "julia", "c", "c++", "matlab", "fortran", "rust", "java", "javascript",
    "typescript", "go", "golang", "cython", "cuda", "jax", "pytorch", "tensorflow", "numpy", "scipy", "pandas",
    "jupyter", "shiny", "pyqt", "qt", "html", "sql", "bash", "octave", "stan", "fenics", "fenicsx", "rcpp",
))

# discipline -> ((weight, pattern), ...); patterns are lower case, matched at a word start.
TERMS: dict[str, tuple[tuple[int, str], ...]] = {
    "mathematics": (
        (3, r"mathematic\w*|theorems?|lemmas?|conjectures?|corollar(?:y|ies)|manifolds?|homotop\w*|cohomolog\w*|algebraic (?:geometry|topology)"
            r"|number theory|graph theory|combinatori\w*|banach|hilbert spaces?|polynomials?|riemann\w*|statistics\b|biostatistic\w*"
            r"|regression (?:models?|analysis)|causal inference|bayesian (?:inference|statistics|models?)|(?:optimal|measure) transport"
            r"|computational geometry|geometric[- ]algorithms?|numerical analysis|applied mathematics|biometri\w+|siam\b"
            r"|voronoi (?:cells?|diagrams?|tessellations?)|delaunay\w*|matem[áa]tica\w*|estat[íi]stica\w*"),
        (2, r"proofs?|prove[sd]?|topolog\w*|algebras?|geometr(?:y|ic)|integers?|bounds? (?:on|for)|asymptotic\w*"
            r"|estimators?|stochastic processes?|partial differential equations?|game theory|probabilit(?:y|ies)|inequalit(?:y|ies)"
            r"|regressions?|density estimation|statistical (?:models?|inference|methods?|analys[ie]s|tests?)|hypothesis tests?"
            r"|survival analysis|mixed[- ]effects?|likelihood|posterior|markov chains?|monte carlo|triangulations?|meshes|mesh\b"
            r"|observational stud(?:y|ies)|variable (?:importance|selection)|time[- ]series|finite element\w*|solvers?|sampling"
            r"|statistic\w*|scientific computing|pdes?\b|vector calculus|laplacians?|conservation laws?|staggered grids?"),
        (1, r"equations?|convergence|bayesian|numerical (?:scheme|method)s?|optimi[sz]ation|matri(?:x|ces)|inference"
            r"|interpolation|model selection|dynamical systems?"),
    ),
    "physics": (
        (3, r"physics|quantum|photons?|lasers?|optics|numerical aperture|interferomet\w+|superconduct\w+|condensed matter|hadrons?"
            r"|bosons?|fermions?|neutrinos?|particle physics|spin(?:tronic)?s?\b|magnetoresist\w*|diffraction|wavefronts?"
            r"|band structures?|electronic structures?|nonlinear dynamics|fluid dynamics|fluid mechanics|turbulen\w+|nuclear physics"
            r"|plasma physics|statistical mechanics|critical (?:slowing|transitions?|phenomena)|phase transitions?|physical review|high energy"
            r"|stimulated emission|sted\b|x-ray (?:scattering|diffraction|reflectivity|photoelectron|absorption)|synchrotron\w*"
            r"|(?:gi)?[sw]axs\b|gixs\b|gixd\b|grazing incidence"),
        (2, r"optical|objective lens\w*|(?:single|dual|two|second)[- ]objective|focal (?:plane|length|volume)s?|refocus\w*"
            r"|point spread functions?|aberrations?|polari[sz]\w+|wavelengths?|plasmas?|thermodynamic\w*|electrons?"
            r"|semiconductor\w*|lattices?|phonons?|scattering|resonators?|waveguides?|detectors?|first[- ]principles|ab initio"
            r"|navier|vorti\w+|flows? fields?|chaos|chaotic|oscillat\w+|bifurcation\w*|nuclear|particles?\b|accelerators?"
            r"|magneti\w+|dynamical systems?|spectral|wave\w*|acoustic\w*"),
        (1, r"physic\w*|magnetic fields?|spectroscop\w*|energy levels?|light-sheet|instruments?|light|dynamics|simulations?"),
    ),
    "chemistry": (
        (3, r"synthes[ie]s of|catalys\w+|catalytic|reaction mechanisms?|molecular dynamics|density functional|dft\b"
            r"|organic chemistry|inorganic|ligands?|solvents?|polymer\w*|crystal structures?|electrochem\w*|chemistry|cheminformatic\w*"
            r"|force fields?|torsions?|quantum chemi\w+|molecular mechanics|spectromet\w+|chemists?"
            r"|(?:chemical|ionic|mobile|reactive|charged|adsorbed|intermediate|radical|oxygen|nitrogen|volatile|diffusing"
            r"|solute|redox|transient) species|unit cells?|electrochemical cells?|qu[íi]mica\w*"
            r"|natural products?|produtos naturais|productos naturales|(?:phyto|fito)(?:chemi|qu[íi]mi)\w*|chemoinformatic\w*"),
        (2, r"molecules?|molecular|compounds?|reactions?|chemical\w*|materials? (?:science|properties)|spectra\b|nmr\b|yield"
            r"|bond orders?|conformer\w*|crystals?\b|crystallograph\w*|chromatograph\w*|nano\w*|alloys?"
            r"|antioxidan\w+|free radicals?|radicais livres|radicales libres"),
        (1, r"atoms?|bonds?|ions?\b|solutions?\b|surfaces?|materials?"),
    ),
    "biology": (
        (3, r"biology|genom\w+|neurons?|neural circuits?|neural (?:decoding|coding|recordings?|populations?)|place (?:cells?|fields?)"
            r"|spike trains?|species|neuroscien\w+|zoolog\w+|botan\w+|plants?\b|immunolog\w+"
            r"|ecolog\w+|evolution(?:ary)? (?:biology|history)|phylogen\w+|organisms?|zebrafish|drosophila|arabidopsis"
            r"|c\. elegans|yeast|bacteri\w+|microb\w+|cell biology|embryo\w*|synap\w+|vesicles?|cryo-?e(?:lectron|m\b|t\b)\w*"
            r"|fisheries|population dynamics|biodiversity|genetics?\b|proteom\w+|transcriptom\w+|sequencing|virus\w*|viral"
            r"|virolog\w+|retrovir\w+|phytolog\w+|biotechnolog\w+|entomolog\w+|ornitholog\w+|mycolog\w+|microbiom\w*"
            r"|(?:phyto|zoo)?plankton\w*|natural selection|bioscien\w+|mathematical biology|cytogenetic\w*|lepidopter\w*"
            r"|hymenopter\w*|orthopter\w*|coleopter\w*|dipter\w*|arachn\w*|herpetolog\w*|ichthyolog\w*|mammalog\w*"
            r"|biolog[íi]a|bot[âa]nic\w*|zoolog[íi]a|esp[ée]cies"),
        (2, r"genes?\b|proteins?|enzymes?|transcript\w*|rna\b|dna\b|mirnas?|cells?\b|cellular|tissues?|mice\b|mouse|larva\w*|behaviou?r\w*|populations? of|habitats?|fish(?:es)?\b"
            r"|physiolog\w+|metabolis\w+|mutants?|biolog\w+|evolution\w*|live[- ]cell|brains?\b|nerves?\b|nerve fib\w+|axons?"
            r"|neuro\w+|neural (?:activity|crest|tube|stem|progenitors?|development|circuitry|tissue)|animals?|insects?|birds?|mammal\w*|forests?|bioinformatic\w*|biophysic\w*"
            r"|biomolecul\w*|parasit\w+"
            r"|livestock|dairy|poultry|crops?\b|agricultur\w+|agronom\w+|cortex|cortical|primates?|bioimag\w+"
            r"|rats?\b|rodents?|monkeys?|macaques?"),
        (1, r"life|living|growth|imaging|bio\w+"),
    ),
    "astronomy": (
        (3, r"astronomy|galax(?:y|ies)|stars?\b|stellar|exoplanet\w*|cosmolog\w+|telescopes?|supernova\w*|black holes?|quasars?"
            r"|nebula\w*|dark matter|astrophys\w+|astronom\w+|redshifts?|solar (?:physics|corona|flares?|wind|atmosphere|observations?)|heliophys\w+"
            r"|sun's (?:atmosphere|corona)"
            r"|astroparticle(?: physics)?|coronagraph\w*|protoplanet\w*|circumstellar|sub-?stellar|exozodi\w*|debris disks?"
            r"|astrobiolog\w*|biosignatures?|technosignatures?|faraday depths?|rotation measures?|radio telescopes?"
            r"|radio interferomet\w*|radio astronom\w*"),
        (2, r"planet\w*|orbits?|solar system|interstellar|gravitational (?:waves?|lens\w*)|luminosit\w+|sky surveys?|sun\b|coronal?"),
        (1, r"spectra\b|photometr\w+|(?<!state-)(?<!state )(?<!phase )(?<!parameter )(?<!latent )(?<!search )(?<!feature )"
            r"(?<!vector )(?<!design )(?<!hilbert )(?<!banach )(?<!metric )(?<!sample )(?<!solution )space\b"),
    ),
    "earth_science": (
        (3, r"earth sciences?|geoscien\w+|geophysic\w+|geolog\w+|seismi\w+|seismolog\w+|earthquakes?|volcan\w+|tectonic\w*|climate|atmospher\w+|ocean\w*|glaci\w+"
            r"|hydrolog\w+|aquifers?|sediment\w*|crust\w*|mantle|aeromagnetic|gravimetr\w+|geomagnet\w+|paleomagnet\w+|geomorpholog\w+"
            r"|stratigraph\w+|meteorolog\w+|geostatistic\w*|kriging|semivariogram\w*|geodes\w+|landslides?|streamflow"
            r"|insar|synthetic aperture radar|persistent scatterers?|(?:surface|ground|crustal) deformation|subsidence"
            r"|biogeo\w+|environmental sciences?|water (?:research|resources)|total environment|space weather"
            r"|geoci[êe]ncias?|geociencias?|magnetotelluric\w*|geoelectric\w*"),
        (2, r"magnetic anomal\w+|potential[- ]field|gravity (?:data|anomal\w+)|precipitation|rainfall|soils?\b|rocks?\b"
            r"|minerals?|permafrost|sea[- ]level|groundwater|watersheds?|remote sensing|geochem\w+|earth\b|gis\b|geospatial|spatial data"
            r"|rivers?|floods?|droughts?|reservoirs?|land (?:use|cover)|satellite\w*|topograph\w+|terrain|wildfires?|snow|urban\w*"
            r"|marine"),
        (1, r"environment\w*|weather|landscape\w*|magnetic data|surveys?|spatial|geo\w+|water"),
    ),
    "medicine": (
        (3, r"medicine|patients?|clinical\w*|diseases?|cancers?|carcinoma\w*|tumou?rs?|therap(?:y|ies|eutic)|diagnos\w+|hospital\w*"
            r"|epidemiolog\w+|mortality|surger(?:y|ies)|surgical|infections?|syndromes?|disorders?|pharmacolog\w+|drugs?\b|vaccin\w+"
            r"|cardiolog\w+|oncolog\w+|radiolog\w+|neurolog\w+|psychiatr\w+|pediatr\w+|paediatr\w+|nursing|patholog\w+|vascular|aneurysms?"
            r"|stenos[ie]s|stroke|implants?|prosthe\w+|biomedical|electrocardiogra\w+|ecg\b|arrhythmi\w+|cardiac"
            r"|malaria|autis\w+|neurodegenerat\w+|critical care|intensive care|respiratory|toxicolog\w+|oncogen\w*|systematic reviews?"
            r"|meta-analys[ie]s|medical imaging|nuclear medicine|radiotherap\w+|zoono\w+|epilep\w+|seizures?"
            r"|diffusion tensor imaging|diffusion[- ]weighted|dw-?mri|dti\b|magnetic resonance imaging|medical (?:physics|education)"
            r"|endocrin\w+|hepatolog\w+|hepatitis|gastroenterolog\w+|nephrolog\w+|urolog\w+|dermatolog\w+|ophthalmolog\w+"
            r"|(?:oto(?:rhino)?|rhino)laryngolog\w+|rheumatolog\w+|obstetric\w*|gyn(?:a)?ecolog\w+|geriatric\w*|an(?:a)?esthe\w+|orthop(?:a)?edic\w*"
            r"|neonat\w+|perinatal|dentistry|allerg\w+|dermat\w+|gerontolog\w+"
            r"|medicina\b|sa[úu]de (?:p[úu]blica|coletiva)|salud p[úu]blica|pacientes|enfermagem|enfermer[íi]a|odontolog\w+"),
        (2, r"health\w*|cohorts?|treatments?|randomi[sz]ed (?:controlled |clinical )?(?:trials?|studies|study)|trials?\b|symptoms?|prevalence|risk factors?|dose\w*|medic\w+"
            r"|pain|inflammat\w+|cardiovascular|diabet\w+|obesity|blood|arter\w+|vessels?|microvascul\w+|angiograph\w+|contrast agents?"
            r"|mri\b|ct\b"
            r"|ultrasound|bones?\b|hemodynamic\w*|haemodynamic\w*|electromyograph\w*|heart\w*"
            r"|magnetic resonance|veterinar\w+|eeg\b|electroencephalogra\w+|wearables?|digital health"
            r"|nutrition\w*|pregnan\w+|childbirth|dental|rehabilitat\w+|antibiotic\w*|antimicrobial\w*|sa[úu]de\b|salud\b"),
        (1, r"outcomes?|injur\w+|chronic|adverse|anatom\w+|physician\w*|care\b|tomograph\w+|micro-?ct"
            r"|x-ray(?! (?:scattering|diffraction|crystallograph|photoelectron|absorption|reflectivity|spectr))"),
    ),
    "engineering": (
        (3, r"engineering|photovoltai\w+|solar (?:energy|power|panels?|cells?|irradiance)|power (?:systems?|grids?|plants?|electronics)"
            r"|turbines?|engines?|robot\w*|structural (?:engineering|health)|civil engineering|mechanical engineering|fracture\w*|fatigue"
            r"|biomechanic\w*|heat(?:ing)? demand|district heating|energy systems?|buildings?|hvac|hydropower|power generation"
            r"|neuroengineering|rehabilitation engineering|biomedical engineering|bioengineering|microfluidic\w*"
            r"|bicycles?|motorcycles?|vehicle dynamics|balance assist\w*|aerospace|aeronautic\w*|astronautic\w*|astrodynamic\w*|spacecraft|space missions?|engenharia|ingenier[íi]a"
            r"|fuel cells?|load cells?|(?:battery|memory|flash) cells?"
            r"|aerodynamic\w*|aeroelastic\w*|airfoils?|aerofoils?|aircraft|wind turbines?|computational fluid dynamics|cfd\b"
            r"|water (?:distribution|supply) (?:networks?|systems?)|water networks?|hydraulic\w*"),
        (2, r"engineer\w*|control systems?|controllers?|sensors?|circuits?|actuators?|manufactur\w+|batter(?:y|ies)"
            r"|renewable|inverters?|vehicles?|signal processing|antennas?|finite element\w*|phase[- ]field|kinematics?|structural"
            r"|mechanical|electrical|electronics?|heat transfer|thermal|stress\w*|strain\w*|materials? (?:testing|failure)|machining"
            r"|microstructur\w+|polycrystal\w*|meshing|drones?|uavs?\b"),
        (1, r"energy|efficiency|design|modules?|devices?|loads?\b|signals?|control\w*|mechanic\w+"),
    ),
    "computer_science": (
        (3, r"computer science|machine learning|deep learning|neural networks?|self[- ]organi[sz]ing maps?|algorithms?|compilers?"
            r"|operating systems?|databases?|computer vision|natural language processing|image processing|artificial intelligence"
            r"|machine vision|software engineering|distributed systems?|cryptograph\w+|pattern recognition|neural computation|computer graphics"
            r"|reinforcement learning|representation learning|generative models?|adversarial|variational autoencoders?|autoencoders?"
            r"|transfer learning|(?:zero|few|one)-shot|neurips|icml|iclr|cvpr|aaai|ijcai|emnlp|siggraph"
            r"|(?:large )?language models?|llms?\b|markov decision process\w*|pomdps?\b|q-learning|big data"
            r"|ci[êe]ncias? da computa[çc][ãa]o|ciencias? de la computaci[óo]n"),
        (2, r"programming languages?|data structures?|parallel|gpus?|benchmarks?|api\b"
            r"|datasets?|classif(?:ier|ication)s?|training|segmentation|data mining|clustering|information (?:sciences?|systems?|retrieval|theory)"),
        (1, r"comput\w+|software|libraries|library\b|implementations?|code|users?|interactive|visuali[sz]ation|tools?\b|toolkit|toolbox"
            r"|framework|packages?|open[- ]source|data\b|automat\w+"),
    ),
    "other": (
        (3, r"econom\w+|taxe?s?\b|taxation|income|labou?r market|wages?|monetary|fiscal|households?|poverty|sociolog\w+"
            r"|psycholog\w+|political|elections?|voters?|legal|law\b|linguistic\w*|histor(?:y|ical) of|education(?:al)? polic\w+"
            r"|humanities|philosoph\w+|anthropolog\w+|archaeolog\w+"),
        (2, r"social|societ\w+|policy|policies|market\w*|firms?|employment|gender\w*|survey respondents|participants"
            r"|welfare|finance|financial|education\w*|teaching|students?|consumption (?:rules?|functions?|decisions?|smoothing)"
            r"|consumers?|spending|wealth|savings?\b|precautionary|risk aversion|asset pricing|inflation"),
        (1, r"public|countr(?:y|ies)|government\w*"),
    ),
}

_RX = {d: [(w, re.compile(rf"\b(?:{p})")) for w, p in terms] for d, terms in TERMS.items()}


def text_scores(title: Any = None, abstract: Any = None, tags: Any = (), votes: Any = ()) -> dict[str, float]:
    """Each discipline's score on a title, an abstract and free tags (only disciplines that score);
    each tag is a text of its own, weighted like the title; a language tag counts for nothing.
    ``votes``: disciplines named outright (a subject-list tag among author keywords), each worth
    :data:`VOTE` -- a tag of one weight-3 term."""
    texts = [(title, TITLE_FACTOR), (abstract, 1.0)]
    texts += [(t, TAG_FACTOR) for t in tags or () if str(t).strip().lower() not in LANGUAGE_TAGS]
    scores: dict[str, float] = {}
    for d in votes or ():
        scores[d] = scores.get(d, 0.0) + VOTE
    for text, factor in texts:
        low = " ".join(str(text or "").lower()[:MAX_CHARS].split())
        if not low:
            continue
        for d, s in _scores(low).items():
            scores[d] = scores.get(d, 0.0) + factor * s
    return scores


def _scores(low: str) -> dict[str, float]:
    """Each discipline's score on one text: each distinct term once, and each stretch of text once, at
    the highest weight of the patterns that match it ("cell biology" is one weight-3 term, not also
    "biology" and "cell" of lower weights). A term inside a longer term of another discipline counts
    for nothing: a compound names one field ("biomedical engineering" is engineering, not also
    medicine; "medical physics" medicine, not also physics)."""
    hits = [(d, w, m.start(), m.end()) for d, rules in _RX.items() for w, rx in rules for m in rx.finditer(low)]
    hits = [(d, w, a, b) for d, w, a, b in hits  # a term inside another discipline's longer term
            if not any(e != d and x <= a and b <= y and y - x > b - a for e, _, x, y in hits)]
    out: dict[str, float] = {}
    taken: dict[str, list[tuple[int, int]]] = {}
    terms: dict[str, dict[str, int]] = {}
    for d, w, a, b in sorted(hits, key=lambda h: (-h[1], h[2] - h[3])):  # highest weight, then longest first
        if all(b <= x or a >= y for x, y in taken.setdefault(d, [])):
            taken[d].append((a, b))
            terms.setdefault(d, {}).setdefault(low[a:b], w)
    for d, found in terms.items():
        out[d] = float(sum(found.values()))
    return out


def head_discipline(tag: Any) -> Optional[str]:
    """The discipline of the last field term of a tag: the head of an English noun phrase
    ("climate change ecology" is ecology, "biomedical engineering" engineering); None when the
    tag names no field."""
    low = " ".join(str(tag or "").lower()[:MAX_CHARS].split())
    last = max(((m.end(), d) for d, rules in _RX.items() for _, rx in rules for m in rx.finditer(low)), default=None)
    return last[1] if last else None


def discipline_from_text(title: Any = None, abstract: Any = None, tags: Any = (),
                         votes: Any = (), *, lenient: bool = False) -> tuple[Optional[str], float]:
    """The discipline a title, an abstract and free tags name and the confidence:
    :func:`decide` on their :func:`text_scores`."""
    return decide(text_scores(title, abstract, tags, votes), lenient=lenient)


def decide(scores: dict[str, float], *, lenient: bool = False) -> tuple[Optional[str], float]:
    """The discipline ``scores`` name and the confidence (the winner's share of all scores);
    ``(None, confidence)`` when the winner scores under :data:`MIN_SCORE`, or holds under
    :data:`MIN_SHARE` of all scores without leading the runner-up by :data:`LEAD` (a long abstract
    touches many fields; a clear lead still decides). ``lenient``: any strict lead of at least
    :data:`MIN_SCORE` decides -- for a caller whose only other answer is a default."""
    if not scores:
        return None, 0.0
    scores = dict(scores)  # the caller's scores stay as they were
    applied = max((d for d in scores if d not in (METHOD_FIELD, "mathematics", "other")), key=scores.get, default=None)
    if METHOD_FIELD in scores and applied is not None and scores[applied] >= APPLIED_SHARE * scores[METHOD_FIELD]:
        del scores[METHOD_FIELD]  # the method names no field of its own: the fields applied to decide
    ranked = sorted(scores.values(), reverse=True)
    best = max(scores, key=scores.get)
    share = ranked[0] / sum(ranked)
    runner_up = ranked[1] if len(ranked) > 1 else 0.0
    clear = share >= MIN_SHARE or (share >= MIN_LEAD_SHARE and ranked[0] >= LEAD * runner_up)
    if lenient:  # the caller's last resort: a strict leader of MIN_SCORE beats a default
        clear = runner_up < ranked[0]
    if ranked[0] < MIN_SCORE or not clear:
        return None, round(share, 3)
    return best, round(share, 3)
