"""Commands are safe and predictable (issue 12): nothing of the user's deleted, no dataset duplicated
or replaced without --overwrite, an interrupted `write` rerun gives the uninterrupted bytes, and
every ordinary mistake is one line and a nonzero exit. Real subprocesses of the CLI throughout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from s1mmalign.builder.records.manifest import write_manifest
from s1mmalign.builder.shards import target as target_mod
from s1mmalign.core import layout
from tests.conftest import draw_figure, make_records

S1 = [sys.executable, "-m", "s1mmalign.builder.commands.cli"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def run(*args, cwd=None, check=None, timeout=300):
    p = subprocess.run([*S1, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=ENV)
    if check is not None:
        assert p.returncode == check, (p.returncode, p.stdout, p.stderr)
    return p


def one_line_error(p, *needles):
    assert p.returncode != 0, p.stdout
    assert "Traceback" not in p.stderr, p.stderr
    lines = [line for line in p.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1, p.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    folder = tmp_path_factory.mktemp("manifest")
    path = folder / "manifest.jsonl"
    write_manifest(make_records(120), path)
    return path


def dataset_files(out: Path) -> dict[str, bytes]:
    """Every file a reader sees (reports carry timings and are left out)."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and not p.relative_to(out).as_posix().startswith(("reports/", "."))}


# -- write: same command resumes, another is refused, --overwrite replaces -------------------------

def test_same_write_twice_gives_the_same_dataset_not_twice_the_samples(tmp_path, manifest):
    out = tmp_path / "out"
    run("write", manifest, out, "--no-progress", check=0)
    first = dataset_files(out)
    run("write", manifest, out, "--no-progress", check=0)
    assert dataset_files(out) == first
    index = json.loads((out / "index/shards.json").read_text())
    assert index["num_samples"] == 120 and "duplicate_keys" not in index


