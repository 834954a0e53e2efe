"""Caption quality scores, as in the S1-MMAlign paper: CLIP score and masked-LM pseudo-perplexity.

* :class:`ClipScorer` — CLIPScore of Hessel et al. 2021: ``2.5 * max(cos(E_image, E_text), 0)``
  of CLIP's *projected* embeddings (the paper's Fig. 6). A CLIP text encoder reads 77 tokens:
  longer texts are truncated (keeping the end token) and counted in :attr:`ClipScorer.truncated`.
  ``long_text=True`` instead packs whole sentences into 77-token chunks and averages the
  chunks' scores. (torchmetrics' ``CLIPScore`` is 100 * max(cos, 0) = 40x this score.)
* :class:`PseudoPerplexityScorer` — Salazar et al. 2020: mask each token in turn, sum the log
  probabilities of the true tokens (the pseudo-log-likelihood, PLL), ``PPPL = exp(-PLL / N)``
  (the paper's Fig. 5, with SciBERT). Masked copies of all texts are scored in batches; texts
  longer than the model's window are scored in overlapping windows, each token in the window
  whose centre is nearest to it.

Both are stages (``scorer(batch, rejects) -> batch``) filling ``clip_score_caption`` /
``clip_score_recaption`` and ``pseudo_ppl_caption`` / ``pseudo_ppl_recaption``; a missing
text gives None. Models are Hub ids or local folders.
"""

from __future__ import annotations

import collections
import contextlib
import math
from typing import Any, Optional, Sequence

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.stages.model_source import DOWNLOAD_HINT

DEFAULT_CLIP_MODEL = "openai/clip-vit-base-patch32"
DEFAULT_MLM_MODEL = "allenai/scibert_scivocab_uncased"
TEXT_FIELDS = ("caption", "recaption")
#: Images are downscaled to this many pixels before CLIP's own resize (memory bound only).
SCORE_MAX_PIXELS = 4096 * 4096


def _device(device: str) -> str:
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def _path(model: str) -> str:
    from s1mmalign.builder.stages.model_source import model_path

    return model_path(model)


def _load_error(kind: str, model: str, err: Exception) -> RuntimeError:
    return RuntimeError(
        f"could not load the {kind} model {model!r} ({type(err).__name__}: {str(err)[:200]}); "
        f"download it where you have network access ({DOWNLOAD_HINT}) "
        "and pass the folder instead"
    )


@contextlib.contextmanager
def _inference(device: str):
    """``torch.inference_mode``; on CPU with one intra-op thread, so that a score does not depend
    on how many threads the process has (the local and Ray runners, and machines of different
    sizes, then write the same bytes: CPU float reductions change with the thread count)."""
    import torch

    if device != "cpu":
        with torch.inference_mode():
            yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            yield
    finally:
        torch.set_num_threads(threads)


def _features(out):
    """transformers 5.x returns an output object whose ``pooler_output`` is the projection."""
    return out if hasattr(out, "norm") else out.pooler_output


