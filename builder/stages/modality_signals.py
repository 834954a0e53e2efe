"""Modality from every signal a record has, combined with a stated precedence and a confidence.

Signals, strongest first (the weight each vote gets):

==============  ======  ====================================================================
signal          weight  what it reads
==============  ======  ====================================================================
``recaption``   4       a recaption written by a model from the image (``recaption_model``
                        set and not ``context``-only): its first sentence names the figure
``caption``     2       the caption (:func:`s1mmalign.builder.stages.modality.classify_caption`)
``clip``        2       zero-shot CLIP's best label, strength its probability (the ``clip``
                        classifier, when a model is given)
``file``        1       the figure's file name (``image_path``: "sem_cells.tif", "map.png")
``context``     1       LaTeX/JATS text citing the figure (``citation_contexts``)
``image``       1       layout statistics of the image (page-white line art, dark field,
                        photographic colour); at most 0.6 of a vote
==============  ======  ====================================================================

Each signal votes ``(modality, strength in 0..1)``; a modality's score is the sum of weight x
strength. The winner's **confidence** is its share of all votes, capped by its strongest vote; below
``min_confidence`` (or with no vote) the label is ``other``, never a guess. ``modality_method`` is ``rules:`` plus
the signals that voted for the winner ("rules:recaption+caption", "rules:image",
"rules:none").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import numpy as np

WEIGHTS: dict[str, float] = {"recaption": 4.0, "caption": 2.0, "clip": 2.0, "file": 1.0, "context": 1.0, "image": 1.0}
MIN_CONFIDENCE = 0.5
METHOD_PREFIX = "rules:"

# What a recaption says the figure *is*: "The figure displays a filled contour plot", "This is a
# fluorescence micrograph". Nouns of figure types only, not of content ("molecules", "galaxy":
# "shows the galaxy luminosity function" is a plot); the first sentence decides (a recaption names
# the figure type first, then its content), several types by :func:`_named`. Lower case only: the
# text is lower-cased once (re.I costs ~2x).
_IS_A = re.compile(r"\b(?:is|are|shows?|showing|displays?|displaying|presents?|presenting|depicts?|depicting|"
                   r"illustrates?|illustrating|contains?|consists? of|features?|comprises?)\b")
_NOUNS: list[tuple[str, str]] = [
    ("heatmap", r"heat ?maps?|contour (?:plots?|maps?|lines?)|colou?r[- ](?:coded|mapped)(?: [\w-]+){0,2} (?:matri(?:x|ces)|grids?|maps?|images?|fields?)|"
                r"(?:correlation|confusion|similarity|distance|adjacency|covariance|presence|interaction|contact) matri(?:x|ces)|"
                r"clustergrams?|density (?:plots?|maps?)|colou?r ?maps? of|(?:pseudo|false)[- ]?colou?r (?:images?|plots?|maps?)|"
                r"matri(?:x|ces) of (?:\w+ )?(?:values|scores|correlations|counts|p-values)|spectrograms?|scalograms?"),
    ("microscopy", r"micrographs?|microscopy|microscopic (?:image|view|picture)s?|microscope (?:image|view|picture)s?|"
                   r"(?:sem|tem|stem|afm|confocal|fluorescen\w+|electron|histolog\w+|brightfield|"
                   r"bright-field|phase[- ]contrast) (?:image|picture|view|section)s?|immuno\w+|stained (?:tissue|section|cells)|"
                   r"tissue sections?|cryo-?em"),
    ("medical_image", r"(?:ct|mri|mr|pet|spect|x-ray|chest) (?:scan|image|slice|radiograph|film)s?|radiographs?|"
                      r"ultrasound|sonograms?|angiograms?|mammograms?|fundus (?:image|photograph)s?|fundus|"
                      r"endoscop\w+|(?:axial|sagittal|coronal) (?:slice|view|section|image)s?"),
    ("molecular_structure", r"(?:chemical|molecular|crystal|protein|3d|three-dimensional) structures?|structural formulae?|"
                            r"skeletal formula|ball-and-stick|stick model|ribbon (?:diagram|representation|model)|"
                            r"(?:reaction|synthetic) schemes?"),
    ("astronomical_image", r"(?:astronomical|telescope|sky|hubble|jwst|deep[- ]field) (?:image|view|mosaic|observation)s?|"
                           r"images? of (?:a |the )?(?:galax\w+|nebula\w*|star cluster|sky)|star fields?|night sky|"
                           r"(?:galaxy|stellar|solar|lensed) (?:image|cutout)s?|einstein rings?"),
    ("map", r"(?:geographic\w*|topographic\w*|world|regional|political|geological|satellite|aerial) (?:maps?|images?|views?)|"
            r"maps? of (?:the )?(?:world|region|study|country|countries|area|site|island|continent|ocean|sea|basin|state|"
            r"province|city|europe|africa|asia|america|australia)\w*|(?<!contour )(?<!heat )(?<!density )(?<!colour )(?<!color )\bmaps?\b"
            r"(?! of (?:the )?(?:cell|neuron|gene|protein|spine|synapse)s?\b)"),  # "maps of cell positions": no geography
    ("photograph", r"photo(?:graph)?s?\b|pictures? of|(?:camera|specimen|device|setup) (?:image|photo)s?|"
                   r"petri dish\w*|gel (?:image|electrophoresis)|western blots?|blots?"),
    ("diagram", r"(?:schematic|block|flow|circuit|conceptual|network|tree|venn|process|system) ?(?:diagram|chart)s?|"
                r"schemat\w+|flow ?charts?|diagrams?|workflows?|pipelines?|illustrations?|sketch\w*|cartoons?|"
                r"(?:model|network) architectures?|phylogenetic trees?|dendrograms?|graphs? of (?:nodes|a network)|"
                r"(?:network|call|dependency|knowledge|directed|undirected|acyclic|node-link) graphs?|"
                r"sankey diagrams?|circos|cad\b(?: \w+)?|wireframes?|(?:engineering|technical|mechanical|line|cad|assembly) drawings?|exploded views?"),
    ("plot", r"(?:line|scatter|bar|box|violin|dot|polar|radar|contour|surface|3d|log-log|semi-log|forest|"
             r"kaplan-meier|survival|trajectory|density) ?(?:plots?|graphs?|charts?|curves?)|plots?|graphs?|"
             r"charts?|histograms?|curves?|spectr(?:um|a)|time series|scatter(?:grams?)?|box ?plots?|"
             r"stereographic projections?|stereonets?|rose diagrams?|biplots?|ordination (?:plot|diagram)s?|"
             r"quiver plots?|vector fields?|streamlines?|(?:t-?sne|umap|pca) (?:embedding|projection)s?|waveforms?"),
    # tables and text are no figure type: a recaption naming one says `other`
    ("other", r"tables?"),
    # weak: taken only when the text names no figure type ("field images with colour bars")
    ("heatmap", r"colou?r ?bars?|colou?r ?scales?"),
    ("microscopy", r"fluorescen\w+|(?:stained|labell?ed) (?:cells|nuclei|tissue)|scale bars?"),
]
#: One pass over the text: a named group per entry, earlier entries first at one position.
_GROUPS = [f"{m}_{i}" for i, (m, _) in enumerate(_NOUNS)]
_NOUN_RX = re.compile("|".join(rf"\b(?P<{g}>{p})\b" for g, (_, p) in zip(_GROUPS, _NOUNS)))
_GROUP_MODALITY = {g: m for g, (m, _) in zip(_GROUPS, _NOUNS)}
assert not any(re.search(r"(?<!\\)[A-Z]", p) for _, p in _NOUNS), "patterns are lower case"
_WEAK = re.compile(r"(?:western )?blots?|colou?r ?bars?|colou?r ?scales?|fluorescen\w+|(?:stained|labell?ed) (?:cells|nuclei|tissue)|"
                   r"scale bars?")
_GEO_AXES = re.compile(r"\b(?:easting|northing|latitude|longitude)\b")
_FIRST_SENTENCE = re.compile(r"^(.{0,400}?[.!?])(?:\s|$)", re.S)
# how many panels a mention stands for: plural, a quantifier before it ("many", "six"), a kind or
# a mention of the same type coordinated before it ("line and scatter plots", "time series and
# line plots"); a mention after "with" is an inset or an aside
_PLURAL = re.compile(r"(?:s|ices|ra|series)$")
_QUANTIFIER = re.compile(r"\b(?:many|several|multiple|numerous|various|two|three|four|five|six|seven|eight|nine|\d+)"
                         r"(?: [\w-]+){0,3} $")
_COORDINATED = re.compile(r"\b([\w-]+),? (?:and|or) $")
_ASIDE = re.compile(r"\b(?:with|including|and an? inset|inset)\b")
LEAD_CHARS = 60


def _panels(scope: str, hit: re.Match) -> float:
    """The weight of one mention of a figure type among the others of its sentence."""
    before = scope[max(0, hit.start() - 40):hit.start()]
    n = 2.0 if _PLURAL.search(hit.group(0)) else 1.0
    n += 1.0 if _QUANTIFIER.search(before) else 0.0
    co = _COORDINATED.search(before)
    if co:  # a kind ("line and scatter plots": "line plots") or a mention of the same type ("time
        # series and line plots"); not a word of another type ("dose matrices and photographs")
        end = hit.start() - len(before) + co.end(1)
        kind = _NOUN_RX.fullmatch(f"{co.group(1)} {hit.group(0).rsplit(' ', 1)[-1]}")
        same = any(h.end() == end and _GROUP_MODALITY[h.lastgroup] == _GROUP_MODALITY[hit.lastgroup]
                   for h in _NOUN_RX.finditer(scope, 0, hit.start()))
        n += 1.0 if kind or same else 0.0
    return n * (0.5 if _ASIDE.search(scope[:hit.start()]) else 1.0)


def _named(scope: str) -> tuple[Optional[str], bool]:
    """The figure type a passage names: the one most of its mentions stand for (:func:`_panels`;
    ties to the earliest), weak mentions only when nothing else is named (then True)."""
    named: list[tuple[str, re.Match]] = []
    weak = None
    for hit in _NOUN_RX.finditer(scope):
        m = _GROUP_MODALITY[hit.lastgroup]
        if _WEAK.fullmatch(hit.group(0)):  # a blot beside charts is a panel of a chart figure
            weak = weak or m
        else:
            named.append((m, hit))
    if not named:
        return weak, True
    if all(m == named[0][0] for m, _ in named):  # one type named (most recaptions): nothing to weigh
        return named[0][0], False
    score: dict[str, float] = {}
    for m, hit in named:
        score[m] = score.get(m, 0.0) + _panels(scope, hit)
    return max(score, key=score.get), False  # dicts keep insertion order: ties go to the earliest


def recaption_vote(text: str) -> tuple[str, float]:
    """The modality a model-written recaption names for the figure, and how plainly (0..1).

    The first sentence is read; a type named after "shows / displays / is", or as the
    sentence's subject (within its first :data:`LEAD_CHARS` characters, no verb before it:
    "A scatter plot of ..."), counts fully, any other mention in the first sentence 0.7, a
    mention further on 0.4; a weak cue alone ("with colour bars", "fluorescent") at most 0.7.
    A sentence naming several types ("a sketch of the setup and many
    line plots") gives the one most of its mentions stand for.
    """
    text = (text or "").strip()[:1500].lower()  # the patterns are lower case (re.I costs ~2x)
    if not text:
        return "other", 0.0
    m = _FIRST_SENTENCE.match(text)
    first = m.group(1) if m else text[:400]
    verb = _IS_A.search(first)
    for scope, strength in ((first[verb.end():verb.end() + 160] if verb else "", 1.0), (first, 0.7), (text, 0.4)):
        best, weak = _named(scope)
        if best:
            if strength == 0.7 and not weak:  # the type as the sentence's subject counts fully
                lead = next((h for h in _NOUN_RX.finditer(first[:LEAD_CHARS]) if not _WEAK.fullmatch(h.group(0))), None)
                strength = 1.0 if lead and not (verb and verb.start() < lead.start()) else 0.7
            if best in ("heatmap", "plot") and _GEO_AXES.search(first):
                best = "map"  # a colour field or scatter over easting/northing or latitude/longitude
            return best, min(strength, 0.7) if weak else strength
    return "other", 0.0


_FILE_WORDS = re.compile(r"[a-z]+", re.I)


def file_vote(name: str, caption_rules) -> tuple[str, float]:
    """The modality a figure's file name names ("sem_cells.tif", "fig3-heatmap.png")."""
    stem = re.sub(r"\.[a-z0-9]{2,5}$", "", (name or "").rsplit("/", 1)[-1].lower())
    words = " ".join(w for w in _FILE_WORDS.findall(stem) if not re.fullmatch(r"fig(ure)?s?|supp\w*|panel|v|e|g", w))
    if not words:
        return "other", 0.0
    words = re.sub(r"\bhisto\b", "histogram", words)
    modality, score = caption_rules(words)
    return (modality, 1.0) if score >= 3 else ("other", 0.0)


def context_vote(contexts, caption_rules) -> tuple[str, float]:
    """The modality the sentences citing the figure name (strong cues only)."""
    text = " ".join(str(c) for c in (contexts or [])[:4])[:2000]
    if not text:
        return "other", 0.0
    modality, score = caption_rules(text)
    return (modality, 1.0) if score >= 3 else ("other", 0.0)


@dataclass
class ImageStats:
    """Cheap layout statistics of an image reduced to 96 px."""

    background: float  # median grey level of the border
    white: float  # share of page-white pixels
    dark: float  # share of near-black pixels
    saturation: float  # mean colour saturation 0..1
    colours: int  # distinct colours after 4-bit quantisation
    ink: float  # share of pixels differing from the background
    vivid: float  # share of strongly coloured pixels (saturation > 0.35, not near-black)


def image_stats(img) -> ImageStats:
    """:class:`ImageStats` of a PIL image."""
    small = img.convert("RGB")
    small.thumbnail((96, 96))
    a = np.asarray(small, dtype=np.int16)
    grey = a.mean(axis=2)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    bg = float(np.median(border))
    mx, mn = a.max(axis=2), a.min(axis=2)
    sat = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1), 0)
    q = (a >> 4).reshape(-1, 3)
    colours = int(np.unique(q[:, 0] * 256 + q[:, 1] * 16 + q[:, 2]).size)
    return ImageStats(bg, float((mn >= 235).mean()), float((mx <= 40).mean()), float(sat.mean()), colours,
                      float((np.abs(grey - bg) > 24).mean()), float(((sat > 0.35) & (mx > 60)).mean()))