def test_another_dataset_is_refused_then_replaced_with_overwrite(tmp_path, manifest):
    out = tmp_path / "out"
    run("write", manifest, out, "--no-progress", check=0)
    (out / ".git").mkdir()
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n")  # a Hub clone: not the dataset's, never touched
    before = dataset_files(out)
    p = run("write", manifest, out, "--no-progress", "--formats", "wds")
    one_line_error(p, "--overwrite", str(out))
    assert dataset_files(out) == before  # untouched
    run("write", manifest, out, "--no-progress", "--formats", "wds", "--overwrite", check=0)
    files = dataset_files(out)
    assert not any(f.startswith("data/") for f in files) and any(f.startswith("wds/") for f in files)
    assert (out / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert not (out / target_mod.STAGING).exists() and not (out / target_mod.OLD).exists()


def test_a_folder_of_other_files_is_kept_and_a_dataset_without_marker_is_refused(tmp_path, manifest):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    run("write", manifest, out, "--no-progress", check=0)
    assert (out / "notes.txt").read_text() == "mine"
    (out / target_mod.MARKER).unlink()  # names of a dataset, but nothing shows s1mmalign wrote them
    before = dataset_files(out)
    for extra in ([], ["--overwrite"]):
        one_line_error(run("write", manifest, out, "--no-progress", *extra), "no .s1mmalign.json")
        assert dataset_files(out) == before


def test_overwrite_never_removes_the_users_own_files_named_like_a_datasets(tmp_path, manifest):
    out = tmp_path / "out"
    (out / "data").mkdir(parents=True)
    (out / "data" / "mine.csv").write_text("a,b\n")
    (out / "README.md").write_text("my notes")
    p = run("write", manifest, out, "--no-progress", "--overwrite")
    one_line_error(p, "no .s1mmalign.json")
    assert (out / "data" / "mine.csv").read_text() == "a,b\n" and (out / "README.md").read_text() == "my notes"


def _start_write(manifest, out, *extra):
    return subprocess.Popen([*S1, "write", str(manifest), str(out), "--no-progress", "--tar-shard-mb", "0.05",
                             "--parquet-shard-mb", "0.05", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=ENV, text=True)


def _wait_for_shards(out: Path, n: int, proc, timeout=60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(list((out / target_mod.STAGING).rglob("*.tar"))) >= n:
            return
        assert proc.poll() is None, "finished before it could be interrupted; make the manifest larger"
        time.sleep(0.01)
    raise AssertionError("no shards appeared")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_write_interrupted_at_several_points_then_rerun_is_byte_identical(tmp_path, manifest, sig):
    ref = tmp_path / "ref"
    run("write", manifest, ref, "--no-progress", "--tar-shard-mb", "0.05", "--parquet-shard-mb", "0.05", check=0)
    expected = dataset_files(ref)
    assert sum(f.endswith(".tar") for f in expected) >= 6
    for point in (1, 3, 5):
        out = tmp_path / f"out-{point}"
        proc = _start_write(manifest, out)
        _wait_for_shards(out, point, proc)
        proc.send_signal(sig)
        rc = proc.wait(timeout=60)
        err = proc.stderr.read()
        if rc == 0 and point > 1:  # the last shards and the index landed before the signal did (a loaded
            assert dataset_files(out) == expected, point  # machine): the finished dataset is the whole one
            continue
        assert rc == {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -9}[sig], err
        if sig != signal.SIGKILL:  # one line that says what happened and how to go on
            assert err.strip().count("\n") == 0 and "rerun the same command to resume" in err, err
            assert ("terminated (SIGTERM)" in err) == (sig == signal.SIGTERM), err
        assert not (out / "index").exists()  # nothing under the final names yet
        run("write", manifest, out, "--no-progress", "--tar-shard-mb", "0.05", "--parquet-shard-mb", "0.05", check=0)
        assert dataset_files(out) == expected, point
        assert not (out / target_mod.STAGING).exists()


def test_a_replacement_killed_midway_leaves_the_old_dataset_readable(tmp_path, manifest):
    out = tmp_path / "out"
    run("write", manifest, out, "--no-progress", "--formats", "parquet", check=0)
    old = dataset_files(out)
    proc = _start_write(manifest, out, "--overwrite")
    _wait_for_shards(out, 2, proc)
    proc.kill()
    proc.wait()
    assert dataset_files(out) == old
    assert layout.read_index(out)["num_samples"] == 120


def test_a_kill_while_moving_the_finished_dataset_in_is_finished_by_the_next_run(tmp_path, manifest):
    out = tmp_path / "out"
    run("write", manifest, out, "--no-progress", "--formats", "parquet", check=0)
    run("write", manifest, tmp_path / "new", "--no-progress", "--formats", "wds", check=0)
    staging = out / target_mod.STAGING
    os.rename(tmp_path / "new", staging)  # a finished replacement, killed after moving `data` aside
    target_mod._write_marker(staging, "write", "f" * 32, "complete")
    (out / target_mod.OLD).mkdir()
    os.rename(out / "data", out / target_mod.OLD / "data")
    target_mod.open_target(out, "write", "f" * 32)
    assert (out / "wds").is_dir() and not (out / "data").exists() and not (out / target_mod.OLD).exists()
    assert json.loads((out / target_mod.MARKER).read_text())["state"] == "complete"


def test_folders_with_the_swap_names_that_no_run_made_are_never_deleted(tmp_path):
    """The swap's folder names are removed only with what a swap put there: a `.s1mmalign-old`
    holding other files keeps them, and a `.s1mmalign-staging` without a marker is refused, not
    emptied (only a marker write killed midway, its temporary, is the program's)."""
    out = tmp_path / "out"
    (out / target_mod.OLD / "data").mkdir(parents=True)  # what a swap moves aside, and a user's file
    (out / target_mod.OLD / "notes.txt").write_text("mine")
    target_mod.open_target(out, "write", "f" * 32)
    assert (out / target_mod.OLD / "notes.txt").read_text() == "mine"
    assert not (out / target_mod.OLD / "data").exists()
    other = tmp_path / "other"
    (other / target_mod.STAGING).mkdir(parents=True)
    (other / target_mod.STAGING / "thesis.tex").write_text("mine")
    with pytest.raises(target_mod.TargetError, match="did not write"):
        target_mod.open_target(other, "write", "f" * 32)
    assert (other / target_mod.STAGING / "thesis.tex").read_text() == "mine"
    killed = tmp_path / "killed"  # a run killed while writing its first marker: that is ours to clear
    (killed / target_mod.STAGING).mkdir(parents=True)
    (killed / target_mod.STAGING / f".{target_mod.MARKER}.123-abcdef.tmp").write_text("{")
    target = target_mod.open_target(killed, "write", "f" * 32)
    assert target.path == killed / target_mod.STAGING and not list(target.path.glob("*.tmp"))


# -- write: image paths, empty results, reject rate ------------------------------------------------

def test_absolute_image_paths_and_image_root(tmp_path, manifest):
    lines = manifest.read_text().splitlines()
    recs = [json.loads(x) for x in lines[:10]]
    for r in recs:
        r["image"] = str(manifest.parent / r["image"])  # absolute
    m = tmp_path / "abs.jsonl"
    m.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    p = run("write", m, tmp_path / "out", "--no-progress", check=0)
    assert "wrote 10 records" in p.stdout
    # --image-root confines: inside is fine, outside is a counted reject (and then nothing written: exit 1)
    run("write", m, tmp_path / "in", "--no-progress", "--image-root", manifest.parent, check=0)
    p = run("write", m, tmp_path / "conf", "--no-progress", "--image-root", tmp_path)
    one_line_error(p, "no record written", "10 rejected")
    rejects = (tmp_path / "conf" / target_mod.STAGING / "reports/rejects.jsonl").read_text()
    assert rejects.count("image_outside_root") == 10
    # a failed run's staging is no obstacle to another command
    run("write", manifest, tmp_path / "conf", "--no-progress", check=0)


def test_nothing_written_or_too_many_rejects_is_a_failure(tmp_path, manifest):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"key": "a"}\n{"key": "b"}\n')
    one_line_error(run("write", bad, tmp_path / "o1", "--no-progress"), "no record written", "2 rejected")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    one_line_error(run("write", empty, tmp_path / "o2", "--no-progress"), "no record written")
    lines = manifest.read_text().splitlines()[:19] + ['{"key": "broken"}']
    some = manifest.parent / "some.jsonl"
    some.write_text("\n".join(lines) + "\n")
    run("write", some, tmp_path / "o3", "--no-progress", check=0)  # default: 100 %, 1 of 20 is fine
    one_line_error(run("write", some, tmp_path / "o4", "--no-progress", "--max-reject-rate", "4"),
                   "1 of 20 records rejected", "--max-reject-rate 4")
    assert not (tmp_path / "o4" / "index").exists()


# -- one-line errors ------------------------------------------------------------------------------

def test_mistakes_are_one_line_errors(tmp_path, manifest):
    png = tmp_path / "fig.png"
    png.write_bytes(draw_figure(1))
    one_line_error(run("write", manifest.parent, tmp_path / "o"), "is a folder", "manifest.jsonl")
    one_line_error(run("write", png, tmp_path / "o"), "not a JSON Lines manifest")
    one_line_error(run("write", tmp_path / "missing.jsonl", tmp_path / "o"), "missing.jsonl")
    afile = tmp_path / "afile"
    afile.write_text("x")
    one_line_error(run("write", manifest, afile), "is a file")
    one_line_error(run("stream", manifest), f"{manifest} is a file; name the dataset folder")  # was: .../index/shards.json: not a folder
    assert afile.read_text() == "x" and not (tmp_path / "o").exists()


def test_shard_sizes_must_be_positive(tmp_path, manifest):
    for opt in ("--tar-shard-mb", "--parquet-shard-mb", "--row-group-mb"):
        for v in ("0", "-1"):
            p = run("write", manifest, tmp_path / "o", opt + "=" + v)
            assert p.returncode == 2 and "invalid positive" in p.stderr and "Traceback" not in p.stderr


# -- global options -------------------------------------------------------------------------------

def test_version_quiet_and_verbose_after_the_subcommand(tmp_path, manifest):
    from importlib.metadata import version

    assert run("--version", check=0).stdout.strip() == f"s1mmalign {version('s1mmalign')}"
    p = run("write", manifest, tmp_path / "q", "--quiet", check=0)
    assert p.stdout == "" and p.stderr == ""
    p = run("write", manifest, tmp_path / "v", "-v", "--no-progress", check=0)
    assert "wrote 120 records" in p.stdout
    p = run("-q", "write", manifest, tmp_path / "q2", check=0)
    assert p.stdout == ""


@pytest.mark.parametrize("imported_first", [False, True])
def test_quiet_also_silences_the_hugging_face_libraries_bars(imported_first):
    """``--quiet``: no model loading / saving or dataset preparation bars either (the demo builds tiny models)."""
    code = ("import datasets, transformers\n" if imported_first else "") + (
        "from s1mmalign.core.progress import set_quiet\n"
        "set_quiet(True)\n"
        "import datasets, huggingface_hub.utils, transformers\n"
        "print(huggingface_hub.utils.are_progress_bars_disabled(), transformers.utils.logging.is_progress_bar_enabled(),"
        " datasets.utils.logging.is_progress_bar_enabled())\n")
    env = {k: v for k, v in ENV.items() if "PROGRESS_BARS" not in k}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["True", "False", "False"], p.stdout


def test_progress_is_plain_lines_when_not_a_terminal(tmp_path, manifest):
    p = run("write", manifest, tmp_path / "o", check=0)  # stderr is a pipe
    assert "\r" not in p.stderr


# -- demo -----------------------------------------------------------------------------------------

def test_demo_never_deletes_what_it_did_not_write(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "notes.txt").write_text("mine")
    one_line_error(run("demo", d), "--force", "not empty")
    assert [p.name for p in d.iterdir()] == ["notes.txt"]
    p = run("demo", d, "--force", check=0)  # the whole demo, end to end
    assert "[demo] done" in p.stdout and "load_dataset(" in p.stdout
    (d / "later.txt").write_text("also mine")
    run("demo", d, check=0)  # a previous demo's output: no --force needed; only the demo's files are replaced
    assert (d / "notes.txt").read_text() == "mine" and (d / "later.txt").read_text() == "also mine"
    made = json.loads((d / ".s1mmalign-demo.json").read_text())["made"]
    assert "dataset" in made and "notes.txt" not in made and "later.txt" not in made


# -- the other commands that write a dataset ----------------------------------------------------

def test_build_and_convert_refuse_a_folder_write_made(tmp_path, manifest):
    out = tmp_path / "out"
    run("write", manifest, out, "--no-progress", check=0)
    before = dataset_files(out)
    one_line_error(run("build", "--source", manifest, "--out", out, "--no-progress"), "--overwrite", "s1mmalign write")
    one_line_error(run("convert", tmp_path, out, "--no-progress"), "--overwrite")
    assert dataset_files(out) == before


def test_recaption_into_a_folder_writes_its_manifest(tmp_path, manifest):
    p = run("recaption", manifest, f"{tmp_path / 'rc'}/", "--backend", "context", "--no-cache", "--no-progress", check=0)
    assert (tmp_path / "rc" / "manifest.jsonl").is_file() and not (tmp_path / "rc").is_file(), p.stdout
    (tmp_path / "rc2").mkdir()  # an existing folder, no trailing slash
    run("recaption", manifest, tmp_path / "rc2", "--backend", "context", "--no-cache", "--no-progress", check=0)
    assert (tmp_path / "rc2" / "manifest.jsonl").is_file()
    # the README flow: recaption then write the recaptioned manifest
    run("write", tmp_path / "rc" / "manifest.jsonl", tmp_path / "ds", "--no-progress", check=0)
    # rerunning the same command is fine; another one (other options) over its manifest is refused
    run("recaption", manifest, f"{tmp_path / 'rc'}/", "--backend", "context", "--no-cache", "--no-progress", check=0)
    one_line_error(run("recaption", manifest, f"{tmp_path / 'rc'}/", "--backend", "context", "--no-cache",
                       "--limit", "3", "--no-progress"), "--overwrite")
    mine = tmp_path / "mine.jsonl"
    mine.write_text("{}\n")
    one_line_error(run("recaption", manifest, mine, "--backend", "context", "--no-cache"), "--overwrite")
    assert mine.read_text() == "{}\n"


def test_evaluate_without_a_model_and_a_missing_model_folder(tmp_path, manifest):
    run("write", manifest, tmp_path / "ds", "--no-progress", check=0)
    one_line_error(run("evaluate", tmp_path / "ds", "--clip-model", "", "--mlm-model", ""), "--clip-model")
    one_line_error(run("evaluate", tmp_path / "ds", "--clip-model", tmp_path / "no-such-model", "--mlm-model", ""),
                   "no such folder")
    one_line_error(run("recaption", manifest, tmp_path / "o.jsonl", "--backend", "transformers", "--model", "/no/such/dir"),
                   "no such folder")
    assert not (tmp_path / "ds" / "eval" / "clip_score_hist.png").exists()
    one_line_error(run("evaluate", tmp_path / "no-such-ds", "--mlm-model", ""), "no such dataset folder")  # before any model
    (tmp_path / "empty").mkdir()
    one_line_error(run("evaluate", tmp_path / "empty", "--mlm-model", ""), "no Parquet shards under")


def test_ingest_of_a_folder_without_papers_fails(tmp_path):
    (tmp_path / "empty").mkdir()
    one_line_error(run("ingest", tmp_path / "empty", tmp_path / "o"), "no papers found")
    one_line_error(run("ingest", tmp_path / "empty", tmp_path / "o", "--arxiv-metadata", tmp_path / "nope.json"),
                   "--arxiv-metadata")


def test_hf_urls_without_network_are_one_line(tmp_path, manifest):
    env_off = {"HF_HUB_OFFLINE": "0"}
    for args in (("stream", "hf://datasets/no-org/no-name"), ("convert", "hf://datasets/no-org/no-name", tmp_path / "c")):
        p = subprocess.run([*S1, *map(str, args)], capture_output=True, text=True, timeout=300,
                           env={**ENV, **env_off, "HF_ENDPOINT": "http://127.0.0.1:9"})  # a closed port: no network
        line = one_line_error(p, "cannot reach the network", "a folder instead of a URL")
        assert "--clip-model" not in line and "--model" not in line  # options these commands do not have
    # a model named by its Hub id (evaluate's defaults): the hint names evaluate's model options
    ds = tmp_path / "ds"
    run("write", manifest, ds, check=0)
    p = subprocess.run([*S1, "evaluate", str(ds), "--mlm-model", ""], capture_output=True, text=True, timeout=300,
                       env={**ENV, **env_off, "HF_ENDPOINT": "http://127.0.0.1:9"})
    line = one_line_error(p, "cannot reach the network", "--clip-model, --mlm-model")
    assert "--model)" not in line  # recaption's option, not evaluate's


def test_stream_with_a_filter_exits_cleanly_every_time(tmp_path):
    """Was exit 134 in about one run of four (an Arrow thread releasing a Python buffer during
    interpreter exit). 12 runs here; benchmarks/check_exits.py runs 50."""
    from benchmarks.check_exits import make_datasets, stream_status

    datasets = make_datasets(tmp_path)
    assert [stream_status(datasets["scored"]) for _ in range(4)] == [0] * 4
    assert [stream_status(datasets["unscored"]) for _ in range(8)] == [1] * 8  # selects nothing: one line, exit 1


def test_a_build_config_with_a_zero_shard_size_is_refused_before_work(tmp_path, manifest):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"sources: [{manifest}]\nout: o\nstages: [ingest, write]\nshards: {{tar_shard_mb: 0}}\n")
    one_line_error(run("build", cfg, "--no-progress"), "tar_shard size must be > 0")
    assert not (tmp_path / "o").exists()


def test_a_build_that_finds_no_unit_or_writes_no_record_fails(tmp_path):
    (tmp_path / "empty").mkdir()
    one_line_error(run("build", "--source", tmp_path / "empty", "--out", tmp_path / "o1", "--no-progress"), "no unit found")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"key": "x"}\n')
    one_line_error(run("build", "--source", bad, "--out", tmp_path / "o2", "--no-progress"), "no record written", "1 rejected")


