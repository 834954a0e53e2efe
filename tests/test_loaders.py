"""s1mmalign.loaders on real datasets written by the real writer (single process)."""

from __future__ import annotations

import io
import json
import pickle
import shutil
import subprocess
import sys
import tarfile
import warnings
from pathlib import Path

import pytest
import torch

from s1mmalign.builder.shards.write import write_dataset
from s1mmalign.builder.shards.writers import ShardOptions
from s1mmalign.core import contract
from s1mmalign.loaders import CLIPCollate, IndexMismatchError, S1MMAlignStream, make_dataloader
from s1mmalign.loaders.cache import ShardCache
from s1mmalign.loaders.captions import CaptionFitter, choose_caption
from s1mmalign.loaders.tiny import char_clip_tokenizer, figure_bytes, serve_http, synthetic_records, tiny_clip

SMALL = ShardOptions(parquet_shard_bytes=60_000, tar_shard_bytes=60_000, row_group_bytes=15_000)


def make(out: Path, n: int = 400, **kw) -> Path:
    write_dataset(synthetic_records(n, **kw), out, options=SMALL)
    return out


@pytest.fixture(scope="module")
def ds(tmp_path_factory) -> Path:
    return make(tmp_path_factory.mktemp("loaders") / "ds")


def keys_of(stream) -> list[str]:
    return [s["key"] for s in stream]


def expected_keys(n=400, **filters) -> set[str]:
    out = set()
    for r in synthetic_records(n):
        if all(r[f] in v for f, v in filters.items()):
            out.add(r["key"])
    return out


# -- selection and pruning -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["wds", "parquet"])
def test_filters_select_exactly_and_read_a_fraction_of_the_bytes(ds, fmt):
    s = S1MMAlignStream(ds, format=fmt, disciplines=["physics"], modalities=["plot"], seed=1)
    keys = keys_of(s)
    want = expected_keys(discipline={"physics"}, modality={"plot"})
    assert sorted(keys) == sorted(want) and len(keys) == len(s) == 34
    total = sum(e["bytes"] for e in s.source.index["shards"] if e["format"] == fmt)
    fraction = s.source.bytes_read[0] / total
    if fmt == "wds":  # exact byte ranges of the selected samples
        assert fraction < 0.1, f"read {fraction:.1%} of the bytes for a {len(want) / 400:.1%} slice"
    else:  # whole row groups (plots are in every physics row group here) and footers, of physics shards only
        picked = sum(p.bytes for p in s.selection.picks)
        assert {p.discipline for p in s.selection.picks} == {"physics"}
        assert s.source.bytes_read[0] < 1.15 * picked and fraction < 0.3, (fraction, picked / total)


def test_samples_have_one_shape_whatever_the_format(ds):
    a = {x["key"]: x for x in S1MMAlignStream(ds, format="wds", sources="biorxiv", shuffle=False)}
    b = {x["key"]: x for x in S1MMAlignStream(ds, format="parquet", sources="biorxiv", shuffle=False)}
    assert a.keys() == b.keys() and len(a) == 200
    k = next(iter(a))
    assert set(a[k]) == set(b[k]) >= {"key", "image", "text", "discipline", "modality", "caption", "recaption"}
    for key in list(a)[:20]:
        for f in contract.METADATA_FIELDS:
            assert a[key][f] == b[key][f], f
        assert a[key]["image"].tobytes() == b[key]["image"].tobytes()
        assert a[key]["image"].mode == "RGB"


def test_min_clip_score_and_license_filters(ds):
    recs = list(synthetic_records(400))
    s = S1MMAlignStream(ds, licenses="cc-by-4.0", min_clip_score=0.5, caption="caption")
    want = {r["key"] for r in recs if r["license"] == "cc-by-4.0" and r["clip_score_caption"] >= 0.5}
    assert set(keys_of(s)) == want


def test_shuffle_is_deterministic_from_seed_and_epoch(ds):
    s = S1MMAlignStream(ds, seed=5, shuffle_buffer=50)
    e0 = keys_of(s)
    assert keys_of(s) == e0
    s.set_epoch(1)
    e1 = keys_of(s)
    assert e1 != e0 and sorted(e1) == sorted(e0)
    assert keys_of(S1MMAlignStream(ds, seed=6, shuffle_buffer=50)) != e0


