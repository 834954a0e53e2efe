"""Shard writers: tar and Parquet from one stream, index, sizes.json, rejects, atomicity."""

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import webdataset as wds
from conftest import ROOT, draw_figure, make_record, make_records
from PIL import Image

import s1mmalign_dataset as c
from s1mmalign.builder.shards.write import write_dataset
from s1mmalign.builder.shards.writers import ShardOptions
from s1mmalign.core.layout import read_index

SMALL = ShardOptions(parquet_shard_bytes=15_000, tar_shard_bytes=15_000, row_group_bytes=4_000)


def tars(out):
    return sorted(str(p) for p in Path(out, "wds").rglob("*.tar"))


def safe_decode(pipeline):
    """The README's recipe: images with PIL, json and txt as such, and none of webdataset's default
    handlers (they unpickle .pyd/.pickle members)."""
    return pipeline.decode("pil", wds.handle_extension("json", json.loads),
                           wds.handle_extension("txt", bytes.decode), post=[])


def test_the_readmes_webdataset_recipe_never_unpickles(tmp_path):
    import pickle

    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    with tarfile.open(tmp_path / "t.tar", "w") as tf:
        for name, data in [("k.png", png.getvalue()), ("k.json", b'{"discipline": "physics"}'), ("k.txt", b"a caption"),
                           ("k.pyd", pickle.dumps({"unpickled": True}))]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    url = str(tmp_path / "t.tar")
    default = next(iter(wds.WebDataset(url, shardshuffle=False, empty_check=False).decode("pil")))
    assert default["pyd"] == {"unpickled": True}  # the hazard the recipe avoids
    s = next(iter(safe_decode(wds.WebDataset(url, shardshuffle=False, empty_check=False))))
    assert isinstance(s["png"], Image.Image) and s["json"] == {"discipline": "physics"} and s["txt"] == "a caption"
    assert isinstance(s["pyd"], bytes)


def test_webdataset_reads_every_sample(tmp_path, records):
    report = write_dataset(records, tmp_path, options=SMALL)
    assert report["written"] == len(records) and report["rejected"] == 0
    shards = tars(tmp_path)
    assert len(shards) > 3  # rotated by size, per discipline
    seen = {}
    for s in safe_decode(wds.WebDataset(shards, shardshuffle=False, empty_check=False)):
        assert isinstance(s["png"], Image.Image)
        assert s["json"]["key"] == s["__key__"] and "." not in s["__key__"]
        seen[s["__key__"]] = s
    assert set(seen) == {r["key"] for r in records}
    by_key = {r["key"]: r for r in records}
    for key, s in seen.items():
        r = by_key[key]
        assert s["txt"] == (r["recaption"] or r["caption"])  # the training caption
        assert s["json"]["caption"] == r["caption"] and s["json"]["discipline"] == r["discipline"]
        assert "image" not in s["json"]
    # basenames are unique across discipline folders and every folder's sizes.json knows them all
    names = [Path(p).name for p in shards]
    assert len(names) == len(set(names))
    for folder in {Path(p).parent for p in shards}:
        sizes = json.loads((folder / "sizes.json").read_text())
        assert set(sizes) == set(names)


def test_image_bytes_kept_or_converted(tmp_path):
    png, jpg = draw_figure(1), draw_figure(2, fmt="JPEG")
    tif, gif = draw_figure(3, fmt="TIFF"), draw_figure(4, fmt="GIF")
    cmyk = draw_figure(5, fmt="JPEG", mode="CMYK")
    img16 = Image.new("I;16", (80, 64))
    img16.putdata([i * 12 for i in range(80 * 64)])
    buf = io.BytesIO()
    img16.save(buf, format="PNG")
    recs = [make_record(i, image=b) for i, b in enumerate([png, jpg, tif, gif, cmyk, buf.getvalue()])]
    write_dataset(recs, tmp_path, options=SMALL)
    stored = {}
    for p in tars(tmp_path):
        with tarfile.open(p) as t:
            for m in t.getmembers():
                if m.name.endswith((".png", ".jpg")):
                    stored[m.name.split(".")[0]] = (m.name.rsplit(".", 1)[1], t.extractfile(m).read())
    keys = [r["key"] for r in recs]
    assert stored[keys[0]] == ("png", png)  # PNG kept byte for byte
    assert stored[keys[1]] == ("jpg", jpg)  # JPEG kept byte for byte
    for k in keys[2:4]:  # TIFF, GIF -> PNG
        assert stored[k][0] == "png" and Image.open(io.BytesIO(stored[k][1])).format == "PNG"
    assert Image.open(io.BytesIO(stored[keys[4]][1])).mode == "RGB"  # CMYK JPEG converted
    im16 = Image.open(io.BytesIO(stored[keys[5]][1]))
    assert im16.mode in ("L", "RGB") and max(im16.convert("L").getdata()) > 200  # scaled, not white or black