def test_a_mistyped_source_leaves_nothing_that_refuses_the_corrected_command(tmp_path):
    """A wrong path or an empty folder is an ordinary mistake: the run did no work, so it leaves no
    unfinished run behind, and the corrected command goes ahead without --overwrite."""
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")  # the user's: never touched
    one_line_error(run("build", "--source", tmp_path / "empty", "--out", out, "--no-progress"), "no unit found")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    one_line_error(run("convert", tmp_path / "no-such-release", out, "--no-progress"), "not a folder")
    one_line_error(run("convert", tmp_path / "empty", out, "--no-progress"), "no source folders")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    papers = Path(__file__).resolve().parents[1] / "builder" / "sample" / "jats"  # real JATS articles that build
    run("build", "--source", papers, "--out", out, "--recaptioner", "context", "--no-progress", check=0)
    assert (out / "index" / "shards.json").is_file() and (out / "notes.txt").read_text() == "mine"


def test_a_run_that_did_work_is_never_abandoned(tmp_path):
    """:meth:`Target.abandon` removes only what its open made, and nothing once a unit finished a stage."""
    out = tmp_path / "out"
    t = target_mod.open_target(out, "build", "fp", resumable=True, in_place=True)
    done = out / ".build" / "ingest" / "u.done.json"
    done.parent.mkdir(parents=True)
    done.write_text("{}")
    assert not t.abandon() and done.is_file() and (out / target_mod.MARKER).is_file()
    done.unlink()
    assert t.abandon() and not (out / target_mod.MARKER).exists() and not (out / ".build").exists()
    # a staging folder an earlier run of the same command made is that run's, not this one's
    out2 = tmp_path / "out2"
    target_mod.open_target(out2, "convert", "fp", resumable=True)
    again = target_mod.open_target(out2, "convert", "fp", resumable=True)
    assert not again.fresh and not again.abandon() and (out2 / target_mod.STAGING).is_dir()
    fresh = target_mod.open_target(tmp_path / "out3", "convert", "fp", resumable=True)
    assert fresh.abandon() and not (tmp_path / "out3" / target_mod.STAGING).exists()