class ClipScorer:
    """CLIP score stage (see the module docstring)."""

    def __init__(self, model: str = DEFAULT_CLIP_MODEL, *, revision: Optional[str] = None, device: str = "auto",
                 batch_size: int = 64, long_text: bool = False, fields: Sequence[str] = TEXT_FIELDS,
                 dtype: str = "float32"):
        import torch
        from transformers import AutoTokenizer, CLIPModel

        self.model_name, self.device, self.batch_size = model, _device(device), batch_size
        self.long_text, self.fields = long_text, tuple(fields)
        path = _path(model)
        try:
            self.model = CLIPModel.from_pretrained(path, revision=revision, dtype=getattr(torch, dtype)).to(self.device).eval()
            self.tokenizer = AutoTokenizer.from_pretrained(path, revision=revision)
            self.image_processor = _clip_image_processor(path, revision)
        except (OSError, ValueError) as e:
            raise _load_error("CLIP", model, e) from e
        # The text encoder's context, from the model (a tokenizer built from a vocab may not know it).
        self.max_tokens = int(self.model.config.text_config.max_position_embeddings)
        self.truncated: collections.Counter = collections.Counter()  # field -> texts cut to max_tokens
        self.scored: collections.Counter = collections.Counter()

    # -- embeddings ------------------------------------------------------------------------------
    def image_embeddings(self, images: Sequence[Any]):
        import torch

        outs = []
        for i in range(0, len(images), self.batch_size):
            pix = self.image_processor(images=list(images[i:i + self.batch_size]), return_tensors="pt")["pixel_values"]
            pix = pix.to(self.model.dtype)
            with _inference(self.device):
                e = _features(self.model.get_image_features(pixel_values=pix.to(self.device)))
            outs.append(torch.nn.functional.normalize(e.float(), dim=-1))
        return torch.cat(outs) if outs else torch.empty(0)

    def n_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, truncation=False, verbose=False)["input_ids"])

    def text_embeddings(self, texts: Sequence[str]):
        """Normalised embeddings of ``texts``, each cut to the model's context (end token kept)."""
        import torch

        outs = []
        for i in range(0, len(texts), self.batch_size):
            # Padded to the full context, so a text's embedding does not depend on the other
            # texts of its batch (local and Ray runners batch differently, scores must agree).
            tok = self.tokenizer(list(texts[i:i + self.batch_size]), padding="max_length", truncation=True,
                                 max_length=self.max_tokens, return_tensors="pt")
            with _inference(self.device):
                e = _features(self.model.get_text_features(input_ids=tok["input_ids"].to(self.device),
                                                           attention_mask=tok["attention_mask"].to(self.device)))
            outs.append(torch.nn.functional.normalize(e.float(), dim=-1))
        return torch.cat(outs) if outs else torch.empty(0)

    def chunks(self, text: str) -> list[str]:
        """Whole sentences packed into pieces that fit the text encoder (long-text mode)."""
        from s1mmalign.core.sentences import split_sentences

        pieces, cur = [], ""
        for s in split_sentences(text or "") or [text]:
            cand = f"{cur} {s}".strip()
            if cur and self.n_tokens(cand) > self.max_tokens:
                pieces.append(cur)
                cur = s
            else:
                cur = cand
        return pieces + [cur] if cur else pieces

    # -- scores ----------------------------------------------------------------------------------
    def score(self, images: Sequence[Any], texts: Sequence[Optional[str]], field: str = "text") -> list[Optional[float]]:
        """CLIP score of each (image, text) pair; None where the text is missing."""
        img = self.image_embeddings(images)
        return self.score_embedded(img, texts, field)

    def score_embedded(self, img, texts: Sequence[Optional[str]], field: str = "text") -> list[Optional[float]]:
        import torch

        idx = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
        out: list[Optional[float]] = [None] * len(texts)
        if not idx:
            return out
        if not self.long_text:
            for i in idx:
                if self.n_tokens(texts[i]) > self.max_tokens:
                    self.truncated[field] += 1
            emb = self.text_embeddings([texts[i] for i in idx])
            cos = (img[idx] * emb).sum(-1)
            scores = (2.5 * torch.clamp(cos, min=0)).tolist()
        else:
            owner, pieces = [], []
            for j, i in enumerate(idx):
                for p in self.chunks(texts[i]):
                    owner.append(j)
                    pieces.append(p)
                    if self.n_tokens(p) > self.max_tokens:
                        self.truncated[field] += 1
            emb = self.text_embeddings(pieces)
            per = 2.5 * torch.clamp((img[[idx[j] for j in owner]] * emb).sum(-1), min=0)
            sums, counts = [0.0] * len(idx), [0] * len(idx)
            for j, s in zip(owner, per.tolist()):
                sums[j] += s
                counts[j] += 1
            scores = [s / c for s, c in zip(sums, counts)]
        for i, s in zip(idx, scores):
            out[i] = float(s)
        self.scored[field] += len(idx)
        return out

    def __call__(self, batch: list[dict], rejects: Optional[Rejects] = None) -> list[dict]:
        from s1mmalign.builder.stages.recaption.base import image_bytes, prepare_image
        from s1mmalign.core.images import ImageRejected

        rejects = rejects if rejects is not None else Rejects()
        out = [dict(r) for r in batch]
        ok, images = [], []
        for i, rec in enumerate(out):
            try:
                images.append(prepare_image(image_bytes(rec) or b"", SCORE_MAX_PIXELS))
                ok.append(i)
            except ImageRejected as e:
                rejects.add(rec.get("key"), "image", f"score_image_{e.reason}", f"{e.detail} (not scored; record kept)",
                            stage="score", source=str(rec.get("source") or ""))
            for f in self.fields:
                rec[f"clip_score_{f}"] = None
        if ok:
            emb = self.image_embeddings(images)
            for f in self.fields:
                for i, s in zip(ok, self.score_embedded(emb, [out[i].get(f) for i in ok], f)):
                    out[i][f"clip_score_{f}"] = s
        return out

    def close(self) -> None:
        self.model = None


def _clip_image_processor(path: str, revision: Optional[str]):
    try:  # the PIL processor needs no torchvision and gives the same pixels
        from transformers import CLIPImageProcessorPil

        return CLIPImageProcessorPil.from_pretrained(path, revision=revision)
    except ImportError:
        from transformers import AutoImageProcessor

        return AutoImageProcessor.from_pretrained(path, revision=revision)


