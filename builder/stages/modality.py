"""Figure modality (one of ``s1mmalign_dataset.MODALITIES``) and the multi-panel flag.

One interface, two methods::

    from s1mmalign.builder.stages.modality import make_classifier
    classify = make_classifier("rules")                       # caption text, no weights
    classify = make_classifier("clip", model="openai/clip-vit-base-patch32", device="cuda")
    batch = classify(batch, rejects)   # fills modality, modality_method, multi_panel

``rules`` combines every signal a record has (:mod:`s1mmalign.builder.modality_signals`): a
recaption written by a model from the image first, then the caption, the figure's file name,
the sentences citing it and layout statistics of the image, with a confidence; a label below
the confidence threshold is ``other``. ``modality_method`` names the signals that decided
("rules:recaption+caption"). :func:`classify_caption` alone is the caption signal: captions
usually name what they show ("heatmap", "SEM image", "schematic", "micrograph", "CT scan"); each
modality has strong cues (its names) and weak ones ("versus", "error bars" for a plot); the
highest score wins, ties go to the cue that comes first in the caption.

``clip`` is zero-shot with a transformers ``CLIPModel`` (any checkpoint id or local folder):
each modality is the mean of the normalised text embeddings of a prompt ensemble
(:data:`PROMPTS` x :data:`TEMPLATES`), and the image goes to the most similar one.
By default (``signals=True``) its best label is one vote (weight 2, strength its probability)
beside the record's text signals, combined as ``rules`` combines them ("rules:caption+clip:<checkpoint>");
with ``signals=False`` it labels alone: ``modality_method`` is ``clip:<checkpoint>``, and with
``min_prob`` a figure whose best probability is lower and whose caption names a modality is
labelled by the caption rules instead.

``multi_panel`` is True when the caption enumerates panels ("(a) ... (b)", "A, ... B,",
"left panel") or the image splits along a blank gutter into parts (:func:`layout_is_multi_panel`).
"""

from __future__ import annotations

import logging
import re
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.stages import modality_signals as signals
from s1mmalign.core import contract
from s1mmalign.core.images import ImageRejected, decode_image

log = logging.getLogger(__name__)

STAGE = "modality"
RULES_METHOD = "caption-rules"
DEFAULT_CLIP_MODEL = "openai/clip-vit-base-patch32"