def test_mix_chunk_moves_between_shards(ds):
    plain = [x for _, x in zip(range(60), S1MMAlignStream(ds, shuffle_buffer=1, seed=2))]
    mixed_stream = S1MMAlignStream(ds, shuffle_buffer=1, seed=2, mix_chunk=5)
    mixed = list(mixed_stream)
    assert len({x["key"] for x in mixed}) == len(mixed) == 400
    shards = lambda xs: len({x["__shard__"] for x in xs})  # noqa: E731
    assert shards(mixed[:60]) >= 10 > shards(plain)
    assert len({x["discipline"] for x in mixed[:20]}) >= 3


def test_weights_rebalance_disciplines(ds):
    s = S1MMAlignStream(ds, weights={"physics": 3, "biology": 1})
    counts = {}
    for x in s:
        counts[x["discipline"]] = counts.get(x["discipline"], 0) + 1
    assert counts == {"physics": 300, "biology": 100}


# -- bad input -----------------------------------------------------------------------------------------


def test_unknown_discipline_lists_the_valid_ones(ds):
    with pytest.raises(ValueError, match="unknown discipline 'physic'.*valid: mathematics, physics"):
        S1MMAlignStream(ds, disciplines=["physic"])


def test_settings_that_cannot_be_meant_are_errors(ds, tmp_path):
    s = S1MMAlignStream(ds)
    for epoch in ("1", 1.5, -1, True):
        with pytest.raises(ValueError, match="set_epoch takes an epoch number >= 0"):
            s.set_epoch(epoch)
    with pytest.raises(ValueError, match="shuffle_buffer and shuffle_initial must be >= 1"):
        S1MMAlignStream(ds, shuffle_buffer=-1)
    with pytest.raises(ValueError, match="give cache_dir= too"):
        S1MMAlignStream(ds, cache_limit="1GB")
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file; name a folder for the shard cache"):
        ShardCache(tmp_path / "a-file")


def test_empty_selection_is_a_clear_error(ds):
    with pytest.raises(ValueError, match="no sample .* matches .*medicine.*holds: .*physics"):
        S1MMAlignStream(ds, disciplines="medicine")
    with pytest.raises(ValueError, match="no sample"):
        S1MMAlignStream(ds, disciplines="physics", min_clip_score=5.0)
    with pytest.raises(ValueError, match="Sources present: arxiv, biorxiv"):
        S1MMAlignStream(ds, sources="arXiv")
    for bad in ("high", float("nan"), None.__class__):  # a word, NaN, a type: one line, not an empty selection
        with pytest.raises(ValueError, match="min_clip_score must be a number"):
            S1MMAlignStream(ds, min_clip_score=bad)


def test_missing_index_falls_back_to_reading_with_a_warning(ds, tmp_path):
    copy = tmp_path / "noindex"
    shutil.copytree(ds, copy)
    shutil.rmtree(copy / "index")
    for fmt in ("wds", "parquet"):
        with pytest.warns(UserWarning, match="index/shards.json is missing"):
            s = S1MMAlignStream(copy, format=fmt, disciplines="physics", modalities="plot", seed=1)
        assert sorted(keys_of(s)) == sorted(expected_keys(discipline={"physics"}, modality={"plot"}))
    # mid-shard starts (a worker split) work from the in-memory index too
    with pytest.warns(UserWarning, match="index/shards.json is missing"):
        s = S1MMAlignStream(copy, format="wds", rank=1, world_size=3)
    assert len(keys_of(s)) == 133


def test_changed_shard_list_is_detected(ds, tmp_path):
    copy = tmp_path / "changed"
    shutil.copytree(ds, copy)
    tars = sorted((copy / "wds").rglob("*.tar"))
    tars[0].unlink()
    extra = tars[1].with_name("train-99999.tar")
    shutil.copy(tars[1], extra)
    with pytest.raises(IndexMismatchError, match="1 missing .*1 not in the index.*s1mmalign reindex DATASET"):
        S1MMAlignStream(copy)
    extra.unlink()
    with open(tars[2], "ab") as f:
        f.write(b"\0" * 512)
    with pytest.raises(IndexMismatchError, match="changed size"):
        S1MMAlignStream(copy)


