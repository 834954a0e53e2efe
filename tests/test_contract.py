"""The dataset contract: taxonomies, keys, schema and validation."""

import pyarrow as pa
import pytest
from conftest import make_record

import s1mmalign_dataset as c
from s1mmalign.builder.records.prepare import prepare_record


def test_every_arxiv_category_maps_to_a_discipline():
    assert len(c.ARXIV_CATEGORY_DISCIPLINE) > 150
    for tag, d in c.ARXIV_CATEGORY_DISCIPLINE.items():
        assert d in c.DISCIPLINES, tag
        assert c.discipline_for_tags(tag) == d or d == "other", tag


@pytest.mark.parametrize("tags, expected", [
    ("hep-th", "physics"), ("cond-mat.str-el", "physics"), ("cond-mat", "physics"), ("math-ph", "physics"),
    ("nlin.CD", "physics"), ("q-bio.NC", "biology"), ("stat.ME", "mathematics"), ("stat.ML", "computer_science"),
    ("eess.IV", "engineering"), ("econ.EM", "other"), ("q-fin.ST", "other"), ("astro-ph", "astronomy"),
    ("astro-ph.CO", "astronomy"), ("physics.ao-ph", "earth_science"), ("physics.chem-ph", "chemistry"),
    ("physics.med-ph", "medicine"), ("math.AG", "mathematics"), ("cs.CV", "computer_science"),
    ("gr-qc", "physics"), ("quant-ph", "physics"), ("chao-dyn", "physics"), ("alg-geom", "mathematics"),
    ("cmp-lg", "computer_science"), ("cs.ZZ", "computer_science"),  # unknown category of a known archive
    ("q-fin.ST cs.LG", "computer_science"),  # 'other' does not decide when another tag does
    ("cs.LG astro-ph.GA", "computer_science"),  # primary first
    (["Neuroscience"], "biology"), ("Cancer Biology", "biology"), ("Epidemiology", "medicine"),
    ("Oncology", "medicine"), ("Radiology and Imaging", "medicine"), ("Organic Chemistry", "chemistry"),
    ("Theoretical and Computational Chemistry", "chemistry"), ("Physical sciences; Optics and photonics", "physics"),
    ("Earth and environmental sciences", "earth_science"), ("Astronomy and astrophysics", "astronomy"),
    ("Marine biology", "biology"), ("", "other"), (None, "other"),
    ("Climate change ecology", "biology"),  # two fields evenly: the head noun (Nature lists it under Ecology)
])
def test_discipline_for_tags(tags, expected):
    assert c.discipline_for_tags(tags) == expected


def test_parse_categories():
    assert c.parse_categories("cs.LG cs.AI") == ["cs.LG", "cs.AI"]
    assert c.parse_categories(["Cell Biology", "Cell Biology", " Genetics "]) == ["Cell Biology", "Genetics"]
    assert c.parse_categories("Cancer Biology") == ["Cancer Biology"]
    assert c.parse_categories("Physical sciences; Optics and photonics") == ["Physical sciences", "Optics and photonics"]
    with pytest.raises(TypeError):
        c.parse_categories(42)


def test_keys_have_no_dots_are_stable_and_unique():
    k1 = c.make_key("arxiv", "2101.00123", "fig:1")
    assert "." not in k1 and c.KEY_RE.match(k1)
    assert k1 == c.make_key("arxiv", "2101.00123", "fig:1")
    assert k1 != c.make_key("arxiv", "2101_00123", "fig:1")
    assert c.make_key("pmc", "10.1371/journal.pone.0001", "F1").startswith("pmc_10_1371_journal_pone_0001_F1_")


def test_schema_and_features_agree():
    assert c.FEATURES.arrow_schema.names == c.SCHEMA.names
    assert c.FEATURES["image"].__class__.__name__ == "Image"
    assert c.SCHEMA.field("image").type == pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    for name in ("key", "caption", "recaption", "title", "abstract", "citation_contexts", "paper_id", "figure_label",
                 "source", "categories", "discipline", "modality", "license", "width", "height", "image_sha256",
                 "clip_score_caption", "clip_score_recaption", "recaption_model"):
        assert name in c.FIELD_NAMES


def test_validation_names_key_and_field():
    good, _ = prepare_record(make_record(1))
    assert good["width"] == 96 and good["height"] == 72 and len(good["image_sha256"]) == 64
    cases = [
        ({"title": None}, "title", "missing"),
        ({"width": "wide"}, "width", "expected int32"),
        ({"citation_contexts": "one sentence"}, "citation_contexts", "list of strings"),
        ({"discipline": "alchemy"}, "discipline", "unknown discipline"),
        ({"modality": "sculpture"}, "modality", "unknown modality"),
        ({"key": "has.dot"}, "key", "no dots"),
        ({"clip_score_caption": float("nan")}, "clip_score_caption", "finite"),
        ({"captoin": "typo"}, "captoin", "unknown field"),
        ({"caption": "", "recaption": None}, "caption", "empty"),
        # any string field, not only the free texts: a hostile 1 MB license or href would be copied into
        # every figure record of its paper
        ({"license": "x" * (1 << 20)}, "license", "too large"),
        ({"image_path": "a/" * (1 << 19)}, "image_path", "too large"),
        ({"categories": ["physics"] * 20_000}, "categories", "too large"),
    ]
    for change, field, words in cases:
        rec = dict(good)
        rec.update(change)
        with pytest.raises(c.RecordError) as e:
            c.validate_record(rec)
        assert e.value.field == field and e.value.key == rec["key"] if field != "key" else True
        assert words in str(e.value), (field, str(e.value))
        assert repr(rec["key"]) in str(e.value)