def image_vote(stats: Optional[ImageStats], discipline: Optional[str] = None) -> tuple[str, float]:
    """A weak guess from layout statistics: page-white line art is a plot, a large area of
    saturated colour on a page a colour field (heatmap), a dark field with light structure a
    fluorescence micrograph (an astronomical image in an astronomy paper), a full-bleed image of
    many colours a photograph. The paper's ``discipline`` only decides what a dark field is."""
    if stats is None:
        return "other", 0.0
    if stats.background < 60 and stats.dark > 0.4:
        return ("astronomical_image", 0.6) if discipline == "astronomy" else ("microscopy", 0.5)
    if stats.background > 200 and stats.white > 0.05 and stats.vivid > 0.15:
        return "heatmap", 0.4
    if stats.white > 0.45 and stats.background > 200:
        return "plot", 0.6 if stats.colours < 400 else 0.4
    if stats.white < 0.05 and stats.dark < 0.4:  # full bleed: grey ones may as well be micrographs or scans
        return "photograph", 0.5 if stats.saturation > 0.08 else 0.4
    return "other", 0.0


@dataclass
class Decision:
    """The combined label: modality, confidence (0..1) and the signals that chose it."""

    modality: str
    confidence: float
    signals: tuple[str, ...]

    @property
    def method(self) -> str:
        return METHOD_PREFIX + ("+".join(self.signals) if self.signals else "none")