def test_resume_with_other_settings_is_refused(ds):
    a = S1MMAlignStream(ds, seed=1)
    b = S1MMAlignStream(ds, seed=2)
    with pytest.raises(ValueError, match="seed: saved 1 != now 2"):
        b.load_state_dict(a.state_dict())


# -- faults and safety ------------------------------------------------------------------------------------


def test_truncated_shard_costs_only_its_tail_and_counts_stay_equal(ds, tmp_path):
    copy = tmp_path / "trunc"
    shutil.copytree(ds, copy)
    s0 = S1MMAlignStream(copy, format="wds", shuffle=False)
    pick = s0.selection.picks[0]
    path = copy / pick.path
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    s = S1MMAlignStream(copy, format="wds", shuffle=False, check_index=False, max_errors=50)
    it = iter(s)
    out = list(it)
    lost = sum(it.errors.values())
    assert 0 < lost < pick.count // 2 + 1, it.errors
    assert set(it.errors) <= {"truncated_shard"}
    assert len(out) == len(s) == 400  # topped up with re-reads so ranks stay in step
    assert sum(1 for x in out if x.get("__padded__")) == lost
    first_shard = [x["key"] for x in out[: pick.count - lost]]
    assert all(x["__shard__"] == pick.path for x in out[: pick.count - lost]) and len(set(first_shard)) == len(first_shard)


def test_corrupt_images_are_skipped_counted_and_bounded(tmp_path):
    recs = list(synthetic_records(40))
    out = tmp_path / "corrupt"
    write_dataset(recs, out, options=ShardOptions(formats=("wds",), tar_shard_bytes=30_000))
    # corrupt the image bytes of 3 samples inside their shards (same length, so the index still holds)
    hit = 0
    for tar_path in sorted((out / "wds").rglob("*.tar"))[:3]:
        raw = bytearray(tar_path.read_bytes())
        at = raw.find(b"\x89PNG\r\n\x1a\n")
        raw[at + 16 : at + 200] = b"\x00" * 184
        tar_path.write_bytes(bytes(raw))
        hit += 1
    it = iter(S1MMAlignStream(out, shuffle=False, check_index=False))
    got = list(it)
    assert len(got) == 40 and len({x["key"] for x in got}) == 40 - hit  # the count is kept with re-reads
    assert set(it.errors) == {"undecodable"} and it.errors["undecodable"] >= hit
    with pytest.raises(RuntimeError, match="more than max_errors=1"):
        list(S1MMAlignStream(out, shuffle=False, check_index=False, max_errors=1))


def test_decompression_bomb_limit_is_enforced(ds):
    it = iter(S1MMAlignStream(ds, disciplines="physics", max_pixels=100, max_errors=1000))
    with pytest.raises(RuntimeError, match="no readable sample"):
        next(it)
    assert it.errors == {"decompression_bomb": 200}  # each once, then once more while trying to pad


def test_pickle_members_are_never_unpickled(tmp_path):
    """A tar with a .pyd/.pickle member that would run code when unpickled: it is ignored."""
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    payload = pickle.dumps(Evil())
    folder = tmp_path / "evil" / "wds" / "physics"
    folder.mkdir(parents=True)
    with tarfile.open(folder / "train-00000.tar", "w") as tar:
        for i in range(3):
            for name, data in ((f"k{i}.png", figure_bytes(i)), (f"k{i}.pyd", payload), (f"k{i}.pickle", payload),
                               (f"k{i}.pth", payload), (f"k{i}.txt", b"a caption")):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    with pytest.warns(UserWarning, match="missing"):
        s = S1MMAlignStream(tmp_path / "evil", shuffle=False)
    got = list(s)
    assert [x["key"] for x in got] == ["k0", "k1", "k2"] and got[0]["text"] == "a caption"
    assert not marker.exists()


# -- captions and collate --------------------------------------------------------------------------------------


