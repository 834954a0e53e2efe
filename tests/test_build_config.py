"""Bad build input fails with a clear error before any work starts (nothing written)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from s1mmalign.builder.pipeline.config import ConfigError, check_stage_order, load_config, make_config

SAMPLE = Path(__file__).resolve().parents[1] / "builder" / "sample" / "manifest.jsonl"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "s1mmalign.builder.commands.cli", "build", *args, "--no-progress"],
                          capture_output=True, text=True, cwd=cwd, timeout=120)


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, message", [
    ("sources: [{src}]\nout: o\nstages: [ingest, write]\nshard: {{}}\n", "unknown key(s) 'shard'"),
    ("sources: [{src}]\nout: o\nstages: [ingest, write]\nshards: {{tar_mb: 3}}\n", "shards: unknown key(s) 'tar_mb'"),
    ("sources: [{src}]\nout: o\nstages: [ingest, write]\nray: {{pool_size: {{recap: 2}}}}\n", "ray.pool_size: unknown key(s) 'recap'"),
    ("sources: [/nonexistent/papers]\nout: o\nstages: [ingest, write]\n", "/nonexistent/papers does not exist"),
    ("sources: [{src}]\nout: o\nstages: [ingest, recaption, write]\nrecaption: {{backend: qwen9}}\n", "unknown backend 'qwen9'"),
    ("sources: [{src}]\nout: o\nstages: [ingest, recaption, classify, write]\nrecaption: {{backend: context}}\n",
     "'classify' cannot run after 'recaption'"),
    ("sources: [{src}]\nout: o\nstages: [filter, ingest, write]\n", "'ingest' cannot run after 'filter'"),
    ("sources: [{src}]\nout: o\nstages: [ingest, card]\n", "'write' is required"),
    ("sources: [{src}]\nout: o\nstages: [ingest, write, write]\n", "listed more than once"),
    ("sources: [{src}]\nout: o\nstages: [ingest, score, write]\n", "score.clip_model"),
    ("sources: [{src}]\nout: o\nrunner: spark\n", "runner: 'spark' unknown"),
    # misspelt options of the stages themselves (checked against their signatures, no model loaded)
    ("sources: [{src}]\nout: o\nstages: [ingest, filter, write]\nfilter: {{min_byte: 10}}\n", "filter: unknown option(s) 'min_byte'"),
    ("sources: [{src}]\nout: o\nstages: [ingest, dedup, write]\ndedup: {{max_dist: 3}}\n", "dedup: unknown option(s) 'max_dist'"),
    ("sources: [{src}]\nout: o\nstages: [ingest, classify, write]\nclassify: {{name: magic}}\n", "unknown classifier 'magic'"),
    ("sources: [{src}]\nout: o\nstages: [ingest, recaption, write]\nrecaption: {{backend: openai, modle: x}}\n",
     "recaption (openai): unknown option(s) 'modle'"),
    ("sources: [{src}]\nout: o\nstages: [ingest, score, write]\nscore: {{clip_model: m, batchsize: 8}}\n",
     "score (ClipScorer): unknown option(s) 'batchsize'"),
])
def test_bad_config_is_a_clear_error_before_work(tmp_path, text, message):
    from s1mmalign.builder.commands.build import prepare

    cfg = write(tmp_path, "c.yaml", text.format(src=SAMPLE))
    with pytest.raises(ConfigError) as e:
        prepare(str(cfg))
    assert message in str(e.value)
    assert not (tmp_path / "o").exists()  # no work started


def test_bad_config_through_the_command(tmp_path):
    cfg = write(tmp_path, "c.yaml", f"sources: [{SAMPLE}]\nout: o\nstages: [ingest, write]\nrecaptoin: {{}}\n")
    p = cli(str(cfg), cwd=tmp_path)
    assert p.returncode == 1 and "unknown key(s) 'recaptoin'" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "o").exists()


def test_toml_config_and_unknown_key_in_toml(tmp_path):
    good = write(tmp_path, "c.toml", f'sources = ["{SAMPLE}"]\nout = "o"\nstages = ["ingest", "write", "card"]\n'
                                     '[shards]\nformats = ["parquet"]\n')
    cfg = load_config(good)
    assert cfg.out == tmp_path / "o" and cfg.shards["formats"] == ["parquet"] and cfg.work == tmp_path / "o" / ".build"
    bad = write(tmp_path, "d.toml", f'sources = ["{SAMPLE}"]\nout = "o"\n[shards]\nformat = ["parquet"]\n')
    with pytest.raises(ConfigError, match="shards: unknown key"):
        load_config(bad)


def test_missing_source_on_the_command_line(tmp_path):
    p = cli("--source", str(tmp_path / "nope"), "--out", "o", "--recaptioner", "context", cwd=tmp_path)
    assert p.returncode == 1 and "does not exist" in p.stderr and str(tmp_path / "nope") in p.stderr


def test_unknown_recaptioner_on_the_command_line(tmp_path):
    p = cli("--source", str(SAMPLE), "--out", "o", "--recaptioner", "gpt9", cwd=tmp_path)
    assert p.returncode == 1 and "unknown backend 'gpt9'" in p.stderr
    assert not (tmp_path / "o").exists()


def test_stage_order_rules():
    check_stage_order(["ingest", "dedup", "filter", "classify", "recaption", "score", "write", "card"])  # filter/dedup swap
    check_stage_order(["ingest", "write"])
    with pytest.raises(ConfigError, match="scoring scores the recaption"):
        check_stage_order(["ingest", "score", "recaption", "write"])


def test_option_change_changes_only_that_stage_fingerprint(tmp_path):
    base = {"sources": [str(SAMPLE)], "out": str(tmp_path / "o"), "stages": ["ingest", "recaption", "write"],
            "recaption": {"backend": "context"}}
    a = make_config(base)
    b = make_config({**base, "recaption": {"backend": "context", "max_chars": 500}})
    assert a.fingerprint("ingest") == b.fingerprint("ingest") and a.fingerprint("write") == b.fingerprint("write")
    assert a.fingerprint("recaption") != b.fingerprint("recaption")


def test_toml_config_without_tomllib_uses_tomli(tmp_path):
    """Python 3.10 has no tomllib: the config loader falls back to tomli (a dependency there)."""
    pytest.importorskip("tomli", reason="tomli is installed where Python has no tomllib (3.10); pip install tomli to run this here")
    write(tmp_path, "c.toml", f'sources = ["{SAMPLE}"]\nout = "o"\nstages = ["ingest", "write", "card"]\n')
    code = ("import sys; sys.modules['tomllib'] = None\n"  # import tomllib now fails, as on 3.10
            "from s1mmalign.builder.pipeline.config import load_config\n"
            f"cfg = load_config({str(tmp_path / 'c.toml')!r}); print(cfg.stages)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "['ingest', 'write', 'card']" in p.stdout
