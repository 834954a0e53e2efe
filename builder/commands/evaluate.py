"""``s1mmalign evaluate DATASET``: CLIP score and pseudo-perplexity of captions vs recaptions,
side by side with the S1-MMAlign paper's numbers.

Writes, inside ``DATASET/eval/`` (or ``--out``), each file atomically:

* ``scores.parquet`` — per record: ``key``, ``clip_score_caption``, ``clip_score_recaption``,
  ``pseudo_ppl_caption``, ``pseudo_ppl_recaption``, ``caption_chars``, ``recaption_chars``;
* ``report.json`` and ``report.md`` — means, variances and their relative change (the paper:
  mean +18.21 %, variance -27.77 %), pseudo-perplexity distributions, caption lengths (the
  paper: 267 +/- 261 and 759 +/- 251 characters), CLIP truncation counts, models used;
* ``clip_score_hist.png`` (like the paper's Fig. 6) and ``pseudo_ppl_cdf.png`` (empirical CDF
  of log10 pseudo-perplexity, like Fig. 5) — needs matplotlib (extra ``eval``).

Relative changes are computed over the records that have both a caption and a recaption
score (paired), variances with ddof=0.
"""

from __future__ import annotations

import collections
import io
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Optional

from s1mmalign.core.atomic import write_bytes_atomic
from s1mmalign.core.cli_args import positive

PAPER = {
    "clip_mean_change_pct": 18.21,
    "clip_var_change_pct": -27.77,
    "caption_chars": [267, 261],
    "recaption_chars": [759, 251],
    "pseudo_ppl": "distribution shifts lower for recaptions (no numbers given)",
}
SCORE_COLUMNS = ("key", "clip_score_caption", "clip_score_recaption", "pseudo_ppl_caption", "pseudo_ppl_recaption",
                 "caption_chars", "recaption_chars")
EVAL_DIR = "eval"


def _stats(values: list[float]) -> Optional[dict]:
    import numpy as np

    if not values:
        return None
    a = np.asarray(values, dtype=np.float64)
    return {"n": int(a.size), "mean": float(a.mean()), "var": float(a.var()), "std": float(a.std()),
            "median": float(np.median(a)),
            "quantiles": {str(q): float(np.quantile(a, q)) for q in (0.1, 0.25, 0.5, 0.75, 0.9)}}


def _change(new: float, old: float) -> Optional[float]:
    return (new - old) / abs(old) * 100 if old else None


def summarize(rows: list[dict]) -> dict:
    """The report's numbers from per-record score rows (see :data:`SCORE_COLUMNS`)."""
    def col(name, where=lambda r: True):
        return [r[name] for r in rows if r.get(name) is not None and where(r)]

    both_clip = lambda r: r.get("clip_score_caption") is not None and r.get("clip_score_recaption") is not None  # noqa: E731
    both_ppl = lambda r: r.get("pseudo_ppl_caption") is not None and r.get("pseudo_ppl_recaption") is not None  # noqa: E731
    out: dict[str, Any] = {"records": len(rows), "with_recaption": sum(1 for r in rows if r.get("recaption_chars"))}
    cap, rec = _stats(col("clip_score_caption", both_clip)), _stats(col("clip_score_recaption", both_clip))
    out["clip_score"] = {
        "caption_all": _stats(col("clip_score_caption")),
        "caption": cap, "recaption": rec,
        "mean_change_pct": _change(rec["mean"], cap["mean"]) if cap and rec else None,
        "var_change_pct": _change(rec["var"], cap["var"]) if cap and rec else None,
        "recaption_higher_frac": (sum(1 for r in rows if both_clip(r) and r["clip_score_recaption"] > r["clip_score_caption"])
                                  / cap["n"]) if cap else None,
    }
    lc = [math.log10(v) for v in col("pseudo_ppl_caption", both_ppl) if v > 0]
    lr = [math.log10(v) for v in col("pseudo_ppl_recaption", both_ppl) if v > 0]
    out["pseudo_ppl"] = {
        "caption_all": _stats(col("pseudo_ppl_caption")),
        "caption": _stats(col("pseudo_ppl_caption", both_ppl)),
        "recaption": _stats(col("pseudo_ppl_recaption", both_ppl)),
        "log10_caption": _stats(lc), "log10_recaption": _stats(lr),
        "recaption_lower_frac": (sum(1 for r in rows if both_ppl(r) and r["pseudo_ppl_recaption"] < r["pseudo_ppl_caption"])
                                 / len(lc)) if lc else None,
    }
    out["chars"] = {"caption": _stats(col("caption_chars")),
                    "recaption": _stats([v for v in col("recaption_chars") if v])}
    out["paper"] = PAPER
    return out