# (pattern, weight). Weight 3: the caption names the modality; 1: a weaker hint.
_RULES: dict[str, list[tuple[str, int]]] = {
    "heatmap": [(r"heat ?maps?", 3), (r"contour (plot|map)s?|density maps?", 3), (r"colou?r[- ]?(coded|scale|map)", 1), (r"correlation matri(x|ces)", 2),
                (r"confusion matri(x|ces)", 3), (r"clustergram", 3),
                (r"\b(attention|saliency|activation|contact) maps?|spectrograms?|scalograms?|2d histograms?|hexbin", 3)],
    "microscopy": [(r"micrographs?", 3), (r"microscop(y|ic)", 3), (r"microscopes?", 2), (r"\b(sem|tem|stem|afm|sted)\b( images?)?", 3),
                   (r"(scanning|transmission) electron", 3), (r"confocal", 3), (r"fluorescen(ce|t) (images?|staining)", 2),
                   (r"immuno(fluorescence|histochemi\w+|staining)", 3), (r"\bstained\b|staining|h&e", 2),
                   (r"scale bars?", 2), (r"\b(histolog\w+|cryo-?em)\b", 3),
                   (r"\b(e?gfp|mcherry|tdtomato|dapi|phalloidin)\b|\blabell?ed with\b|maximum[- ]intensity projections?|"
                    r"\bz-stacks?\b|differential interference contrast", 2),
                   (r"\b(stm|haadf|saed)\b|photomicrograph|histopatholog\w+|whole[- ]slide|kymograph|"
                    r"((bright|dark)[- ]field|phase[- ]contrast|epifluorescen\w+|two-photon|light[- ]sheet|super-resolution) "
                    r"(images?|micrographs?|views?)", 3)],
    "medical_image": [(r"\b(ct|mri?|pet|spect)\b( scans?| images?)?", 3), (r"computed tomograph\w*", 3),
                      (r"magnetic resonance", 3), (r"radiograph\w*|x-ray (image|film)", 3), (r"ultrasound|sonograph\w*|echocardiogra\w+", 3),
                      (r"angiogra\w+|mammogra\w+|endoscop\w+|fundus|dermoscop\w+", 3), (r"\b(axial|sagittal|coronal)\b", 2),
                      (r"\b(t1|t2)-weighted", 3), (r"\bpatient\b", 1), (r"\blesions?\b", 1),
                      (r"\b(fmri|cbct)\b|scintigra\w+|fluoroscop\w+|optical coherence tomograph\w*|(colono|laparo|broncho|arthro)scop\w+|"
                       r"tractograph\w+", 3), (signals.ANATOMICAL_RENDERING, 3), (r"patient-specific", 2)],
    "molecular_structure": [(r"(chemical|molecular|crystal) structures?", 3), (r"structural formula", 3),
                            (r"\b(ribbon|cartoon) (diagram|representation)", 3), (r"docking|binding pose", 2),
                            (r"\b(pdb|x-ray crystallograph\w*)\b", 2), (r"\b(molecule|compound|ligand)s?\b", 1),
                            (r"\bstructures? of (the )?(compound|inhibitor|complex|protein)", 3),
                            (r"ball[- ]and[- ]stick|space[- ]filling|stick (model|representation)|lewis structure|skeletal formula|"
                             r"unit cell|electron density map|molecular orbital|catalytic cycle|"
                             r"(reaction|synthetic|synthesis|retrosynthetic) (scheme|route|mechanism)s?", 3)],
    "map": [(r"(?<!contour )(?<!heat )(?<!colour )(?<!color )(?<!density )(?<!feature )(?<!attention )(?<!saliency )(?<!contact )"
             r"(?<!activation )(?<!mind )(?<!concept )\bmaps?\b", 3),
            (r"choropleth|orthophoto|orthomosaic|digital elevation model|\bland[- ](cover|use)\b|geo-?referenced", 3), (r"bathymetr\w+", 2),
            (r"geograph\w+|satellite (image|view)", 3), (r"\b(latitude|longitude)\b", 2),
            (r"\b(province|district|country|countries|region|study (area|site)s?)\b", 1),
            (r"\b(total-field|magnetic|gravity|bouguer|free-air) (anomal\w+|disturbance)|aeromagnetic|\b(easting|northing)\b", 2)],
    "astronomical_image": [(r"\b(hubble|jwst|telescope|sdss|alma)\b", 3), (r"\b(galax(y|ies)|nebula|quasar|supernova|star[- ]forming)\b", 2),
                           (r"\b(sky|skymap|all-sky)\b", 2), (r"\b(exposure|band|filter) (image|mosaic)", 1),
                           (r"\b(hst|spitzer|chandra|sdo|soho|coronagraph\w*|magnetograms?|helioprojective|vlt|keck|subaru|pan-starrs|"
                            r"2mass|galex|lofar|meerkat|askap|vlba)\b", 3), (r"\bsolar (disk|corona|image)|extreme[- ]ultraviolet|\beuv\b", 2)],
    "photograph": [(r"photo(graph)?s?\b", 3), (r"petri dish", 3), (r"\bcamera\b", 2), (r"\bpictures?\b", 2), (r"\b(field|specimen|sample) (view|photo)", 2),
                   (r"\bgel (image|electrophoresis)|western blots?|sds-page|immunoblot", 2),
                   (r"\b(video|camera) (frame|still)s?|close-up|\bdrone\b|\buav\b", 2)],
    "diagram": [(r"schemat\w*|\bscheme\b", 3), (r"diagram|flow ?chart|workflow|pipeline|architecture", 3),
                (r"illustrat\w+|overview of|framework", 2), (r"\b(sketch\w*|cartoons?)\b", 3), (r"\b(model|setup|set-up) of\b", 1),
                (r"network (architecture|topology)|block diagram|circuit", 3), (r"\b(tree|phylogen\w+)\b", 2), (r"phylogenetic trees?|dendrograms?|cladograms?", 3),
                (r"\b(cad|wireframe|(assembly|engineering|technical|line) drawings?)\b", 3),
                (r"mind map|concept map|infographic|graphical abstract|\b(network|call|dependency|task|computational|knowledge) graph", 3),
                (r"\b(code|software|package|library|class|module|program) (structure|design|organi[sz]ation)s?\b", 3)],
    "plot": [(r"\b(plots?|graphs?|curves?|histograms?|scatter|bar (chart|graph)s?|box ?plots?|spectr(um|a)|profiles?)\b", 3),
             (r"\b(stereonets?|stereographic projections?|biplots?)\b", 3),
             (r"\b(versus|vs\.?|as a function of|against)\b", 2), (r"error bars?|mean ?(±|\+/-)|standard (deviation|error)", 2),
             (r"\b(distributions?|trends?|time series|dose.response|survival|kaplan|roc|recordings?)\b", 1), (r"\b(p ?[<=>] ?0?\.\d+)", 1),
             (r"\b(odds ratios?|confidence intervals?|regression|fit(ted)?)\b", 1),
             (r"\bcharts?\b|\b(phase|ternary|bifurcation|stability|bode|nyquist|pourbaix|ashby|hertzsprung-russell|colou?r-magnitude) "
              r"diagrams?|(chromato|diffracto|voltammo|periodo|correlo|vario|seismo|hydro)grams?|\b(xrd|x-ray diffraction) patterns?", 3)],
    # what makes a figure no figure type: software on a screen, code, a logo, a table
    "other": [(r"screen ?shot|screen capture|(graphical )?user interface|\bgui\b|web ?(page|site|interface|application|app|portal)s?|"
               r"dashboard|browser window", 3),
              (r"code (snippet|listing|example)s?|source code|pseudo-?code|\blisting\b|command[- ]line (output|interface|usage)|\bcli\b|"
               r"terminal (output|window|session)|console output|jupyter notebook", 3),
              (r"\blogos?\b", 3), (r"^table\b|\btables? (of|listing|summari[sz]ing)", 3)],
}
# Patterns are lower case and run on the lower-cased caption (re.I costs ~2x); a caption names
# what it shows early, so only its first MAX_CAPTION_CHARS characters are read.
_COMPILED = {m: [(re.compile(p), w) for p, w in rules] for m, rules in _RULES.items()}
MAX_CAPTION_CHARS = 2000
assert set(_RULES) <= set(contract.MODALITIES)
assert not any(re.search(r"(?<!\\)[A-Z]", p) for rules in _RULES.values() for p, _ in rules), "patterns are lower case"