# -- option mistakes: refused before OUT is touched, or leave nothing that refuses the corrected command --

def test_option_mistakes_leave_no_unfinished_run_behind(tmp_path, manifest):
    """Before: `write --formats parqet` failed after making OUT/.s1mmalign-staging with a 'writing' marker, and
    the corrected command was refused as 'an unfinished run ... with other inputs or options'; the same after
    `recaption DATASET OUT` with a backend that cannot start. Out-of-range numbers were taken as given
    (`--max-reject-rate -5` wrote the dataset, then failed: '0 of 120 rejected (0.0 %), more than -5 %')."""
    out = tmp_path / "out"
    one_line_error(run("write", manifest, out, "--formats", "parqet"), "formats")
    assert not out.exists()
    for opt, value in (("--max-reject-rate", "-5"), ("--max-reject-rate", "150"), ("--parquet-shard-mb", "0")):
        p = run("write", manifest, out, opt, value)
        assert p.returncode == 2 and "invalid" in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert not out.exists()
    run("write", manifest, tmp_path / "ds", "--formats", "parquet", check=0)
    rc = tmp_path / "rc"
    one_line_error(run("recaption", tmp_path / "ds", rc, "--backend", "vllm", "--no-cache"), "vllm")
    assert not (rc / target_mod.STAGING).exists()
    for opt in ("--limit", "--batch-size"):
        p = run("recaption", tmp_path / "ds", rc, "--backend", "context", opt, "0")
        assert p.returncode == 2 and "invalid positive int value: '0'" in p.stderr, p.stderr
    p = run("stream", tmp_path / "ds", "--world-size", "0")
    assert p.returncode == 2 and "invalid positive int value: '0'" in p.stderr, p.stderr
    run("recaption", tmp_path / "ds", rc, "--backend", "context", "--no-cache", check=0)