def _fmt(v: Any, nd: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:+.2f} %" if nd == -1 else f"{v:.{nd}g}"
    return str(v)


def render_markdown(report: dict) -> str:
    c, p, ch = report["clip_score"], report["pseudo_ppl"], report["chars"]
    g = lambda d, k: (d or {}).get(k)  # noqa: E731
    lines = [
        f"# Caption quality: {report.get('dataset', '')}",
        "",
        f"{report['records']} records, {report['with_recaption']} with a recaption. "
        f"CLIP model `{report.get('clip_model')}`, masked LM `{report.get('mlm_model')}`.",
        "",
        "## CLIP score (Hessel et al. 2021: 2.5 * max(cos, 0)), paired records",
        "",
        "| | caption | recaption | relative change | paper |",
        "|---|---|---|---|---|",
        f"| mean | {_fmt(g(c['caption'], 'mean'))} | {_fmt(g(c['recaption'], 'mean'))} | {_fmt(c['mean_change_pct'], -1)} | +18.21 % |",
        f"| variance | {_fmt(g(c['caption'], 'var'))} | {_fmt(g(c['recaption'], 'var'))} | {_fmt(c['var_change_pct'], -1)} | -27.77 % |",
        f"| n | {_fmt(g(c['caption'], 'n'))} | {_fmt(g(c['recaption'], 'n'))} | | |",
        "",
        f"Recaption scores higher on {_fmt(c['recaption_higher_frac'], 3)} of the pairs. "
        f"Texts cut to the CLIP context: {report.get('clip_truncated', {})}.",
        "",
        "## Pseudo-perplexity (Salazar et al. 2020), paired records",
        "",
        "| | caption | recaption |",
        "|---|---|---|",
        f"| median | {_fmt(g(p['caption'], 'median'))} | {_fmt(g(p['recaption'], 'median'))} |",
        f"| mean log10 | {_fmt(g(p['log10_caption'], 'mean'))} | {_fmt(g(p['log10_recaption'], 'mean'))} |",
        f"| 10 % / 90 % quantile | {_fmt(g(g(p['caption'], 'quantiles'), '0.1'))} / {_fmt(g(g(p['caption'], 'quantiles'), '0.9'))} "
        f"| {_fmt(g(g(p['recaption'], 'quantiles'), '0.1'))} / {_fmt(g(g(p['recaption'], 'quantiles'), '0.9'))} |",
        "",
        f"Recaption lower on {_fmt(p['recaption_lower_frac'], 3)} of the pairs (the paper: the distribution shifts lower).",
        "",
        "## Length (characters)",
        "",
        "| | this dataset | paper |",
        "|---|---|---|",
        f"| caption | {_fmt(g(ch['caption'], 'mean'))} ± {_fmt(g(ch['caption'], 'std'))} | 267 ± 261 |",
        f"| recaption | {_fmt(g(ch['recaption'], 'mean'))} ± {_fmt(g(ch['recaption'], 'std'))} | 759 ± 251 |",
        "",
        "## Recaption models",
        "",
        *[f"- `{m}`: {n}" for m, n in (report.get("recaption_models") or {}).items()],
        "",
        "Plots: `clip_score_hist.png` (cf. the paper's Fig. 6), `pseudo_ppl_cdf.png` (cf. Fig. 5).",
        "",
    ]
    return "\n".join(lines)