def classify_caption(caption: str) -> tuple[str, int]:
    """The modality a caption names and its score (0 and ``other`` when it names none)."""
    caption = caption[:MAX_CAPTION_CHARS].lower()
    best, best_score, best_pos = "other", 0, 1 << 30
    for modality, rules in _COMPILED.items():
        score, first = 0, 1 << 30
        for rx, weight in rules:
            m = rx.search(caption)
            if m:
                score += weight
                first = min(first, m.start())
        if score > best_score or (score == best_score and score > 0 and first < best_pos):
            best, best_score, best_pos = modality, score, first
    return best, best_score


# -- multi-panel ----------------------------------------------------------------------------------

_PANEL_PAREN = re.compile(r"\(([a-hA-H])\)|\(([a-hA-H])[,\u2013\-]")
_PANEL_LEAD = re.compile(r"(?:^|[.;:]\s+)\(?([A-H]|[a-h])[).,:]\s|(?<![\w.])([A-H])[,)]\s")
_PANEL_BOLD_RANGE = re.compile(r"\(([a-h])\s*[\u2013\-]\s*([a-h])\)|\b([A-H])\s*[\u2013\-]\s*([A-H])\b(?=\))", re.I)
_PANEL_WORDS = re.compile(r"\b(panels?\s+[a-h]\b|(left|right|top|bottom|upper|lower|middle)[- ]?(hand )?panels?|sub-?figures?|insets?)\b", re.I)


def caption_is_multi_panel(caption: str) -> bool:
    """True when the caption enumerates two or more panels."""
    letters = set()
    for rx in (_PANEL_PAREN, _PANEL_LEAD):  # stops at the second distinct panel letter
        for m in rx.finditer(caption):
            letters.add((m.group(1) or m.group(2)).lower())
            if len(letters) >= 2:
                return True
    return bool(_PANEL_BOLD_RANGE.search(caption) or _PANEL_WORDS.search(caption))


