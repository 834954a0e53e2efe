"""``s1mmalign stream``: what a filter selects and what it costs to read, then a few samples."""

from __future__ import annotations

import argparse
import re

from s1mmalign.core.cli_args import add_filter_arguments, at_least_zero, positive

_TERM = re.compile(r"\s*([A-Za-z_]\w*)\s*(==|!=|<=|>=|=|<|>|\s(?:not\s+in|in)\s)\s*(.*?)\s*\Z", re.DOTALL)


def _value(text: str):
    """A number, true/false, or a string (quotes optional): what a sidecar column holds."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if re.fullmatch(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?", text):
        return float(text)
    return {"true": True, "false": False}.get(text.lower(), text)


def where_term(text: str) -> tuple:
    """``"width >= 224"`` -> ``("width", ">=", 224)``; ``"license not in a,b"`` -> ``("license", "not in", ["a", "b"])``."""
    m = _TERM.fullmatch(text)
    if not m or not m.group(3):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not 'COLUMN OP VALUE' (ops: == != < <= > >= in, not in), e.g. 'width >= 224' or "
            "'license not in cc-by-nc-4.0,cc-by-nc-sa-4.0'")
    column, op, value = m.group(1), " ".join(m.group(2).split()), m.group(3)
    if value[0] in "<>=!":  # 'width => 224' read as '=' and '> 224'
        raise argparse.ArgumentTypeError(f"{text!r}: the operator {op + value[0]!r} is none of == != < <= > >= in, not in")
    if op in ("in", "not in"):
        return column, op, [_value(v.strip()) for v in value.split(",") if v.strip()]
    return column, op, _value(value)


def add_cli(sub) -> None:
    p = sub.add_parser(
        "stream",
        help="show what a loader filter selects (samples, shards, bytes) and print a few samples",
        description="Resolve a dataset folder, hf:// or fsspec URL with the loader's filters, print the selection "
                    "(samples per discipline, shards, share of the bytes read) and the first samples.",
    )
    p.add_argument("source", help="dataset folder, hf://datasets/<org>/<name>, or any fsspec URL")
    add_filter_arguments(p, disciplines=True, modalities=True, sources=True)
    p.add_argument("--license", action="append", dest="licenses", help="keep this license (repeatable)")
    p.add_argument("--min-clip-score", type=float, metavar="SCORE",
                   help="keep samples whose CLIP score (of the caption trained on) is at least SCORE")
    p.add_argument("--where", action="append", type=where_term, metavar="'COLUMN OP VALUE'",
                   help="keep the samples where this holds (repeatable: all must hold), as the loader's where=: "
                        "'width >= 224', 'year >= 2020', 'license not in cc-by-nc-4.0,cc-by-nc-sa-4.0'")
    p.add_argument("--caption", default="recaption", choices=["recaption", "caption", "both", "mix"],
                   help="the text trained on (default recaption)")
    p.add_argument("--format", default="auto", choices=["auto", "wds", "parquet"],
                   help="shards to read (default auto: the tars when the dataset has them)")
    p.add_argument("--world-size", type=positive(int), default=1, help="show the per-rank split for this many ranks")
    p.add_argument("--show", type=at_least_zero(int), default=5, help="samples to print (default 5; 0 for none)")
    p.set_defaults(func=_cli_stream)


def _cli_stream(args) -> int:
    from s1mmalign.loaders import S1MMAlignStream

    stream = S1MMAlignStream(
        args.source, disciplines=args.disciplines, modalities=args.modalities, sources=args.sources,
        licenses=args.licenses, min_clip_score=args.min_clip_score, where=args.where, caption=args.caption, format=args.format,
        rank=0, world_size=args.world_size, shuffle=False,
        read_ahead=0,  # a few samples: reading ahead would fetch up to 32 MiB nobody looks at
    )
    print(stream.describe())
    if args.show:
        for _, s in zip(range(args.show), stream):
            print(f"{s['key']}  [{s['discipline']}/{s['modality']}]  {s['image'].size[0]}x{s['image'].size[1]}  "
                  f"{s['text'][:90]!r}")
    return 0