def combine(votes: dict[str, tuple[str, float]], *, weights: Optional[dict[str, float]] = None,
            min_confidence: float = MIN_CONFIDENCE) -> Decision:
    """Weighted vote over ``{signal: (modality, strength)}``; see the module docstring."""
    weights = weights or WEIGHTS
    scores: dict[str, float] = {}
    for signal, (modality, strength) in votes.items():
        if modality != "other" and strength > 0:
            scores[modality] = scores.get(modality, 0.0) + weights.get(signal, 1.0) * strength
    if not scores:
        return Decision("other", 0.0, ())
    total = sum(scores.values())
    best = max(scores, key=lambda m: (scores[m], -list(WEIGHTS).index(_first_signal(votes, m))))
    # the winner's share of the votes, and never more than its strongest vote: weak votes alone
    # (image statistics, a CLIP probability of 0.3, a caption's "versus") are not confident
    confidence = min(scores[best] / total, max(st for m, st in votes.values() if m == best))
    if confidence < min_confidence and not (scores[best] >= 2.0 and confidence >= 0.4):
        return Decision("other", round(confidence, 3), ())
    signals = tuple(s for s in WEIGHTS if s in votes and votes[s][0] == best and votes[s][1] > 0)
    return Decision(best, round(confidence, 3), signals)


def _first_signal(votes: dict[str, tuple[str, float]], modality: str) -> str:
    return next((s for s in WEIGHTS if s in votes and votes[s][0] == modality), "image")