def test_caption_modes():
    rec = {"key": "a", "caption": "Short.", "recaption": "Long enriched text."}
    assert choose_caption(rec, "caption") == "Short."
    assert choose_caption(rec, "recaption") == "Long enriched text."
    assert choose_caption(rec, "both") == "Short. Long enriched text."
    assert choose_caption({**rec, "recaption": None}, "recaption") == "Short."
    picks = [choose_caption({**rec, "key": f"k{i}"}, "mix", mix_p=0.3) for i in range(2000)]
    assert 0.25 < picks.count("Long enriched text.") / 2000 < 0.35
    assert picks == [choose_caption({**rec, "key": f"k{i}"}, "mix", mix_p=0.3) for i in range(2000)]
    with pytest.raises(ValueError, match="caption must be one of"):
        S1MMAlignStream("/nonexistent", caption="best")


def test_caption_fitter_cuts_at_sentence_boundaries(tmp_path):
    tok = char_clip_tokenizer(tmp_path / "tok")
    count = lambda texts: [len(i) for i in tok(texts)["input_ids"]]  # noqa: E731
    fit = CaptionFitter(count, 77)
    text = "The first sentence is here. A second one follows it. And Fig. 3 shows a third one, which is longer."
    (out,), cut = fit([text])
    assert count([text])[0] > 77
    assert cut == 1 and out == "The first sentence is here. A second one follows it."
    assert count([out])[0] <= 77
    win = CaptionFitter(count, 77, mode="window", seed=0)
    outs = {win([text], keys=[f"k{i}"])[0][0] for i in range(30)}
    assert len(outs) > 1 and all(count([o])[0] <= 77 and o.endswith(".") for o in outs)
    (short,), cut = fit(["Fits."])
    assert cut == 0 and short == "Fits."
    (hard,), _ = fit(["x" * 200 + ". Then more."])
    assert fit.stats == {"texts": 3, "cut": 2, "hard_cut": 1} and hard == "x" * 200 + "."


def test_clip_collate_with_a_clip_processor(ds, tmp_path):
    model, processor = tiny_clip(tmp_path / "clip")
    collate = CLIPCollate(processor)
    s = S1MMAlignStream(ds, disciplines="physics")
    loader = make_dataloader(s, batch_size=16, collate_fn=collate)
    batch = next(iter(loader))
    assert batch["pixel_values"].shape == (16, 3, 32, 32) and batch["input_ids"].shape == (16, 77)
    assert int(batch["captions_cut"]) > 0 and collate.stats["cut"] == int(batch["captions_cut"])
    with torch.no_grad():
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                    pixel_values=batch["pixel_values"], return_loss=True)
    assert torch.isfinite(out.loss)