def _save(fig, ax, path: Path) -> str:
    """Legend (when there is something to label), PNG written atomically; returns the file name."""
    import matplotlib.pyplot as plt

    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())
    return path.name


def write_plots(rows: list[dict], out_dir: Path) -> list[str]:
    """The two figures, each only when it has data (a skipped model draws no empty plot); returns the
    file names written (none without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    import numpy as np

    written = []
    pairs = (("caption", "original caption"), ("recaption", "recaption"))
    clip = [(label, v) for f, label in pairs if (v := [r[f"clip_score_{f}"] for r in rows if r.get(f"clip_score_{f}") is not None])]
    if clip:
        fig, ax = plt.subplots(figsize=(6, 4))
        for label, v in clip:
            ax.hist(v, bins=min(50, max(5, len(v) // 5)), alpha=0.55, label=f"{label} (n={len(v)})")
        ax.set_xlabel("CLIP score (2.5 max(cos, 0))")
        ax.set_ylabel("figures")
        ax.set_title("CLIP score distribution")
        written.append(_save(fig, ax, out_dir / "clip_score_hist.png"))

    ppl = [(label, v) for f, label in pairs
           if (v := np.sort([math.log10(r[f"pseudo_ppl_{f}"]) for r in rows if (r.get(f"pseudo_ppl_{f}") or 0) > 0])).size]
    if not ppl:
        return written
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, v in ppl:
        ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", label=f"{label} (n={v.size})")
    ax.set_xlabel("log10 pseudo-perplexity")
    ax.set_ylabel("cumulative fraction")
    ax.set_title("Empirical CDF of pseudo-perplexity")
    written.append(_save(fig, ax, out_dir / "pseudo_ppl_cdf.png"))
    return written


def evaluate_dataset(
    root: str | os.PathLike,
    *,
    clip_model: Optional[str] = None,
    mlm_model: Optional[str] = None,
    out: str | os.PathLike | None = None,
    device: str = "auto",
    batch_size: int = 32,
    mlm_batch_size: int = 64,
    long_text: bool = False,
    limit: Optional[int] = None,
    progress: bool = False,
) -> dict:
    """Score every record of the dataset folder ``root`` and write the report (see the module doc)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from s1mmalign.builder.records.rejects import Rejects
    from s1mmalign.builder.stages.recaption.io import count_rows, iter_dataset_batches
    from s1mmalign.builder.stages.scoring import ClipScorer, PseudoPerplexityScorer
    from s1mmalign.core.atomic import atomic_file, write_text_atomic

    if not clip_model and not mlm_model:
        raise ValueError("name --clip-model and/or --mlm-model (a Hub id or a local folder)")
    root = Path(root)
    out_dir = Path(out) if out else root / EVAL_DIR
    started = time.perf_counter()
    total = count_rows(root) if limit is None else min(limit, count_rows(root))
    clip = ClipScorer(clip_model, device=device, batch_size=batch_size, long_text=long_text) if clip_model else None
    mlm = PseudoPerplexityScorer(mlm_model, device=device, batch_size=mlm_batch_size) if mlm_model else None
    rejects = Rejects()
    rows: list[dict] = []
    models: collections.Counter = collections.Counter()
    bar = None
    if progress:
        from s1mmalign.core.progress import progress as make_bar

        bar = make_bar(total=total, desc="evaluate", unit=" fig", mininterval=1.0)
    cols = ["key", "image", "caption", "recaption", "recaption_model"]
    for batch in iter_dataset_batches(root, cols if clip else [c for c in cols if c != "image"], batch_size):
        if limit is not None and len(rows) >= limit:
            break
        batch = batch[: (limit - len(rows)) if limit is not None else None]
        if clip:
            batch = clip(batch, rejects)
        if mlm:
            batch = mlm(batch, rejects)
        for r in batch:
            models[r.get("recaption_model") or "(none)"] += 1
            rows.append({
                "key": r["key"],
                "clip_score_caption": r.get("clip_score_caption"),
                "clip_score_recaption": r.get("clip_score_recaption"),
                "pseudo_ppl_caption": r.get("pseudo_ppl_caption"),
                "pseudo_ppl_recaption": r.get("pseudo_ppl_recaption"),
                "caption_chars": len(r.get("caption") or ""),
                "recaption_chars": len(r.get("recaption") or ""),
            })
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()

    schema = pa.schema([("key", pa.string())] + [(c, pa.float32()) for c in SCORE_COLUMNS[1:5]]
                       + [("caption_chars", pa.int32()), ("recaption_chars", pa.int32())])
    table = pa.Table.from_pylist(rows, schema=schema)
    with atomic_file(out_dir / "scores.parquet", "wb") as f:
        pq.write_table(table, f)
    report = summarize(rows)
    report.update({
        "dataset": str(root), "clip_model": clip_model, "mlm_model": mlm_model, "long_text": long_text,
        "clip_truncated": dict(clip.truncated) if clip else {},
        "mlm_windowed": dict(mlm.windowed) if mlm else {},
        "recaption_models": dict(models.most_common()),
        "rejects_by_reason": rejects.by_reason(),
        "seconds": round(time.perf_counter() - started, 2),
    })
    report["plots"] = write_plots(rows, out_dir)
    write_text_atomic(out_dir / "report.json", json.dumps(report, indent=1))
    write_text_atomic(out_dir / "report.md", render_markdown(report))
    for s in (clip, mlm):
        if s is not None:
            s.close()
    return report