def _long_runs(mask: np.ndarray, min_len: int) -> np.ndarray:
    """The pixels of ``mask`` that lie on a horizontal run of at least ``min_len``."""
    h, w = mask.shape
    padded = np.zeros((h, w + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    d = np.diff(padded, axis=1).ravel()  # a zero column each side: every run starts and ends in its row
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    keep = ends - starts >= min_len
    marks = np.zeros(d.size + 1, dtype=np.int32)  # +1 where a long run starts, -1 where it ends
    marks[starts[keep]] = 1
    marks[ends[keep]] = -1
    return (np.cumsum(marks[:-1]) > 0).reshape(h, w + 1)[:, :w]


def _gutters(filled: np.ndarray, min_gutter: float) -> Iterator[tuple[int, int]]:
    """(start, end) of each interior run of unfilled columns at least ``min_gutter`` wide."""
    n = filled.size
    idx = np.flatnonzero(filled)
    if idx.size == 0:
        return
    run, start = 0, 0
    for i in range(idx[0], idx[-1] + 1):
        if not filled[i]:
            start = i if run == 0 else start
            run += 1
            continue
        if run >= max(2, min_gutter * n):
            yield start, start + run
        run = 0


def _has_gutter(ink: np.ndarray, min_part: float, min_gutter: float, line: float) -> bool:
    """A gutter between columns of ``ink`` (see :func:`layout_is_multi_panel`)."""
    n = ink.shape[1]
    need = min_part * n
    any_ink = ink.any(axis=0)
    for a, b in _gutters(any_ink, min_gutter):  # a blank gutter
        if any_ink[:a].sum() >= need and any_ink[b:].sum() >= need:
            return True
    # Line art (plots): the gutter may hold sparse tick labels but no long line crosses it, and
    # a line interrupted by it (the frames of two axes, in the same rows) continues on both sides.
    long = _long_runs(ink, max(3, int(line * n)))
    crossed = long.any(axis=0)
    filled = any_ink & (crossed | (ink.mean(axis=0) >= 0.5))
    for a, b in _gutters(filled, min_gutter):
        if crossed[:a].sum() >= need and crossed[b:].sum() >= need:
            rows_left, rows_right = long[:, :a].any(axis=1), long[:, b:].any(axis=1)
            near_right = rows_right | np.roll(rows_right, 1) | np.roll(rows_right, -1)
            if (rows_left & near_right).any():
                return True
    return False


def layout_is_multi_panel(img, *, side: int = 256, min_part: float = 0.15, min_gutter: float = 0.015,
                          line: float = 0.08) -> bool:
    """True when the image splits along a gutter (vertical or horizontal) into parts.

    The image is reduced to ``side`` px; background is the median colour of the border (a
    light one: page-white gutters; dark images are never split); "ink" differs from it. A gutter is a run of columns (rows), at least ``min_gutter`` of the side,
    that are blank or hold only sparse ink (tick labels) crossed by no long line, with at least
    ``min_part`` of the side filled on both sides. One plot has no gutter (its frame or x axis
    crosses every interior column); two plots side by side do, even with tick labels between.
    """
    g = img.convert("L")
    g.thumbnail((side, side))
    a = np.asarray(g, dtype=np.int16)
    if a.shape[0] < 8 or a.shape[1] < 8:
        return False
    bg = int(np.median(np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])))
    if bg < 160:  # a dark image (fluorescence, astronomy): dark gaps between objects are no gutters
        return False
    ink = np.abs(a - bg) > 24
    return _has_gutter(ink, min_part, min_gutter, line) or _has_gutter(ink.T, min_part, min_gutter, line)


def _image_of(rec: dict):
    img = rec.get("image")
    data = img.get("bytes") if isinstance(img, dict) else img
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise ImageRejected("empty", "no image bytes")
    return decode_image(bytes(data))


def _multi_panel(rec: dict, img=None, use_layout: bool = True) -> bool:
    if caption_is_multi_panel(rec.get("caption") or ""):
        return True
    if use_layout:
        try:
            return layout_is_multi_panel(img if img is not None else _image_of(rec))
        except ImageRejected:
            return False
    return False


# -- classifiers ----------------------------------------------------------------------------------


