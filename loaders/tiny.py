"""Small offline stand-ins for tests, the demo, the example and benchmarks (no downloads).

:func:`synthetic_records` makes contract records with small drawn figures spread over
disciplines and modalities; :func:`char_clip_tokenizer` builds a real ``CLIPTokenizer`` from
a character vocabulary (deterministic, no merges); :func:`tiny_clip` a random-init
``CLIPModel`` and ``CLIPProcessor`` from a small config.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Iterator, Optional

SENTENCES = (
    "The measured signal rises with temperature.",
    "Error bars show one standard deviation over five runs.",
    "Insets magnify the region near the transition.",
    "Colours encode the density of states.",
    "The dashed line is a fit to the model of Section 3.",
    "Scale bar, 10 um.",
    "Panel (b) repeats the experiment at higher field.",
)


COLOURS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 70, 220), "yellow": (235, 210, 40),
           "purple": (140, 50, 170), "grey": (128, 128, 128), "orange": (240, 140, 20), "black": (20, 20, 20)}


def colour_of(i: int) -> str:
    return list(COLOURS)[i % len(COLOURS)]


def figure_bytes(i: int, size: int = 64, fmt: str = "PNG") -> bytes:
    """A small drawn figure (axes, a curve, some bars) on the background ``colour_of(i)``."""
    from PIL import Image, ImageDraw

    rnd = random.Random(i)
    img = Image.new("RGB", (size + i % 7, size), COLOURS[colour_of(i)])
    d = ImageDraw.Draw(img)
    d.line([(4, size - 4), (size - 2, size - 4)], fill=(0, 0, 0))
    d.line([(4, 2), (4, size - 4)], fill=(0, 0, 0))
    pts = [(x, int(size / 2 + rnd.uniform(-1, 1) * size / 3)) for x in range(6, size - 2, 4)]
    d.line(pts, fill=(rnd.randrange(200), rnd.randrange(200), 255), width=2)
    for x in range(8, size - 4, 9):
        d.rectangle([x, size - 4 - rnd.randrange(size // 2), x + 4, size - 4], fill=(200, rnd.randrange(255), 80))
    buf = io.BytesIO()
    img.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def synthetic_records(n: int, *, disciplines=("physics", "biology", "computer_science", "astronomy"),
                      modalities=("plot", "diagram", "microscopy"), seed: int = 0, long_every: int = 3,
                      image_size: int = 64) -> Iterator[dict]:
    """``n`` contract records, round-robin over ``disciplines`` and ``modalities``.

    Captions name the figure's background colour first, so a small CLIP can learn something.
    """
    rnd = random.Random(seed)
    for i in range(n):
        d = disciplines[i % len(disciplines)]
        m = modalities[(i // len(disciplines)) % len(modalities)]
        sents = [SENTENCES[(i + k) % len(SENTENCES)] for k in range(12 if i % long_every == 0 else 2)]
        yield {
            "key": f"s{seed}_{i:06d}",
            "image": {"bytes": figure_bytes(i + seed * 1_000_003, image_size, "JPEG" if i % 5 == 0 else "PNG"), "path": None},
            "caption": f"A {colour_of(i + seed * 1_000_003)} figure. {SENTENCES[i % len(SENTENCES)]}",
            "recaption": " ".join([f"The figure is {colour_of(i + seed * 1_000_003)}.", *sents]) if i % 11 else None,
            "title": f"Paper {i // 3}", "abstract": "An abstract.", "citation_contexts": [],
            "paper_id": f"p{i // 3}", "figure_label": f"fig{i % 3}", "source": ("arxiv", "biorxiv")[i % 2],
            "categories": [], "discipline": d, "modality": m, "license": ("cc-by-4.0", "cc-by-nc-4.0")[i % 3 == 0],
            "clip_score_caption": round(rnd.uniform(0.1, 0.9), 3), "clip_score_recaption": round(rnd.uniform(0.1, 0.9), 3),
        }


def char_clip_tokenizer(folder: str | Path, model_max_length: int = 77):
    """A ``CLIPTokenizer`` over printable ASCII characters (one token per character)."""
    from transformers import CLIPTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chars = [chr(c) for c in range(33, 127)]
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = len(vocab), len(vocab) + 1
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=model_max_length)


def tiny_clip(folder: str | Path, *, image_size: int = 32, context_length: int = 77, seed: int = 0):
    """(CLIPModel with random weights from a small config, CLIPProcessor) — offline, seconds."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor

    tok = char_clip_tokenizer(folder, context_length)
    cfg = CLIPConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=context_length,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        vision_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                           image_size=image_size, patch_size=8),
        projection_dim=32,
    )
    torch.manual_seed(seed)
    model = CLIPModel(cfg)
    ip = CLIPImageProcessorPil(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size})
    return model, CLIPProcessor(image_processor=ip, tokenizer=tok)


def serve_http(root: str | Path, *, fail_every: int = 0, bytes_per_s: Optional[float] = None):
    """Serve ``root`` on a loopback port (HTML listings, Range requests), for remote-read tests.

    ``fail_every``: answer every n-th GET of a shard with 503 (a transient error);
    ``bytes_per_s``: cap each response's rate (a network link). Returns ``(server, state)``;
    ``server.server_address[1]`` is the port, ``state`` counts ``gets``, ``failed`` and ``bytes``,
    and lists the byte ``ranges`` ``(path, first, last)`` served.
    Stop it with ``server.shutdown(); server.server_close()``.
    """
    import http.server
    import threading
    import time

    state = {"gets": 0, "failed": 0, "bytes": 0, "ranges": []}
    lock = threading.Lock()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):
            pass

        def do_GET(self):
            path = Path(self.translate_path(self.path))
            if not path.is_file():
                return super().do_GET()
            if path.suffix in (".tar", ".parquet") and not path.name.endswith(".idx.parquet"):
                with lock:
                    state["gets"] += 1
                    fail = fail_every and state["gets"] % fail_every == 0
                    state["failed"] += bool(fail)
                if fail:
                    self.send_error(503, "try again")
                    return
            size = path.stat().st_size
            rng = self.headers.get("Range")
            a, b = 0, size - 1
            if rng:
                lo, _, hi = rng.split("=", 1)[1].partition("-")
                a, b = int(lo), min(int(hi) if hi else size - 1, size - 1)
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {a}-{b}/{size}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(b - a + 1))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            started = time.perf_counter()
            sent = 0
            try:
                with open(path, "rb") as f:
                    f.seek(a)
                    while sent < b - a + 1:
                        chunk = f.read(min(1 << 16, b - a + 1 - sent))
                        self.wfile.write(chunk)
                        sent += len(chunk)
                        if bytes_per_s:
                            ahead = sent / bytes_per_s - (time.perf_counter() - started)
                            if ahead > 0:
                                time.sleep(ahead)
            except (BrokenPipeError, ConnectionResetError):
                pass
            with lock:
                state["bytes"] += sent
                state["ranges"].append((self.path, a, b))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, state