def add_cli(sub) -> None:
    from s1mmalign.builder.stages.scoring import DEFAULT_CLIP_MODEL, DEFAULT_MLM_MODEL

    p = sub.add_parser(
        "evaluate",
        help="CLIP score and pseudo-perplexity of captions vs recaptions, beside the paper's numbers",
        description="Score a dataset folder and write DATASET/eval/: scores.parquet, report.json, report.md and "
                    "PNG plots (CLIP-score histograms, CDF of log10 pseudo-perplexity). See docs/recaption.md.",
    )
    p.add_argument("dataset", help="a dataset folder (Parquet shards under data/)")
    p.add_argument("--clip-model", default=DEFAULT_CLIP_MODEL, help=f"Hub id or local folder (default {DEFAULT_CLIP_MODEL}); '' to skip")
    p.add_argument("--mlm-model", default=DEFAULT_MLM_MODEL, help=f"Hub id or local folder (default {DEFAULT_MLM_MODEL}); '' to skip")
    p.add_argument("--out", help="report folder (default DATASET/eval)")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=positive(int), default=32, help="images/texts per CLIP batch")
    p.add_argument("--mlm-batch-size", type=positive(int), default=64, help="masked copies per masked-LM batch")
    p.add_argument("--long-text", action="store_true", help="CLIP: average over 77-token sentence chunks instead of truncating")
    p.add_argument("--limit", type=int, help="only the first N records")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    report = evaluate_dataset(args.dataset, clip_model=args.clip_model or None, mlm_model=args.mlm_model or None,
                              out=args.out, device=args.device, batch_size=args.batch_size,
                              mlm_batch_size=args.mlm_batch_size, long_text=args.long_text, limit=args.limit,
                              progress=not args.no_progress)
    out_dir = Path(args.out) if args.out else Path(args.dataset) / EVAL_DIR
    if not report["records"]:
        raise RuntimeError(f"no record scored in {args.dataset} (see {out_dir / 'report.json'} for rejects)")
    c = report["clip_score"]
    print(f"{report['records']} records scored in {report['seconds']} s; report: {out_dir / 'report.md'}")
    if c["mean_change_pct"] is not None:
        print(f"CLIP score mean {c['caption']['mean']:.4f} -> {c['recaption']['mean']:.4f} "
              f"({c['mean_change_pct']:+.2f} %, paper +18.21 %); variance change {c['var_change_pct']:+.2f} % (paper -27.77 %)")
    return 0
