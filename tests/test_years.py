"""Publication year: from a source's dates or a paper's identifier, in records and sidecars, and a where= term."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from test_jats import HEAD, article, fig, png

import s1mmalign_dataset as c
from s1mmalign.builder.records.prepare import prepare_record
from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.shards.write import write_dataset
from s1mmalign.builder.sources.jats import read_jats_article
from s1mmalign.builder.sources.release.join import to_record
from s1mmalign.core import contract
from s1mmalign.core.years import paper_year, year_from_id, year_of
from s1mmalign.loaders import S1MMAlignStream
from s1mmalign.loaders.tiny import synthetic_records


@pytest.mark.parametrize("pid,year", [
    ("2101.00123", 2021), ("2101.00123v3", 2021), ("arXiv:0704.0001", 2007), ("hep-th/9901001", 1999),
    ("math.AG/0601001v2", 2006), ("cond-mat/0012345", 2000), ("10.1101/2020.03.04.977751", 2020),
    ("https://doi.org/10.1101/2021.11.02.466990v1", 2021),
    # no year in the identifier: an undated bioRxiv DOI, other DOIs, PMC ids, impossible months and years
    ("10.1101/123456", None), ("10.1038/s41586-020-2012-7", None), ("PMC7092803", None), ("0612.1234", None),
    ("2113.00001", None), ("", None), (None, None),
])
def test_year_from_an_identifier(pid, year):
    assert year_from_id(pid) == year


def test_year_of_a_date_field_and_of_a_record():
    assert [year_of(v) for v in (2021, "2021-03-04", "March 2021", 2021.0)] == [2021] * 4
    assert [year_of(v) for v in (99999, 1200, True, None, "n.d.", "12345", 2021.5)] == [None] * 7
    assert paper_year({"year": 2019, "paper_id": "2101.00123"}) == 2019  # the source's date beats the identifier
    assert paper_year({"year": None, "paper_id": "2101.00123"}) == 2021
    assert paper_year({"paper_id": "10.1038/x"}) is None


def _record(**extra):
    rec = next(synthetic_records(1))
    rec.update(extra)
    return rec


def test_the_contract_holds_a_plausible_year_or_none():
    assert prepare_record(_record(year=2020))[0]["year"] == 2020
    assert prepare_record(_record())[0]["year"] is None
    with pytest.raises(contract.RecordError, match="'year'.*not a publication year"):
        prepare_record(_record(year=20201))
    with pytest.raises(contract.RecordError, match="'year'.*expected int32"):
        prepare_record(_record(year="2020"))


def test_jats_takes_the_first_publications_year(tmp_path):
    paper = tmp_path / "paper"
    png(paper / "a.png")
    dates = ('<pub-date pub-type="ppub"><year>2019</year></pub-date>'
             '<pub-date pub-type="epub"><day>3</day><month>11</month><year>2018</year></pub-date>')
    (paper / "p.nxml").write_text(article(fig("f1", "a.png")).replace("</article-meta>", dates + "</article-meta>"),
                                  encoding="utf-8")
    assert [r["year"] for r in read_jats_article(paper, Rejects())] == [2018]
    # a year no reader can trust is no year
    (paper / "p.nxml").write_text(article(fig("f1", "a.png")).replace(
        "</article-meta>", '<pub-date pub-type="epub"><year>99999</year></pub-date></article-meta>'), encoding="utf-8")
    assert [r["year"] for r in read_jats_article(paper, Rejects())] == [None]
    assert HEAD  # the helpers of test_jats write the article


def test_release_records_take_a_date_field_else_the_arxiv_id():
    rec = {"arxiv_id": "1905.01234", "caption": "A plot.", "title": "T", "abstract": "A."}
    assert to_record("arxiv", rec, b"png", "x.png")["year"] == 2019
    assert to_record("arxiv", dict(rec, publication_date="2020-01-31"), b"png", "x.png")["year"] == 2020
    assert to_record("pmc", {"doi": "10.1038/x", "caption": "A plot."}, b"png", "x.png")["year"] is None


def test_year_is_in_the_sidecar_and_where_selects_by_it_exactly(tmp_path):
    recs = []
    for i, r in enumerate(synthetic_records(60)):
        # arXiv ids of 2018-2023; every third record dated by its source instead, one year later
        r["paper_id"] = f"{18 + i % 6:02d}{1 + i % 12:02d}.{i:05d}"
        if i % 3 == 0:
            r["year"] = 2019 + i % 6
        recs.append(r)
    out = tmp_path / "ds"
    write_dataset(iter(recs), out)
    want = {r["key"] for r in recs if paper_year(r) >= 2021}
    for fmt in ("wds", "parquet"):
        s = S1MMAlignStream(out, format=fmt, where=[("year", ">=", 2021)])
        got = {x["key"]: x["year"] for x in s}
        assert set(got) == want and len(s) == len(want) > 0
        assert all(y is None or y >= 2021 for y in got.values())  # the sample's own field: the source's year or none
    sidecars = sorted((out / "index").rglob("*.tar.idx.parquet"))  # one format's
    years = [y for p in sidecars for y in pq.read_table(p, columns=["year"]).column("year").to_pylist()]
    assert sorted(years) == sorted(paper_year(r) for r in recs)


def test_the_hub_builder_reads_a_shard_written_before_year_as_nulls(tmp_path):
    out = tmp_path / "ds"
    write_dataset(iter(synthetic_records(12)), out)
    for shard in (out / "data").rglob("*.parquet"):  # as a dataset written before the field existed
        table = pq.read_table(shard)
        pq.write_table(table.drop_columns(["year"]), shard)
    b = c.S1MMAlign(config_name="all", data_dir=str(out), cache_dir=str(tmp_path / "cache"))
    rows = list(b.as_streaming_dataset(split="train"))
    assert len(rows) == 12 and all(r["year"] is None for r in rows) and all(r["caption"] for r in rows)


def test_reindex_gives_an_older_dataset_the_year_of_its_arxiv_ids(tmp_path):
    from s1mmalign.builder.commands.reindex import reindex

    recs = list(synthetic_records(24))
    for i, r in enumerate(recs):
        r["paper_id"] = f"{20 + i % 3}{1 + i % 12:02d}.{i:05d}"  # no year field: as records written before it existed
    out = tmp_path / "ds"
    write_dataset(iter(recs), out)
    for p in (out / "index").rglob("*.idx.parquet"):
        pq.write_table(pq.read_table(p).drop_columns(["year"]), p)
    with pytest.raises(ValueError, match="'year' is not in the sample index.*s1mmalign reindex"):
        S1MMAlignStream(out, where=[("year", "==", 2021)])
    for shard in (out / "data").rglob("*.parquet"):  # the shards too, as written before the field existed
        pq.write_table(pq.read_table(shard).drop_columns(["year"]), shard)
    reindex(out)
    want = sorted(r["key"] for r in recs if r["paper_id"].startswith("21"))
    assert sorted(x["key"] for x in S1MMAlignStream(out, where=[("year", "==", 2021)])) == want
    # the rebuilt card declares year; load_dataset reads the shards written without it as nulls
    import datasets

    for streaming in (True, False):
        rows = list(datasets.load_dataset(str(out), split="train", streaming=streaming, cache_dir=str(tmp_path / "hf")))
        assert len(rows) == 24 and all(r["year"] is None and r["caption"] for r in rows)
