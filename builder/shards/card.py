"""Render ``README.md`` (the dataset card) of a dataset folder from ``dataset_card.md``.

The YAML block makes the folder a Hub dataset repository that ``load_dataset`` reads without
a script: ``configs`` (``all`` as default, one per discipline present, one per modality
present as a ``filters`` config over all files), ``dataset_info.features`` (so ``image``
decodes as an image), license, task categories and size category. The body carries this
build's numbers, computed from the per-shard sample index (no image is read).
"""

from __future__ import annotations

import collections
import os
from pathlib import Path
from string import Template
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from s1mmalign.core import contract
from s1mmalign.core.atomic import write_text_atomic
from s1mmalign.core.licenses import hub_license, spdx_id

TEMPLATE = Path(__file__).parents[1] / "dataset_card.md"

def license_counts(index: dict) -> collections.Counter:
    """Records per license string as written (counted in one format)."""
    primary = "parquet" if "parquet" in index.get("formats", []) else "wds"
    licenses: collections.Counter = collections.Counter()
    for s in index["shards"]:
        if s["format"] == primary:
            licenses.update(s["licenses"])
    return licenses


def size_category(n: int) -> str:
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                        (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")):
        if n < bound:
            return name
    return "100M<n<1B"


def card_yaml(index: dict) -> dict:
    """The YAML header as a dict (also used by ``publish`` to check the configs)."""
    primary = "parquet" if "parquet" in index.get("formats", []) else None
    disciplines = sorted(index["counts"])
    modalities = sorted({m for c in index["counts"].values() for m in c})
    licenses = license_counts(index)
    hub_ids = {hub_license(lic) for lic in licenses}
    data: dict = {
        "license": hub_ids.pop() if len(hub_ids) == 1 and None not in hub_ids else "other",
        "task_categories": ["image-to-text", "zero-shot-image-classification", "text-to-image"],
        "language": ["en"],
        "size_categories": [size_category(index["num_samples"])],
        "tags": ["science", "scientific-figures", "captioning", "clip", "s1-mmalign"],
        "pretty_name": "S1-MMAlign",
    }
    if data["license"] == "other":
        data["license_name"] = "per-record"
        data["license_details"] = ("Each record carries its paper's license in the `license` field: " + "; ".join(
            f"{spdx_id(lic) or repr(lic or '(none)') + ' (not recognised)'}: {n}" for lic, n in licenses.most_common()))
    if primary:
        import datasets  # only for the card's YAML form of the features

        features = datasets.Features.from_dict(contract.features_dict())._to_yaml_list()
        configs = [{"config_name": "all", "default": True,
                    "data_files": [{"split": "train", "path": contract.parquet_glob("*")}]}]
        configs += [{"config_name": d, "data_files": [{"split": "train", "path": contract.parquet_glob(d)}]}
                    for d in disciplines]
        configs += [{"config_name": f"modality-{m}", "data_files": [{"split": "train", "path": contract.parquet_glob("*")}],
                     "filters": [["modality", "==", m]]} for m in modalities]
        data["configs"] = configs
        # download_size (the bytes of a config's Parquet files) also keys datasets' cache: without
        # something that changes with the data, load_dataset(folder) would keep serving a
        # rewritten folder's old rows from ~/.cache (it hashes the card, not the files).
        parquet_bytes = collections.Counter()
        for s in index["shards"]:
            if s["format"] == "parquet":
                parquet_bytes[s["discipline"]] += s["bytes"]
        total_bytes = sum(parquet_bytes.values())
        data["dataset_info"] = [
            {"config_name": c["config_name"], "features": features,
             "download_size": parquet_bytes[c["config_name"]] if c["config_name"] in parquet_bytes else total_bytes}
            for c in configs
        ]
    return data


def tar_patterns(index: dict) -> dict[str, str]:
    """Per discipline, the brace pattern that names its tars (``wds/physics/physics-{00000..00011}.tar``),
    or its folder's glob when the names are not the settled ``<d>-00000...`` (an older dataset)."""
    tars: dict[str, list[str]] = collections.defaultdict(list)
    for s in index["shards"]:
        if s["format"] == "wds":
            tars[s["discipline"]].append(s["path"])
    patterns = {}
    for d, paths in sorted(tars.items()):
        n = len(paths)
        if sorted(paths) != [contract.shard_rel("wds", d, i) for i in range(n)]:
            patterns[d] = f"{contract.WDS_DIR}/{d}/*.tar"
        elif n == 1:
            patterns[d] = paths[0]
        else:
            last = contract.shard_rel("wds", d, n - 1)
            patterns[d] = f"{contract.WDS_DIR}/{d}/{d}-{{00000..{last.rsplit('-', 1)[1][:-4]}}}.tar"
    return patterns


def _wds_table(index: dict) -> str:
    patterns = tar_patterns(index)
    if not patterns:
        return "(this dataset has no WebDataset shards)"
    tars = collections.Counter(s["discipline"] for s in index["shards"] if s["format"] == "wds")
    return "\n".join(["| discipline | tar shards | `--train-data` |", "|---|---|---|"]
                     + [f"| {d} | {tars[d]} | `{p}` |" for d, p in patterns.items()])


def _stats(out: Path, index: dict) -> dict:
    primary = "parquet" if "parquet" in index.get("formats", []) else "wds"
    tables = [
        pq.read_table(out / s["sample_index"], columns=["source", "paper_id", "caption_chars", "recaption_chars"])
        for s in index["shards"] if s["format"] == primary
    ]
    if not tables:
        return {"papers": 0, "sources": {}, "caption": None, "recaption": None}
    t = pa.concat_tables(tables)
    cap = np.asarray(t["caption_chars"].to_numpy(), dtype=np.float64)
    rec = np.asarray(t["recaption_chars"].to_numpy(), dtype=np.float64)
    rec = rec[rec >= 0]

    def describe(a):
        return None if a.size == 0 else (float(a.mean()), float(a.std()), float(np.median(a)), int(a.size))

    return {
        "papers": len(set(t["paper_id"].to_pylist())),
        "sources": dict(collections.Counter(t["source"].to_pylist()).most_common()),
        "caption": describe(cap),
        "recaption": describe(rec),
    }


def render_card(out: str | os.PathLike, index: dict, *, repo_id: Optional[str] = None) -> str:
    """Write ``out/README.md``; returns its text."""
    out = Path(out)
    stats = _stats(out, index)
    modalities = sorted({m for c in index["counts"].values() for m in c})
    head = "| discipline | total | " + " | ".join(modalities) + " |\n|---|---|" + "---|" * len(modalities)
    rows = [
        f"| {d} | {sum(c.values())} | " + " | ".join(str(c.get(m, 0)) for m in modalities) + " |"
        for d, c in index["counts"].items()
    ]
    lengths = []
    for name in ("caption", "recaption"):
        s = stats[name]
        lengths.append(f"| {name} | {s[0]:.0f} | {s[1]:.0f} | {s[2]:.0f} |" if s else f"| {name} | - | - | - |")
    licenses = license_counts(index)
    repo = repo_id or "<org>/<name>"
    body = Template(TEMPLATE.read_text(encoding="utf-8")).safe_substitute(
        yaml=yaml.safe_dump(card_yaml(index), sort_keys=False, allow_unicode=True, width=1000).rstrip(),
        pretty_name="S1-MMAlign",
        version=_version(),
        repo=repo,
        repo_url=f"hf://datasets/{repo}" if repo_id else "<dataset folder or hf://datasets/org/name>",
        total=f"{index['num_samples']:,}",
        papers=f"{stats['papers']:,}",
        counts_table="\n".join([head, *rows]) if rows else "(empty)",
        sources_table="| source | figures |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in stats["sources"].items()),
        length_table="\n".join(lengths),
        fields_table="\n".join(f"| `{n}` | {t} | {d} |" for n, t, _, d in contract.FIELDS),
        wds_table=_wds_table(index),
        license_table="\n".join(["", "| license (SPDX) | as written | figures |", "|---|---|---|"]
                                + [f"| {spdx_id(k) or 'not recognised'} | {k or '(none)'} | {v} |" for k, v in licenses.most_common()]),
    )
    write_text_atomic(out / "README.md", body)
    return body


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("s1mmalign")
    except Exception:
        return "(source)"