def test_parquet_layout_metadata_and_clustering(tmp_path):
    recs = make_records(60, disciplines=("physics", "biology"), modalities=("plot", "heatmap", "diagram", "map"))
    write_dataset(recs, tmp_path, options=SMALL)
    files = sorted(Path(tmp_path, "data").rglob("*.parquet"))
    assert {f.parent.name for f in files} == {"physics", "biology"}
    total = 0
    for f in files:
        pf = pq.ParquetFile(f)
        assert b"huggingface" in pf.schema_arrow.metadata
        assert pf.schema_arrow.field("image").type == c.IMAGE_STRUCT
        for rg in range(pf.num_row_groups):
            mods = set(pf.read_row_group(rg, columns=["modality"]).column(0).to_pylist())
            assert len(mods) == 1  # one modality per row group
            assert pf.metadata.row_group(rg).total_byte_size < 286 * 2**20
            assert pf.metadata.row_group(rg).column(0).has_offset_index  # page index on
        disc = set(pf.read(columns=["discipline"]).column(0).to_pylist())
        assert disc == {f.parent.name}
        total += pf.metadata.num_rows
    assert total == 60


def test_index_and_sizes(tmp_path, records):
    write_dataset(records, tmp_path, options=SMALL)
    index = read_index(tmp_path)
    assert index["num_samples"] == len(records)
    expected = {}
    for r in records:
        expected.setdefault(r["discipline"], {}).setdefault(r["modality"], 0)
        expected[r["discipline"]][r["modality"]] += 1
    assert index["counts"] == expected
    sizes = json.loads(Path(tmp_path, "sizes.json").read_text())
    import hashlib

    for s in index["shards"]:
        data = Path(tmp_path, s["path"]).read_bytes()
        assert s["bytes"] == len(data) and s["sha256"] == hashlib.sha256(data).hexdigest()
        assert sizes[s["path"]] == s["num_samples"] == sum(s["modalities"].values())
        assert s["format"] in ("wds", "parquet") and s["discipline"] in c.DISCIPLINES
        sidecar = pq.read_table(Path(tmp_path, s["sample_index"]))
        assert sidecar.num_rows == s["num_samples"]
        if s["format"] == "wds":  # per-sample byte ranges are exact: reading one gives that sample's members
            off, size, key = sidecar["offset"][1].as_py(), sidecar["size"][1].as_py(), sidecar["key"][1].as_py()
            with tarfile.open(fileobj=io.BytesIO(data[off:off + size])) as t:
                assert {m.name.split(".")[0] for m in t.getmembers()} == {key}


@pytest.mark.parametrize("check", ["fast", "full"])
def test_bad_records_rejected_with_reason_and_build_goes_on(tmp_path, check):
    good = make_records(6)
    bomb = Image.new("L", (12000, 10000))  # 120 M pixels > default limit
    buf = io.BytesIO()
    bomb.save(buf, format="PNG")
    bad = [
        make_record(100, title=None),
        make_record(101, figure_label=3),
        make_record(102, discipline="alchemy"),
        make_record(103, image=b"not an image at all"),
        make_record(104, image=draw_figure(104)[:200]),  # truncated PNG
        make_record(105, image=buf.getvalue()),
        dict(good[0]),  # duplicate key
    ]
    report = write_dataset(good[:3] + bad + good[3:], tmp_path, options=SMALL, image_check=check)
    assert report["written"] == 6 and report["rejected"] == 7
    rows = [json.loads(line) for line in Path(tmp_path, "reports/rejects.jsonl").read_text().splitlines()]
    reasons = {r["key"]: (r["field"], r["reason"]) for r in rows}
    assert reasons[bad[0]["key"]] == ("title", "missing_field")
    assert reasons[bad[1]["key"]] == ("figure_label", "bad_field")
    assert reasons[bad[2]["key"]] == ("discipline", "unknown_discipline")
    assert reasons[bad[3]["key"]] == ("image", "undecodable")
    assert reasons[bad[4]["key"]][0] == "image" and reasons[bad[4]["key"]][1] in ("truncated", "undecodable")
    assert reasons[bad[5]["key"]] == ("image", "decompression_bomb")
    assert reasons[good[0]["key"]] == ("key", "duplicate_key")
    assert read_index(tmp_path)["num_samples"] == 6