class PseudoPerplexityScorer:
    """Masked-LM pseudo-perplexity stage (see the module docstring)."""

    def __init__(self, model: str = DEFAULT_MLM_MODEL, *, revision: Optional[str] = None, device: str = "auto",
                 batch_size: int = 64, max_length: Optional[int] = None, fields: Sequence[str] = TEXT_FIELDS,
                 dtype: str = "float32"):
        import torch
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        self.model_name, self.device, self.batch_size, self.fields = model, _device(device), batch_size, tuple(fields)
        path = _path(model)
        try:
            self.model = AutoModelForMaskedLM.from_pretrained(path, revision=revision, dtype=getattr(torch, dtype)).to(self.device).eval()
            self.tokenizer = AutoTokenizer.from_pretrained(path, revision=revision)
        except (OSError, ValueError) as e:
            raise _load_error("masked-LM", model, e) from e
        if None in (self.tokenizer.mask_token_id, self.tokenizer.cls_token_id, self.tokenizer.sep_token_id):
            raise ValueError(f"{model!r} lacks a mask, cls or sep token: pseudo-perplexity needs a BERT-style masked LM")
        self.max_length = int(max_length or min(self.model.config.max_position_embeddings, 512))
        self.windowed: collections.Counter = collections.Counter()  # field -> texts scored in windows

    def token_ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"]

    def windows(self, n: int) -> list[tuple[int, list[int]]]:
        """(start, positions scored there) covering ``n`` tokens; see :func:`window_plan`."""
        return window_plan(n, self.max_length - 2)

    def _wrap(self, ids: list[int]) -> list[int]:
        """[CLS] ids [SEP] (BERT) / <s> ids </s> (RoBERTa): the tokenizer's cls and sep tokens."""
        return [self.tokenizer.cls_token_id, *ids, self.tokenizer.sep_token_id]

    def pll(self, texts: Sequence[Optional[str]], field: str = "text") -> list[Optional[tuple[float, int]]]:
        """(pseudo-log-likelihood, number of tokens) per text; None for a missing or empty text."""
        import torch

        W = self.max_length - 2
        windows: list[list[int]] = []  # [CLS] piece [SEP], one per (text, window)
        inst: list[tuple[int, int, int, int]] = []  # (text, window, masked position, true token)
        results: list[Optional[list]] = [None] * len(texts)
        for t, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                continue
            ids = self.token_ids(text)
            if not ids:
                continue
            results[t] = [0.0, len(ids)]
            plan = self.windows(len(ids))
            if len(plan) > 1:
                self.windowed[field] += 1
            for start, positions in plan:
                windows.append(self._wrap(ids[start:start + W]))
                inst += [(t, len(windows) - 1, i - start + 1, ids[i]) for i in positions]
        if not inst:
            return [None] * len(texts)
        lens = torch.tensor([len(w) for w in windows])
        table = torch.full((len(windows), int(lens.max())), self.tokenizer.pad_token_id or 0, dtype=torch.long)
        for j, w in enumerate(windows):
            table[j, :len(w)] = torch.tensor(w)
        inst.sort(key=lambda x: len(windows[x[1]]))  # similar lengths per batch: little padding
        head = getattr(self.model, "cls", None) or getattr(self.model, "lm_head", None)
        base = getattr(self.model, self.model.base_model_prefix, None) if head is not None else None
        for b in range(0, len(inst), self.batch_size):
            chunk = inst[b:b + self.batch_size]
            win = torch.tensor([x[1] for x in chunk])
            pos = torch.tensor([x[2] for x in chunk])
            target = torch.tensor([x[3] for x in chunk])
            rows = torch.arange(len(chunk))
            L = int(lens[win].max())
            input_ids = table[win, :L].clone()
            input_ids[rows, pos] = self.tokenizer.mask_token_id
            attn = (torch.arange(L)[None, :] < lens[win][:, None]).long()
            with _inference(self.device):
                kw = {"input_ids": input_ids.to(self.device), "attention_mask": attn.to(self.device)}
                if base is not None:  # the LM head on the masked positions only (not B x L x vocab)
                    hidden = base(**kw).last_hidden_state[rows, pos.to(self.device)]
                    logits = head(hidden)
                else:
                    logits = self.model(**kw).logits[rows, pos.to(self.device)]
                lp = torch.log_softmax(logits.double(), dim=-1)[rows, target.to(self.device)]
            for (t, _, _, _), v in zip(chunk, lp.tolist()):
                results[t][0] += v
        return [tuple(r) if r is not None else None for r in results]

    def pseudo_perplexity(self, texts: Sequence[Optional[str]], field: str = "text") -> list[Optional[float]]:
        return [math.exp(-p / n) if p is not None else None for p, n in
                ((r if r is not None else (None, None)) for r in self.pll(texts, field))]

    def __call__(self, batch: list[dict], rejects: Optional[Rejects] = None) -> list[dict]:
        out = [dict(r) for r in batch]
        for f in self.fields:
            for rec, v in zip(out, self.pseudo_perplexity([r.get(f) for r in out], f)):
                rec[f"pseudo_ppl_{f}"] = v
        return out

    def close(self) -> None:
        self.model = None


def window_plan(n: int, width: int) -> list[tuple[int, list[int]]]:
    """Windows of ``width`` tokens over ``n`` tokens, half-overlapping; each token is scored in
    the window whose centre is nearest to it (so it sees context on both sides)."""
    if width < 2:
        raise ValueError("window too small")
    if n <= width:
        return [(0, list(range(n)))]
    step = width // 2
    starts = list(range(0, n - width, step)) + [n - width]
    plan: dict[int, list[int]] = {s: [] for s in starts}
    for i in range(n):
        best = min((s for s in starts if s <= i < s + width), key=lambda s: (abs(i - (s + width / 2)), s))
        plan[best].append(i)
    return [(s, plan[s]) for s in starts if plan[s]]
