"""Licenses: every Creative Commons variant in its common spellings -> its exact SPDX and Hub id;
anything else is `other` on the card with the original strings and their counts."""

import pytest
import yaml

from s1mmalign.builder.shards.write import write_dataset
from s1mmalign.core import contract
from s1mmalign.core.licenses import HUB, hub_license, spdx_id
from tests.conftest import make_records

CODES = ["by", "by-sa", "by-nd", "by-nc", "by-nc-sa", "by-nc-nd"]
LONG = {"by": "Attribution", "by-sa": "Attribution-ShareAlike", "by-nd": "Attribution-NoDerivatives",
        "by-nc": "Attribution-NonCommercial", "by-nc-sa": "Attribution-NonCommercial-ShareAlike",
        "by-nc-nd": "Attribution-NonCommercial-NoDerivatives"}
VERSIONS = ["1.0", "2.0", "2.5", "3.0", "4.0"]


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("version", VERSIONS)
def test_every_cc_variant_in_every_spelling(code, version):
    spdx = f"CC-{code.upper()}-{version}"
    spellings = [
        f"cc-{code}-{version}", f"CC-{code.upper()}-{version}", f"CC {code.upper()} {version}",
        f"CC-{code.upper()} {version}", f"CC {code.upper().replace('-', ' ')} {version}",
        f"cc_{code.replace('-', '_')}_{version}", f"http://creativecommons.org/licenses/{code}/{version}/",
        f"https://creativecommons.org/licenses/{code}/{version}/legalcode",
        f"https://creativecommons.org/licenses/{code}/{version}/deed.en",
        f"Creative Commons {LONG[code]} {version} International License",
        f"{LONG[code]} {version} International",
        f"Creative Commons {LONG[code]} {version} International (CC {code.upper()} {version})",
    ]
    for s in spellings:
        assert spdx_id(s) == spdx, s
        assert hub_license(s) == HUB.get(spdx), s  # the Hub lists some versions only; the rest are `other`
    assert hub_license(f"CC-{code.upper()}-{version}") == (f"cc-{code}-{version}" if spdx in HUB else None)


def test_the_bugs_of_substring_matching_are_gone():
    assert hub_license("cc-by-nc-4.0") == "cc-by-nc-4.0"
    assert hub_license("CC-BY-NC 4.0") == "cc-by-nc-4.0"
    assert hub_license("cc-by-sa-4.0") == "cc-by-sa-4.0"
    assert hub_license("cc-by-nc-nd-4.0") == "cc-by-nc-nd-4.0"
    assert spdx_id("http://creativecommons.org/licenses/by-nd-nc/1.0/") == "CC-BY-NC-ND-1.0"  # the 1.0 URL's order


@pytest.mark.parametrize("text,spdx,hub", [
    ("CC0", "CC0-1.0", "cc0-1.0"), ("https://creativecommons.org/publicdomain/zero/1.0/", "CC0-1.0", "cc0-1.0"),
    ("MIT License", "MIT", "mit"), ("Apache License 2.0", "Apache-2.0", "apache-2.0"), ("Apache-2.0", "Apache-2.0", "apache-2.0"),
    ("http://arxiv.org/licenses/nonexclusive-distrib/1.0/", None, None), ("public domain", None, None),
    ("cc by", None, None),  # no version: not one license
    ("CC BY-ND-SA 4.0", None, None),  # no such license
    ("https://creativecommons.org/licenses/by-nc-nd/3.0/igo/", None, None),  # IGO port: its own id
    ("CC BY 3.0 (CC BY 4.0)", None, None),  # says two things
    ("", None, None), (None, None, None), ("All rights reserved", None, None), ("gpl", None, None),
])
def test_non_cc_and_unrecognised(text, spdx, hub):
    assert spdx_id(text) == spdx
    assert hub_license(text) == hub


def _card(out):
    text = (out / "README.md").read_text()
    return yaml.safe_load(text.split("---")[1]), text


def test_card_of_one_license_and_of_mixed_licenses(tmp_path):
    recs = make_records(6)
    for r in recs:
        r["license"] = "CC-BY-NC 4.0"
    write_dataset(recs, tmp_path / "one")
    head, _ = _card(tmp_path / "one")
    assert head["license"] == "cc-by-nc-4.0"  # was published as cc-by-4.0

    recs = make_records(6)
    for r, lic in zip(recs, ["cc-by-4.0", "CC BY 4.0", "cc-by-nc-sa-4.0", "arXiv nonexclusive", "arXiv nonexclusive", "CC0"]):
        r["license"] = lic
    write_dataset(recs, tmp_path / "mixed")
    head, text = _card(tmp_path / "mixed")
    assert head["license"] == "other"
    details = head["license_details"]
    # records store one spelling per license: "cc-by-4.0" and "CC BY 4.0" are one license, "CC0" is cc0-1.0
    assert "CC-BY-4.0: 2" in details and "CC-BY-NC-SA-4.0: 1" in details and "CC0-1.0: 1" in details
    assert "'arXiv nonexclusive' (not recognised): 2" in details
    assert "| CC-BY-NC-SA-4.0 | cc-by-nc-sa-4.0 | 1 |" in text
    assert "| not recognised | arXiv nonexclusive | 2 |" in text


def test_records_store_one_spelling_per_license_so_plain_filters_work(tmp_path):
    """A license named exactly is stored as its lower-case SPDX id (the release's spelling), so a plain
    filter of HF datasets or pyarrow on the Parquet files drops every spelling of a non-commercial
    license; a string that names no known license is kept as written."""
    import pyarrow.dataset as pads

    spellings = ["CC BY-NC 4.0", "https://creativecommons.org/licenses/by-nc/4.0/legalcode",
                 "Creative Commons Attribution-NonCommercial 4.0 International", "cc-by-4.0",
                 "http://creativecommons.org/licenses/by/4.0/", "arXiv nonexclusive"]
    recs = make_records(len(spellings))
    for r, lic in zip(recs, spellings):
        r["license"] = lic
    write_dataset(recs, tmp_path / "ds")
    data = pads.dataset(str(tmp_path / "ds" / contract.PARQUET_DIR), format="parquet")
    table = data.to_table(columns=["license"])
    assert sorted(table.column("license").to_pylist()) == sorted(
        ["cc-by-nc-4.0"] * 3 + ["cc-by-4.0"] * 2 + ["arXiv nonexclusive"])
    kept = data.to_table(columns=["license"], filter=~pads.field("license").isin(["cc-by-nc-4.0"]))
    assert kept.num_rows == 3
    # and HF datasets' own Parquet filters, as a user of the Hub copy writes them
    import datasets

    hf = datasets.load_dataset(str(tmp_path / "ds"), split="train", cache_dir=str(tmp_path / "hf"),
                               filters=[("license", "not in", ["cc-by-nc-4.0"])])
    assert sorted(hf["license"]) == ["arXiv nonexclusive", "cc-by-4.0", "cc-by-4.0"]


def test_license_key_keeps_prose_and_huge_strings_as_written_and_out_of_its_cache():
    from s1mmalign.core import licenses

    assert licenses.license_key("Creative Commons Attribution-NonCommercial 4.0 International") == "cc-by-nc-4.0"
    huge = "CC BY 4.0 " * 100_000  # a hostile license field: 1 MB
    before = licenses._license_key.cache_info().currsize
    assert licenses.license_key(huge) is huge
    assert licenses._license_key.cache_info().currsize == before
    assert licenses.license_key(None) is None and licenses.license_key("") == ""