class RulesClassifier:
    """Modality from every signal of a record (no model weights) + multi-panel flag."""

    name = "rules"

    def __init__(self, *, layout: bool = True, overwrite: bool = True, image: bool = True,
                 min_confidence: float = signals.MIN_CONFIDENCE):
        self.layout, self.overwrite, self.image, self.min_confidence = layout, overwrite, image, min_confidence

    def votes(self, rec: dict) -> dict[str, tuple[str, float]]:
        """The text signals' votes (model recaption, caption, file name, citing text)."""
        votes: dict[str, tuple[str, float]] = {}
        if model_recaption(rec):
            votes["recaption"] = signals.recaption_vote(rec["recaption"])
            if votes["recaption"][1] >= 1.0:  # outweighs every other signal together: read no more
                return votes
        named, score = classify_caption(rec.get("caption") or "")
        votes["caption"] = (named, 1.0 if score >= 3 else 0.5 if score >= 2 else 0.25 if score else 0.0)
        votes["file"] = signals.file_vote(rec.get("image_path") or _image_name(rec), classify_caption)
        votes["context"] = signals.context_vote(rec.get("citation_contexts"), classify_caption)
        return votes

    def __call__(self, batch: list[dict], rejects: Rejects) -> list[dict]:
        out = []
        for rec in batch:
            rec = dict(rec)
            caption_panels = caption_is_multi_panel(rec.get("caption") or "")
            label = self.overwrite or not rec.get("modality_method")
            # the image is decoded only when it can change something: the text signals are not
            # decisive (its vote weighs at most 0.6), or the layout decides multi_panel
            votes = self.votes(rec) if label else {}
            decisive = any(strength >= 0.7 and signals.WEIGHTS[s] >= 2 for s, (_, strength) in votes.items())
            img = None
            if (label and self.image and not decisive) or (self.layout and not caption_panels):
                try:
                    img = _image_of(rec)
                except ImageRejected:
                    img = None
            if label:
                if self.image and img is not None and not decisive:
                    votes["image"] = signals.image_vote(signals.image_stats(img), rec.get("discipline"))
                d = signals.combine(votes, min_confidence=self.min_confidence)
                rec["modality"], rec["modality_method"] = d.modality, d.method
            rec["multi_panel"] = caption_panels or (self.layout and img is not None and layout_is_multi_panel(img))
            out.append(rec)
        return out

    def close(self) -> None:
        pass


def relabel_from_recaption(rec: dict) -> None:
    """Relabel one record in place once a model has written its recaption (the recaption stage
    calls this: the build classifies before it recaptions). A rules label (or none) is
    replaced when the text signals, the new recaption among them, decide otherwise with it;
    a CLIP label is left alone."""
    method = str(rec.get("modality_method") or "")
    if not model_recaption(rec) or method.startswith("clip:") or "+clip:" in method:
        return
    d = signals.combine(_TEXT_RULES.votes(rec))
    if "recaption" in d.signals:
        rec["modality"], rec["modality_method"] = d.modality, d.method


def model_recaption(rec: dict) -> bool:
    """True when the record's recaption was written by a model from the image (not the
    text-only ``context`` recaptioner, not absent)."""
    model = str(rec.get("recaption_model") or "")
    return bool((rec.get("recaption") or "").strip()) and bool(model) and not model.startswith("context")


def _image_name(rec: dict) -> str:
    img = rec.get("image")
    return str(img.get("path") or "") if isinstance(img, dict) else ""


_TEXT_RULES = RulesClassifier(layout=False, image=False)

#: What each modality looks like, for the CLIP prompt ensemble.
PROMPTS: dict[str, list[str]] = {
    "plot": ["a line plot", "a scatter plot", "a bar chart", "a chart with axes, ticks and data points", "a histogram"],
    "heatmap": ["a heatmap", "a colour-coded matrix", "a correlation matrix with a colour bar"],
    "diagram": ["a schematic diagram", "a flowchart with boxes and arrows", "an illustration of a model architecture"],
    "microscopy": ["a microscopy image", "a fluorescence micrograph of cells", "an electron microscope image"],
    "photograph": ["a photograph", "a photo of an experimental setup", "a photo of a sample"],
    "medical_image": ["a CT scan", "an MRI scan", "an X-ray radiograph", "an ultrasound image"],
    "molecular_structure": ["a chemical structure", "a molecular structure", "a 3D protein structure rendering"],
    "map": ["a geographic map", "a map with regions and locations", "a satellite image of land"],
    "astronomical_image": ["an astronomical image of the sky", "a telescope image of a galaxy", "a picture of stars and nebulae"],
    "other": ["a table rendered as an image", "a page of text", "an equation", "a logo"],
}
TEMPLATES: tuple[str, ...] = ("{}.", "a scientific figure showing {}.", "{} from a research paper.")