def test_making_a_loader_warns_nothing(ds):
    """torchdata's deprecated torch.set_vital call is noise to a user; our own warnings still show."""

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loader = make_dataloader(S1MMAlignStream(ds, disciplines="physics"), batch_size=4)
        warnings.warn("ours", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["ours"]
    assert len(next(iter(loader))["key"]) == 4


def test_clip_collate_with_open_clip_style_callables(ds, tmp_path):
    """open_clip's fit: preprocess(PIL) -> [3,H,W] tensor, tokenizer(list[str]) -> LongTensor[B, 77], .encode()."""
    import numpy as np

    hf = char_clip_tokenizer(tmp_path / "tok")

    class SimpleTokenizerLike:  # the interface of open_clip.tokenizer.SimpleTokenizer
        context_length = 77

        def encode(self, text):
            return hf(text, add_special_tokens=False)["input_ids"]

        def __call__(self, texts, context_length=77):
            out = torch.zeros(len(texts), context_length, dtype=torch.long)
            for i, t in enumerate(texts):
                ids = [hf.bos_token_id, *self.encode(t)][: context_length - 1] + [hf.eos_token_id]
                out[i, : len(ids)] = torch.tensor(ids)
            return out

    def preprocess(img):
        arr = np.asarray(img.resize((24, 24)), dtype=np.float32) / 255.0
        return torch.from_numpy(arr).permute(2, 0, 1)

    collate = CLIPCollate(image_transform=preprocess, tokenizer=SimpleTokenizerLike())
    batch = collate([x for _, x in zip(range(8), S1MMAlignStream(ds, shuffle=False))])
    assert batch["pixel_values"].shape == (8, 3, 24, 24) and batch["input_ids"].shape == (8, 77)
    assert int(batch["captions_cut"]) == collate.stats["cut"] > 0
    # every cut text ends its token row with the end token (nothing cut mid-sentence by the tokenizer)
    assert all(int(row[row.nonzero().max()]) == hf.eos_token_id for row in batch["input_ids"])


def test_open_clip_tar_conventions(ds):
    """open_clip's get_wds_dataset: sizes.json beside the shards, image key among jpg;png;jpeg;webp, and txt."""
    for folder in {p.parent for p in (ds / "wds").rglob("*.tar")}:
        sizes = json.loads((folder / "sizes.json").read_text())
        for tar_path in folder.glob("*.tar"):
            with tarfile.open(tar_path) as tar:
                names = tar.getnames()
            assert sizes[tar_path.name] * 3 == len(names)
            exts = {n.split(".", 1)[1] for n in names}
            assert "txt" in exts and exts & {"jpg", "png", "jpeg", "webp"}


# -- single-process resume -------------------------------------------------------------------------------


@pytest.mark.parametrize("workers,mix_chunk", [(0, None), (2, None), (2, 6)])
def test_exact_resume_mid_epoch(ds, workers, mix_chunk):
    def loader():
        s = S1MMAlignStream(ds, modalities=["plot", "diagram"], seed=4, shuffle_buffer=40, mix_chunk=mix_chunk)
        s.set_epoch(2)
        return make_dataloader(s, batch_size=10, num_workers=workers)

    full = [b["key"] for b in loader()]
    assert len(full) == len(loader())
    first = loader()
    it = iter(first)
    head = [next(it)["key"] for _ in range(7)]
    buf = io.BytesIO()
    torch.save(first.state_dict(), buf)
    state = torch.load(io.BytesIO(buf.getvalue()), weights_only=True)
    resumed = loader()
    resumed.load_state_dict(state)
    tail = [b["key"] for b in resumed]
    assert head == full[:7]
    assert tail == full[7:]


# -- remote: a real HTTP server on loopback that fails some requests --------------------------------------------


@pytest.mark.parametrize("fmt", ["wds", "parquet"])
def test_http_source_with_transient_errors(ds, fmt):
    server, state = serve_http(ds.parent, fail_every=3)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{ds.name}"
        s = S1MMAlignStream(url, format=fmt, disciplines="biology", modalities="plot", seed=2)
        got = sorted(keys_of(s))
    finally:
        server.shutdown()
        server.server_close()
    assert got == sorted(expected_keys(discipline={"biology"}, modality={"plot"}))
    assert state["failed"] > 0  # the errors happened and were retried


def test_http_source_in_dataloader_workers(ds):
    """fsspec's http file system runs an event loop that does not survive a fork: forked workers
    make their own (before, every worker failed with "This class is not fork-safe")."""
    server, _ = serve_http(ds.parent)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{ds.name}"
        s = S1MMAlignStream(url, disciplines="biology", seed=2)  # the index was read here, in the parent
        keys = [k for b in make_dataloader(s, batch_size=8, num_workers=2) for k in b["key"]]
    finally:
        server.shutdown()
        server.server_close()
    assert sorted(keys) == sorted(expected_keys(discipline={"biology"}))


def test_workers_never_reread_the_index(ds, tmp_path):
    """The file list and index are resolved once, in the main process (the Hub rate limits)."""
    copy = tmp_path / "once"
    shutil.copytree(ds, copy)
    s = S1MMAlignStream(copy, disciplines="astronomy", seed=3)
    (copy / "index" / "shards.json").unlink()  # gone before any worker starts
    keys = [k for b in make_dataloader(s, batch_size=8, num_workers=2) for k in b["key"]]
    assert sorted(keys) == sorted(expected_keys(discipline={"astronomy"}))


def test_train_clip_example_resumes_exactly(ds, tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_clip", Path(__file__).parents[1] / "examples" / "train_clip.py")
    train_clip = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_clip)
    common = ["--data", str(ds), "--steps", "6", "--batch-size", "16", "--save-every", "3"]
    straight = train_clip.main([*common, "--ckpt", str(tmp_path / "a")])
    train_clip.main([*common, "--ckpt", str(tmp_path / "b"), "--stop-after", "3"])
    resumed = train_clip.main([*common, "--ckpt", str(tmp_path / "b"), "--resume"])
    assert straight["steps"] == resumed["steps"] == 6
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)["losses"]
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["losses"]
    assert a == pytest.approx(b, rel=1e-4, abs=1e-5)
    # stopped before its first save: --resume says so in one line (before: FileNotFoundError traceback of torch.load)
    train_clip.main([*common, "--ckpt", str(tmp_path / "c"), "--stop-after", "2"])
    with pytest.raises(SystemExit, match="--resume: no checkpoint in .* run without --resume"):
        train_clip.main([*common, "--ckpt", str(tmp_path / "c"), "--resume"])


