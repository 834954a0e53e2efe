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
# "shows the galaxy luminosity function" is a plot); the earliest match in the first sentence
# decides (a recaption names the figure type first, then its content).
_IS_A = re.compile(r"\b(?:is|are|shows?|showing|displays?|displaying|presents?|presenting|depicts?|depicting|"
                   r"illustrates?|illustrating|contains?|consists? of|features?|comprises?)\b", re.I)
_NOUNS: list[tuple[str, str]] = [
    ("heatmap", r"heat ?maps?|contour (?:plots?|maps?|lines?)|colou?r[- ](?:coded|mapped)(?: [\w-]+){0,2} (?:matri(?:x|ces)|grids?|maps?|images?|fields?)|"
                r"(?:correlation|confusion|similarity|distance|adjacency) matri(?:x|ces)|clustergrams?|density (?:plots?|maps?)"),
    ("microscopy", r"micrographs?|microscop\w+|(?:sem|tem|stem|afm|confocal|fluorescen\w+|electron|histolog\w+|brightfield|"
                   r"bright-field|phase[- ]contrast) (?:image|picture|view|section)s?|immuno\w+|stained (?:tissue|section|cells)|"
                   r"tissue sections?|cryo-?em"),
    ("medical_image", r"(?:ct|mri|mr|pet|spect|x-ray|chest) (?:scan|image|slice|radiograph|film)s?|radiographs?|"
                      r"ultrasound|sonograms?|angiograms?|mammograms?|fundus (?:image|photograph)s?|fundus|"
                      r"endoscop\w+|(?:axial|sagittal|coronal) (?:slice|view|section|image)s?"),
    ("molecular_structure", r"(?:chemical|molecular|crystal|protein|3d|three-dimensional) structures?|structural formulae?|"
                            r"skeletal formula|ball-and-stick|stick model|ribbon (?:diagram|representation|model)|"
                            r"(?:reaction|synthetic) schemes?"),
    ("astronomical_image", r"(?:astronomical|telescope|sky|hubble|jwst|deep[- ]field) (?:image|view|mosaic|observation)s?|"
                           r"images? of (?:a |the )?(?:galax\w+|nebula\w*|star cluster|sky)|star fields?|night sky"),
    ("map", r"(?:geographic\w*|topographic\w*|world|regional|political|geological|satellite|aerial) (?:maps?|images?|views?)|"
            r"maps? of (?:the )?(?:world|region|study|country|countries|area|site|island|continent|ocean|sea|basin|state|"
            r"province|city|europe|africa|asia|america|australia)\w*|(?<!contour )(?<!heat )(?<!density )\bmaps?\b"),
    ("photograph", r"photo(?:graph)?s?\b|pictures? of|(?:camera|specimen|device|setup) (?:image|photo)s?|"
                   r"petri dish\w*|gel (?:image|electrophoresis)|western blots?|blots?"),
    ("diagram", r"(?:schematic|block|flow|circuit|conceptual|network|tree|venn|process|system) ?(?:diagram|chart)s?|"
                r"schemat\w+|flow ?charts?|diagrams?|workflows?|pipelines?|illustrations?|sketch\w*|cartoons?|"
                r"(?:model|network) architectures?|phylogenetic trees?|dendrograms?|graphs? of (?:nodes|a network)"),
    ("plot", r"(?:line|scatter|bar|box|violin|dot|polar|radar|contour|surface|3d|log-log|semi-log|forest|"
             r"kaplan-meier|survival|trajectory|density) ?(?:plots?|graphs?|charts?|curves?)|plots?|graphs?|"
             r"charts?|histograms?|curves?|spectr(?:um|a)|time series|scatter(?:grams?)?|box ?plots?"),
]
#: One pass over the text: a named group per modality, earlier entries first at one position.
_NOUN_RX = re.compile("|".join(rf"\b(?P<{m}>{p})\b" for m, p in _NOUNS), re.I)
_WEAK = re.compile(r"(?:western )?blots?", re.I)
_GEO_AXES = re.compile(r"\b(?:easting|northing|latitude|longitude)\b", re.I)
_FIRST_SENTENCE = re.compile(r"^(.{0,400}?[.!?])(?:\s|$)", re.S)


def recaption_vote(text: str) -> tuple[str, float]:
    """The modality a model-written recaption names for the figure, and how plainly (0..1).

    The first sentence is read; a noun after "shows / displays / is" counts fully, any other
    mention in the first sentence 0.7, a mention further on 0.4.
    """
    text = (text or "").strip()
    if not text:
        return "other", 0.0
    m = _FIRST_SENTENCE.match(text)
    first = m.group(1) if m else text[:400]
    verb = _IS_A.search(first)
    after = first[verb.end():] if verb else ""
    for scope, strength in ((after[:160], 1.0), (first, 0.7), (text[:1500], 0.4)):
        first_hit = best = None
        for hit in _NOUN_RX.finditer(scope):
            first_hit = first_hit or hit.lastgroup
            if not _WEAK.fullmatch(hit.group(0)):  # a blot beside charts is a panel of a chart figure
                best = hit.lastgroup
                break
        best = best or first_hit
        if best:
            if best in ("heatmap", "plot") and _GEO_AXES.search(first):
                best = "map"  # a colour field or scatter over easting/northing or latitude/longitude
            return best, strength
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