class ClipClassifier:
    """Zero-shot modality with a transformers ``CLIPModel`` (checkpoint id or local folder)."""

    def __init__(
        self,
        model: str = DEFAULT_CLIP_MODEL,
        *,
        device: Optional[str] = None,
        batch_size: int = 32,
        prompts: Optional[dict[str, Sequence[str]]] = None,
        templates: Sequence[str] = TEMPLATES,
        min_prob: Optional[float] = None,
        layout: bool = True,
        revision: Optional[str] = None,
        signals: bool = True,
    ):
        import torch
        from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

        prompts = dict(prompts or PROMPTS)
        unknown = set(prompts) - set(contract.MODALITIES)
        if unknown:
            raise ValueError(f"prompts for unknown modalities {sorted(unknown)}; valid: {', '.join(contract.MODALITIES)}")
        self.model_id = str(model)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size, self.min_prob, self.layout = batch_size, min_prob, layout
        self.rules = RulesClassifier(layout=False, image=False) if signals else None
        try:
            self.model = CLIPModel.from_pretrained(self.model_id, revision=revision).eval().to(self.device)
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_id, revision=revision)
            self.processor = AutoImageProcessor.from_pretrained(self.model_id, revision=revision)
        except OSError as e:
            raise RuntimeError(f"cannot load CLIP checkpoint {self.model_id!r} ({e}); pass model= a local folder "
                               "holding a CLIPModel, its tokenizer and image processor, or use make_classifier('rules')") from None
        self.method = f"clip:{self.model_id}"
        self.labels = list(prompts)
        with torch.no_grad():
            rows = []
            for m in self.labels:
                texts = [t.format(p) for p in prompts[m] for t in templates]
                tok = self.tokenizer(texts, padding=True, truncation=True, max_length=77, return_tensors="pt").to(self.device)
                emb = self._features(self.model.get_text_features(**tok))
                emb = torch.nn.functional.normalize(emb, dim=-1).mean(0)
                rows.append(torch.nn.functional.normalize(emb, dim=-1))
            self.text = torch.stack(rows)
        self.scale = float(self.model.logit_scale.exp().item())

    @staticmethod
    def _features(out):
        import torch

        return out if isinstance(out, torch.Tensor) else out.pooler_output

    def probabilities(self, images: list) -> np.ndarray:
        """Softmax over :attr:`labels` for each PIL image."""
        import torch

        with torch.no_grad():
            px = self.processor(images=images, return_tensors="pt")["pixel_values"].to(self.device, self.model.dtype)
            emb = torch.nn.functional.normalize(self._features(self.model.get_image_features(pixel_values=px)), dim=-1)
            return (self.scale * emb @ self.text.T).softmax(-1).float().cpu().numpy()

    def __call__(self, batch: list[dict], rejects: Rejects) -> list[dict]:
        out: list[dict] = []
        for start in range(0, len(batch), self.batch_size):
            chunk, images = [], []
            for rec in batch[start:start + self.batch_size]:
                try:
                    images.append(_image_of(rec))
                    chunk.append(dict(rec))
                except ImageRejected as e:
                    rejects.add(rec.get("key"), "image", e.reason, e.detail, stage=STAGE, source=rec.get("source", ""))
            if not chunk:
                continue
            probs = self.probabilities(images)
            for rec, img, p in zip(chunk, images, probs):
                i = int(p.argmax())
                rec["modality"], rec["modality_method"] = self.labels[i], self.method
                if self.rules is not None:  # CLIP is one vote among the record's signals (weight 2, its probability)
                    votes = self.rules.votes(rec)
                    votes["clip"] = (self.labels[i], float(p[i]))
                    d = signals.combine(votes)
                    rec["modality"] = d.modality
                    rec["modality_method"] = d.method.replace("clip", self.method) if "clip" in d.signals else d.method
                elif self.min_prob is not None and p[i] < self.min_prob:
                    named, score = classify_caption(rec.get("caption") or "")
                    if score > 0:
                        rec["modality"], rec["modality_method"] = named, RULES_METHOD
                rec["multi_panel"] = _multi_panel(rec, img, use_layout=self.layout)
                out.append(rec)
        return out

    def close(self) -> None:
        self.model = None


def make_classifier(name: str = "rules", **opts: Any) -> Callable[[list[dict], Rejects], list[dict]]:
    """The modality stage ``classifier(batch, rejects) -> batch``: ``rules`` or ``clip``."""
    if name == "rules":
        return RulesClassifier(**opts)
    if name == "clip":
        return ClipClassifier(**opts)
    raise ValueError(f"unknown modality classifier {name!r}; choose 'rules' (caption text) or 'clip' (zero-shot CLIP)")