def test_rerun_adds_shards_without_touching_existing_ones(tmp_path):
    write_dataset(make_records(9), tmp_path, options=SMALL)
    before = {p: p.read_bytes() for p in Path(tmp_path).rglob("*.*") if p.suffix in (".tar", ".parquet") and "index" not in p.parts}
    write_dataset(make_records(9, start=50), tmp_path, options=SMALL)
    for p, data in before.items():
        assert p.read_bytes() == data
    assert read_index(tmp_path)["num_samples"] == 18


KILL_SCRIPT = r"""
import sys, itertools
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
from conftest import make_record
from s1mmalign.builder.shards.writers import ShardOptions
from s1mmalign.builder.shards.write import write_dataset
def records():
    for i in itertools.count():
        if i == 40:
            print("MID-SHARD", flush=True)
        yield make_record(i, discipline=("physics", "biology")[i % 2])
write_dataset(records(), sys.argv[1], options=ShardOptions(parquet_shard_bytes=400_000, tar_shard_bytes=400_000,
              row_group_bytes=20_000))
"""


def test_killed_writer_leaves_nothing_half_written(tmp_path):
    out = tmp_path / "out"
    script = tmp_path / "writer.py"
    script.write_text(KILL_SCRIPT.format(root=str(ROOT), tests=str(ROOT / "tests")))
    proc = subprocess.Popen([sys.executable, str(script), str(out)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "MID-SHARD"
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finals = [p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")]
    temps = [p for p in out.rglob(".*.tmp")]
    assert temps, "the writer was killed mid-shard, so it must have left only temporaries"
    for p in finals:  # whatever sits under a final name is complete and readable
        if p.suffix == ".tar":
            with tarfile.open(p) as t:
                assert len(t.getmembers()) % 3 == 0
        elif p.suffix == ".parquet":
            pq.read_table(p)
    # A rerun cleans the temporaries and writes a complete dataset.
    write_dataset(make_records(6), out, options=SMALL)
    assert not list(out.rglob(".*.tmp"))
    index = read_index(out)
    assert sum(s["num_samples"] for s in index["shards"] if s["format"] == "wds") >= 6


def test_fast_check_catches_corrupt_and_truncated_files():
    from s1mmalign.core.images import ImageRejected, normalize_image

    png, jpg = draw_figure(7, size=(300, 200)), draw_figure(8, size=(300, 200), fmt="JPEG")
    flipped = bytearray(png)
    flipped[len(png) // 2] ^= 0xFF  # inside the compressed pixel data: its chunk CRC no longer matches
    for bad in (png[: len(png) // 2], bytes(flipped), png[:-12], jpg[: len(jpg) // 2]):
        with pytest.raises(ImageRejected) as e:
            normalize_image(bad, check="fast")
        assert e.value.reason in ("truncated", "undecodable")
    assert normalize_image(png, check="fast").data == png and normalize_image(jpg, check="fast").data == jpg


def test_fast_check_rejects_every_cut_and_accepts_trailing_bytes():
    """Cut anywhere, a PNG or JPEG fails the fast check; bytes after a JPEG's end are harmless."""
    from s1mmalign.core.images import ImageRejected, normalize_image

    png, jpg = draw_figure(9, size=(200, 150)), draw_figure(10, size=(200, 150), fmt="JPEG")
    for data in (png, jpg):
        for cut in range(64, len(data) - 1, max(1, len(data) // 40)):
            with pytest.raises(ImageRejected) as e:
                normalize_image(data[:cut], check="fast")
            assert e.value.reason in ("truncated", "undecodable"), (cut, e.value)
    assert normalize_image(jpg + b"trailer", check="fast").width == 200
    no_data = png[:33] + png[-12:]  # signature + IHDR + IEND: a header without pixels
    with pytest.raises(ImageRejected, match="no IDAT"):
        normalize_image(no_data, check="fast")


def test_fast_check_takes_a_png_whose_data_ends_with_output_held_back():
    """A sound PNG whose pixel rows just pass a whole MiB (1024x1024 RGB: 3 MiB + 1024 filter bytes), its
    compressed data short: ISA-L reads all of it while handing out 1 MiB at a time and holds the last
    bytes back; they were never asked for, and the figure was a 'truncated' reject (stop-30 sweep:
    Alpine-DAV/isav_2018's renders, 1024x1024, lost the paper's only figure)."""
    from PIL import ImageDraw

    from s1mmalign.core.images import normalize_image

    for size in ((1024, 1024), (1024, 342)):
        img = Image.new("RGB", size, "white")
        ImageDraw.Draw(img).text((10, 10), "plot", fill="black")
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        assert normalize_image(buf.getvalue(), check="fast").width == 1024


def _image_corpus() -> dict[str, bytes]:
    """PNG and JPEG in every mode a figure archive holds, and the ones that must be converted."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8))
    out = {}

    def save(name, img, fmt, **kw):
        buf = io.BytesIO()
        img.save(buf, format=fmt, **kw)
        out[name] = buf.getvalue()

    for mode in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
        save(f"png-{mode}", rgb.convert(mode) if mode != "I;16" else Image.fromarray(
            rng.integers(0, 65535, (40, 60), dtype=np.uint16)), "PNG")
    save("png-P-transparent", rgb.convert("P"), "PNG", transparency=0)
    save("png-animated", rgb, "PNG", save_all=True, append_images=[rgb.rotate(90)])
    for mode in ("L", "RGB", "CMYK"):
        save(f"jpg-{mode}", rgb.convert(mode), "JPEG", quality=90)
    save("jpg-progressive", rgb, "JPEG", progressive=True)
    save("jpg-multi-picture", rgb, "MPO", save_all=True, append_images=[rgb.rotate(90)])
    return out


def test_fast_check_stores_exactly_what_a_full_decode_stores():
    """The fast check reads headers itself; it must decide as Pillow does for every mode."""
    from s1mmalign.core.images import normalize_image

    corpus = _image_corpus()
    assert len(corpus) >= 12
    for name, data in corpus.items():
        fast, full = normalize_image(data, check="fast"), normalize_image(data, check="full")
        assert (fast.ext, fast.width, fast.height, fast.converted, fast.sha256) == \
            (full.ext, full.width, full.height, full.converted, full.sha256), name
    converted = {n for n, d in corpus.items() if normalize_image(d, check="fast").converted}
    assert converted == {"png-I;16", "png-animated", "jpg-CMYK", "jpg-multi-picture"}


def test_fast_check_limits_come_from_the_header():
    from s1mmalign.core.images import ImageRejected, normalize_image

    png, jpg = draw_figure(11, size=(300, 200)), draw_figure(12, size=(300, 200), fmt="JPEG")
    for data in (png, jpg):
        with pytest.raises(ImageRejected) as e:
            normalize_image(data, check="fast", max_pixels=300 * 200 - 1)
        assert e.value.reason == "decompression_bomb"
        with pytest.raises(ImageRejected) as e:
            normalize_image(data, check="fast", min_side=201)
        assert e.value.reason == "too_small"


def test_tar_member_headers_match_tarfile():
    """The hand-written headers are tarfile's own bytes (PAX records for long or non-ASCII names)."""
    import tarfile

    from s1mmalign.builder.shards.writers import member_header

    for name, size in (("a.png", 0), ("k" * 100 + "", 12345), ("k" * 101, 7), ("caf\u00e9.json", 3), ("x.txt", 8**11 - 1)):
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, 0o444, 0
        assert member_header(name, size) == info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"), name


def test_long_keys_fit_in_tar_members(tmp_path):
    import webdataset as wds

    key = "k" * 190
    write_dataset([make_record(1, key=key)], tmp_path, options=SMALL)
    samples = list(wds.WebDataset(tars(tmp_path), shardshuffle=False, empty_check=False).decode("pil"))
    assert [s["__key__"] for s in samples] == [key] and samples[0]["json"]["key"] == key
