"""One sentence splitter for every side: the loaders' caption fitting, CLIP scoring's long-text
chunks and the extractive ``context`` recaption cut a text at the same places."""

from __future__ import annotations

from s1mmalign.builder.stages.recaption.context_backend import ContextBackend
from s1mmalign.core.sentences import mark, split_sentences
from s1mmalign.loaders.captions import CaptionFitter

TEXT = ("Fig. 2 shows the phase diagram of the model (see e.g. Ref. 12). The transition at "
        "T = 4.2 K is sharp, as J. Smith et al. predicted. Panels a-c compare three samples. "
        "Error bars are one standard deviation.")
SENTENCES = [
    "Fig. 2 shows the phase diagram of the model (see e.g. Ref. 12).",
    "The transition at T = 4.2 K is sharp, as J. Smith et al. predicted.",
    "Panels a-c compare three samples.",
    "Error bars are one standard deviation.",
]


def words(texts: list[str]) -> list[int]:
    return [len(t.split()) for t in texts]


def test_the_splitter_keeps_abbreviations_initials_and_marks_inside_sentences():
    assert split_sentences(TEXT) == SENTENCES
    marked = f"As shown in {mark('f1')}Fig. 3. Next."
    assert [s.replace(mark("f1"), "") for s in split_sentences(marked)] == ["As shown in Fig. 3.", "Next."]


def test_a_citation_after_the_full_stop_and_a_lower_case_gene_name_end_and_start_sentences():
    # Wiley's ".[<sup>89</sup>]" and Frontiers' "(21). miRNAs ..." (real PMC articles)
    assert split_sentences("It boosts immunity (Figure 2a,b).[ \u2078\u2079 ] For uptake, see below.") == [
        "It boosts immunity (Figure 2a,b).[ \u2078\u2079 ]", "For uptake, see below."]
    assert split_sentences("It was shown (21). miRNAs regulate it.\u00b9\u00b2 The next one.") == [
        "It was shown (21).", "miRNAs regulate it.\u00b9\u00b2", "The next one."]
    assert split_sentences("See e.g. mRNA levels and vs. pH 7 here.") == ["See e.g. mRNA levels and vs. pH 7 here."]


def test_caption_fitting_cuts_at_the_splitters_boundaries():
    fitter = CaptionFitter(words, max_tokens=30)  # "tokens" = words: the first two sentences fit
    (fitted,), cut = fitter([TEXT])
    assert cut == 1 and fitted == " ".join(SENTENCES[:2])


def test_clip_scoring_chunks_are_the_splitters_sentences():
    class WordScorer:  # the real ClipScorer.chunks, with a word count as its tokenizer
        from s1mmalign.builder.stages.scoring import ClipScorer

        chunks = ClipScorer.chunks
        max_tokens = 14

        def n_tokens(self, text: str) -> int:
            return len(text.split())

    pieces = WordScorer().chunks(TEXT)
    assert pieces == [SENTENCES[0], SENTENCES[1], " ".join(SENTENCES[2:])]


def test_context_fusion_copies_whole_sentences_of_the_splitter():
    rec = {"caption": "A phase diagram of the model.", "citation_contexts": [], "abstract": TEXT, "title": "t"}
    out = ContextBackend(abstract_sentences=2, max_chars=2000).fuse(rec)
    assert out == f"{rec['caption']} In the paper: {SENTENCES[0]} {SENTENCES[1]}"  # whole sentences, never a cut "Fig."