def test_convert_names_a_mistyped_release_before_looking_at_out(tmp_path, manifest):
    """Before: 'convert /mistyped OUT' with OUT holding a dataset said 'OUT already holds a dataset ...; pass
    --overwrite to replace it', sending the user after the wrong argument; now it names the release."""
    run("write", manifest, tmp_path / "ds", "--formats", "parquet", check=0)
    before = dataset_files(tmp_path / "ds")
    one_line_error(run("convert", tmp_path / "no-such-release", tmp_path / "ds"), "no-such-release: not a folder")
    assert dataset_files(tmp_path / "ds") == before and not (tmp_path / "ds" / target_mod.STAGING).exists()


def test_ingest_does_not_overwrite_a_manifest_it_did_not_write(tmp_path):
    """Before: `ingest PAPERS OUT` with OUT/manifest.jsonl of the user's own replaced it silently (exit 0); now the
    run is refused before any work and the file stays. Rerunning an ingest into its own OUT still resumes."""
    papers = Path(__file__).parents[1] / "builder" / "sample" / "papers"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "manifest.jsonl").write_text('{"my": "records"}\n')
    one_line_error(run("ingest", papers, mine, "--no-progress"), "manifest.jsonl exists", "move the file away")
    assert (mine / "manifest.jsonl").read_text() == '{"my": "records"}\n' and sorted(os.listdir(mine)) == ["manifest.jsonl"]
    afile = tmp_path / "afile"
    afile.write_text("x")
    one_line_error(run("ingest", papers, afile), "is a file, not a folder")
    out = tmp_path / "out"
    first = run("ingest", papers, out, "--no-progress", check=0)
    again = run("ingest", papers, out, "--no-progress", check=0)
    assert first.stdout.split(" (")[0] == again.stdout.split(" (")[0]  # 'ingested 3 units: 5 figure records -> ...'
