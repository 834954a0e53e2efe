"""The recaption stage with the tiny real Qwen2.5-VL (saved and reloaded from a folder), the
``context`` backend, backend selection and load errors."""

from __future__ import annotations

import importlib.util
import json

import pytest
from conftest import draw_figure, make_record

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.stages.recaption import BACKENDS, make_recaptioner
from s1mmalign.builder.stages.recaption.base import Request, prepare_image
from s1mmalign.builder.stages.recaption.prompt import build_prompt
from s1mmalign.builder.stages.recaption.tiny import build_tiny_qwen2_5_vl, build_tiny_qwen3_vl


@pytest.fixture(scope="module")
def qwen(tmp_path_factory):
    path = build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("tiny-qwen"))
    rc = make_recaptioner("transformers", model=str(path), device="cpu", max_new_tokens=12, batch_size=4,
                          max_pixels=112 * 112, retries=1)
    yield path, rc
    rc.close()


def requests_for(n, sizes=((96, 72), (200, 60), (50, 120), (128, 128))):
    out = []
    for i in range(n):
        rec = make_record(i, image=draw_figure(i, size=sizes[i % len(sizes)]), recaption=None,
                          abstract="short" if i % 2 else "A longer abstract. " * (i + 1))
        out.append(Request(rec["key"], build_prompt(rec), rec, prepare_image(rec["image"]["bytes"], 112 * 112)))
    return out


def test_reloaded_from_a_local_folder_with_provenance(qwen):
    path, rc = qwen
    assert rc.backend.revision.startswith("local-")
    assert rc.model_string == f"transformers:{path}@{rc.backend.revision}/prompt-v1"
    assert rc.backend.processor.tokenizer.padding_side == "left"
    out = rc.backend.generate(requests_for(3))
    assert len(out) == 3 and all(isinstance(t, str) for t in out)


def test_batched_generation_equals_one_at_a_time(qwen):
    _, rc = qwen
    reqs = requests_for(4)  # different image sizes and prompt lengths: real padding
    batched = rc.backend.generate(reqs)
    single = [rc.backend.generate([r])[0] for r in reqs]
    assert batched == single


def test_qwen3_vl_loads_and_batches_like_qwen2_5_vl(tmp_path):
    path = build_tiny_qwen3_vl(tmp_path / "tiny-qwen3")
    rc = make_recaptioner("transformers", model=str(path), device="cpu", max_new_tokens=8, max_pixels=128 * 128)
    assert rc.backend._model.config.model_type == "qwen3_vl"
    reqs = requests_for(3)
    assert rc.backend.generate(reqs) == [rc.backend.generate([r])[0] for r in reqs]
    rc.close()


def test_garbage_output_keeps_the_caption_and_is_counted(qwen):
    _, rc = qwen
    records = [make_record(i, recaption=None) for i in range(3)]
    rejects = Rejects()
    out = rc(records, rejects)  # random weights: byte soup, which validation refuses
    for before, after in zip(records, out):
        assert after["caption"] == before["caption"] and after["recaption"] is None
        info = json.loads(after["recaption_info"])
        assert info["attempts"] == 2 and info["error"] in ("garbage_output", "too_short", "empty_output")
        assert info["model"] == rc.model_string and after["recaption_model"] is None
    assert sum(rejects.by_reason().values()) == 3 and all(r.startswith("recaption_") for r in rejects.by_reason())


def test_pixel_cap_reaches_the_processor(qwen):
    _, rc = qwen
    img = prepare_image(draw_figure(0, size=(3000, 2000)), 112 * 112)
    assert img.size[0] * img.size[1] <= 112 * 112 and img.mode == "RGB"
    grid = rc.backend.processor.image_processor(images=[img], return_tensors="pt")["image_grid_thw"]
    assert int(grid.prod()) * 14 * 14 <= 112 * 112 * 1.3  # visual patches bounded by the cap


def test_records_with_a_recaption_are_kept_unless_overwrite():
    rec = make_record(1)  # has a recaption
    rc = make_recaptioner("context")
    assert rc([rec], Rejects())[0]["recaption"] == rec["recaption"] and rc.stats["kept"] == 1
    rc = make_recaptioner("context", overwrite=True)
    assert rc([rec], Rejects())[0]["recaption"] != rec["recaption"]


def test_context_backend_is_extractive_and_labelled():
    rec = make_record(0, recaption=None, citation_contexts=["As shown in Fig. 0, the response saturates.",
                                                            "As shown in Fig. 0, the response saturates."],
                      abstract="Unrelated opening sentence. The response saturates at high temperature. Another one.")
    out = make_recaptioner("context", abstract_sentences=1)([rec], Rejects())[0]
    assert out["recaption_model"] == "context:extractive-fusion@2/prompt-none"
    text = out["recaption"]
    assert text.startswith(rec["caption"]) and text.count("the response saturates.") == 1
    assert "The response saturates at high temperature." in text and "Unrelated" not in text
    bare = make_recaptioner("context")([make_record(1, recaption=None, abstract="", citation_contexts=[],
                                                    caption="A long enough original caption about spin susceptibility data.")],
                                        Rejects())[0]
    assert bare["recaption"] == "A long enough original caption about spin susceptibility data."


def test_unknown_backend_and_unloadable_model_say_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="context, transformers, vllm, openai"):
        make_recaptioner("llava")
    assert BACKENDS == ("context", "transformers", "vllm", "openai")
    empty = tmp_path / "empty-model"
    empty.mkdir()
    with pytest.raises(RuntimeError) as e:
        make_recaptioner("transformers", model=str(empty), device="cpu")
    msg = str(e.value)
    assert "--model DIR" in msg and "--backend context" in msg and "--backend openai" in msg


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed: the missing-extra error cannot occur")
def test_vllm_backend_without_vllm_says_how_to_install():
    with pytest.raises(RuntimeError, match=r"pip install 's1mmalign\[vllm\]'"):
        make_recaptioner("vllm", model="Qwen/Qwen2.5-VL-3B-Instruct")
