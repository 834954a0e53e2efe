"""The demo's last step: stream a few CLIP-ready batches of the written dataset through the loader."""

from __future__ import annotations

import tempfile


def step_stream(ctx) -> None:
    from s1mmalign.loaders import CLIPCollate, S1MMAlignStream, make_dataloader
    from s1mmalign.loaders.tiny import tiny_clip

    stream = S1MMAlignStream(ctx.dataset, shuffle_buffer=16, seed=0)
    ctx.say(f"stream: {stream.describe()}")
    _, processor = tiny_clip(tempfile.mkdtemp(prefix="s1mmalign-tok-"))
    collate = CLIPCollate(processor)
    loader = make_dataloader(stream, batch_size=4, collate_fn=collate)
    for i, batch in zip(range(3), loader):
        ctx.say(f"  batch {i}: pixel_values {tuple(batch['pixel_values'].shape)}, input_ids "
                f"{tuple(batch['input_ids'].shape)}, captions cut to 77 tokens: {int(batch['captions_cut'])}, "
                f"keys {batch['keys'][:2]}...")
    state = loader.state_dict()
    ctx.say(f"  loader state after 3 batches: {sorted(state)[:3]}... (resumable with load_state_dict)")
    disciplines = sorted(stream.selection.by_discipline)
    one = S1MMAlignStream(ctx.dataset, disciplines=disciplines[:1], shuffle=False)
    ctx.say(f"stream(disciplines={disciplines[:1]}): {one.describe()}; first text: "
            f"{next(iter(one))['text'][:70]!r}")