def test_resume_with_other_filters_is_refused(ds):
    a = S1MMAlignStream(ds, disciplines="physics", modalities="plot")
    b = S1MMAlignStream(ds, disciplines="biology", modalities="plot")
    assert len(a) == len(b)
    with pytest.raises(ValueError, match="selection: saved"):
        b.load_state_dict(a.state_dict())


def test_stream_command(ds):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "s1mmalign.builder.commands.cli", "stream", str(ds), "--discipline", "physics",
           "--modality", "plot", "--show", "2"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("34 samples in") and "[physics/plot]" in out.stdout
    where = subprocess.run([*cmd[:4], str(ds), "--where", "width >= 1", "--where", "modality in plot", "--discipline", "physics",
                            "--show", "0"], capture_output=True, text=True, timeout=300)
    assert where.returncode == 0 and where.stdout.startswith("34 samples in"), where.stderr
    bad = subprocess.run([*cmd[:4], str(ds), "--discipline", "physik"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "unknown discipline physik; valid: mathematics" in bad.stderr  # an argparse error
    bad = subprocess.run([*cmd[:4], str(ds), "--modality", "plots"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "unknown modality plots; valid: plot, heatmap" in bad.stderr


def test_the_loaders_import_neither_datasets_nor_the_builder(ds):
    """A training process (and each DataLoader worker) pays for neither HF ``datasets`` nor the builder."""
    code = (
        "import sys\n"
        "from s1mmalign.loaders import S1MMAlignStream, make_dataloader, CLIPCollate\n"
        f"s = S1MMAlignStream({str(ds)!r}, disciplines='physics', columns=['image', 'recaption'])\n"
        "n = sum(len(b['key']) for b in make_dataloader(s, batch_size=8))\n"
        "print(n, 'datasets' in sys.modules, sorted(m for m in sys.modules if m.startswith('s1mmalign.builder')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[0] == "100 False []", out.stdout


def test_a_bare_import_of_the_loaders_loads_no_heavy_dependency():
    """``import s1mmalign.loaders`` (a CLI, a config module, each spawned worker before it streams)
    loads none of torch, pyarrow, fsspec, PIL, numpy: they come with the name first used."""
    heavy = ("torch", "pyarrow", "fsspec", "PIL", "numpy", "datasets")
    code = ("import sys\nimport s1mmalign.loaders as L\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r} or m.startswith('s1mmalign.builder')))\n"
            "L.S1MMAlignStream\n"
            "print('torch' in sys.modules, 'datasets' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == ["[]", "True False"], out.stdout


def test_a_worker_entering_a_tar_shard_mid_way_loads_no_pandas(ds):
    """Two ranks split shards mid-way: the second reads its start offsets from the sidecar, as numpy from
    the column's buffers (pyarrow's ``to_numpy`` would import pandas, ~0.12 s of CPU in every worker)."""
    code = (
        "import sys\n"
        "from s1mmalign.loaders import S1MMAlignStream\n"
        f"s = S1MMAlignStream({str(ds)!r}, format='wds', world_size=2, rank=1, decode=False)\n"
        "print(sum(1 for _ in s) == len(s), 'pyarrow.parquet' in sys.modules, 'pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[0] == "True True False", out.stdout
