"""The console script: help for every subcommand, `write` from a manifest, and the demo."""

import json
import subprocess
import sys

import datasets
import pytest

from s1mmalign.builder.commands.cli import build_parser
from s1mmalign.builder.commands.demo import SAMPLE_DIR

S1 = [sys.executable, "-m", "s1mmalign.builder.commands.cli"]


def run(*args, check=True):
    p = subprocess.run([*S1, *args], capture_output=True, text=True, timeout=600)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def test_help_for_every_subcommand(capsys):
    assert "usage: s1mmalign" in run("--help").stdout  # the installed entry point, once
    parser = build_parser()
    names = list(parser._subparsers._group_actions[0].choices)
    assert {"write", "demo"} <= set(names)
    for name in names:
        with pytest.raises(SystemExit) as e:
            build_parser().parse_args([name, "--help"])
        assert e.value.code == 0
        assert capsys.readouterr().out.startswith("usage: s1mmalign " + name), name


def test_write_command_from_manifest(tmp_path):
    manifest = tmp_path / "manifest.jsonl"
    lines = (SAMPLE_DIR / "manifest.jsonl").read_text().splitlines()
    bad = json.loads(lines[0])
    bad["key"], bad["discipline"] = "bad_one", "alchemy"
    escape = json.loads(lines[1])
    escape["key"], escape["image"] = "escape", "../../etc/passwd"
    manifest.write_text("\n".join(lines + [json.dumps(bad), json.dumps(escape), "{not json"]) + "\n")
    (tmp_path / "images").symlink_to(SAMPLE_DIR / "images")
    out = tmp_path / "out"
    p = run("write", str(manifest), str(out), "--no-progress")
    assert f"wrote {len(lines)} records" in p.stdout and "rejected 3" in p.stdout
    rejects = [json.loads(x) for x in (out / "reports/rejects.jsonl").read_text().splitlines()]
    assert {r["reason"] for r in rejects} == {"unknown_discipline", "image_outside_root", "malformed_json"}
    ds = datasets.load_dataset(str(out), split="train")
    assert ds.num_rows == len(lines)


def test_errors_are_one_clear_line(tmp_path):
    p = run("write", str(tmp_path / "missing.jsonl"), str(tmp_path / "out"), check=False)
    assert p.returncode == 1 and "error" in p.stderr and "Traceback" not in p.stderr

# The demo end to end: tests/test_safe_commands.py::test_demo_never_deletes_what_it_did_not_write


def test_filter_flags_are_spelled_the_same_in_every_command():
    """--discipline/--disciplines, --modality, --source-name/--sources: one name or a comma list,
    repeatable, checked against the taxonomy, in stream and convert alike."""
    from s1mmalign.builder.commands.cli import build_parser

    parser = build_parser()
    for argv in (["stream", "ds", "--discipline", "physics,biology", "--disciplines", "chemistry"],
                 ["convert", "rel", "out", "--disciplines", "physics,biology", "--discipline", "chemistry"]):
        args = parser.parse_args(argv)
        assert args.disciplines == ["physics", "biology", "chemistry"]
    args = parser.parse_args(["stream", "ds", "--modality", "plot", "--source-name", "arxiv,pmc"])
    assert args.modalities == ["plot"] and args.sources == ["arxiv", "pmc"]
    assert parser.parse_args(["convert", "rel", "out", "--sources", "arxiv"]).sources == ["arxiv"]
    for argv in (["stream", "ds", "--modality", "plots"], ["convert", "rel", "out", "--discipline", "alchemy"]):
        with pytest.raises(SystemExit) as e:
            parser.parse_args(argv)
        assert e.value.code == 2


def test_stream_where_terms_parse_as_the_loaders_where():
    """``s1mmalign stream --where 'COLUMN OP VALUE'`` (repeatable, all must hold) is the loader's where=."""
    from s1mmalign.builder.commands.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["stream", "ds", "--where", "width >= 224", "--where", "license not in cc-by-nc-4.0, cc-by-nc-sa-4.0",
                              "--where", "multi_panel == false", "--where", "source in 'arxiv'", "--where", "clip_score_recaption>0.25",
                              "--where", "year=2021"])
    assert args.where == [("width", ">=", 224), ("license", "not in", ["cc-by-nc-4.0", "cc-by-nc-sa-4.0"]),
                          ("multi_panel", "==", False), ("source", "in", ["arxiv"]), ("clip_score_recaption", ">", 0.25),
                          ("year", "=", 2021)]
    for bad in ("width ~ 3", "width >=", ">= 224", "width in"):
        with pytest.raises(SystemExit) as e:
            parser.parse_args(["stream", "ds", "--where", bad])
        assert e.value.code == 2


def test_stream_where_with_a_reversed_operator_is_a_usage_error(capsys):
    """Before: 'width => 224' parsed as ('width', '=', '> 224') and failed later with 'compares a column of
    int32 with '> 224': give numbers', naming no operator; now argparse's exit 2 names the operator."""
    from s1mmalign.builder.commands.cli import build_parser

    for bad, op in (("width => 224", "=>"), ("width =< 224", "=<"), ("license =! cc-by-4.0", "=!")):
        with pytest.raises(SystemExit) as e:
            build_parser().parse_args(["stream", "ds", "--where", bad])
        assert e.value.code == 2 and f"the operator {op!r} is none of" in capsys.readouterr().err
