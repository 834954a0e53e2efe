"""``openai``: any OpenAI-compatible chat-completions endpoint with image input
(``vllm serve Qwen/Qwen3-VL-8B-Instruct``, SGLang, a hosted API).

Requests run ``concurrency`` at a time, each with a ``timeout``; HTTP 429, 5xx, timeouts and
dropped connections are retried with exponential backoff (honouring ``Retry-After``, capped).
Other 4xx and malformed replies fail the item (the stage may retry it once more). The API key
is read from the environment variable named by ``api_key_env`` and is never logged, printed or
put in an error message. Standard library HTTP only.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import random
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional, Sequence

from s1mmalign.builder.stages.recaption.base import DEFAULT_MAX_PIXELS, Backend, Request

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://localhost:8000/v1"
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class EndpointError(RuntimeError):
    """An item the endpoint did not answer usefully; ``status`` is the HTTP status or None."""

    def __init__(self, msg: str, status: Optional[int] = None):
        self.status = status
        super().__init__(msg)


class MalformedReply(ValueError):
    pass


def encode_image(img, fmt: str = "png") -> str:
    buf = io.BytesIO()
    if fmt == "jpeg":
        img.save(buf, format="JPEG", quality=92)
    else:
        img.save(buf, format="PNG")
    return f"data:image/{fmt};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def parse_reply(body: bytes) -> str:
    """The message text of a chat-completions reply, or :class:`MalformedReply`."""
    try:
        data = json.loads(body)
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise MalformedReply(f"not a chat-completions reply ({type(e).__name__}): {body[:120]!r}") from None
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str):
        raise MalformedReply(f"message content is {type(content).__name__}, not text")
    return content


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(
        self,
        *,
        model: str = "Qwen/Qwen2.5-VL-7B-Instruct",
        base_url: str = DEFAULT_BASE_URL,
        revision: Optional[str] = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 4,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        max_tokens: int = 384,
        temperature: float = 0.0,
        retry_temperature: float = 0.7,
        image_format: str = "png",
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ):
        if image_format not in ("png", "jpeg"):
            raise ValueError("image_format must be 'png' or 'jpeg'")
        self.model, self.revision = model, revision or "unversioned"
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.api_key_env = api_key_env
        self.concurrency, self.timeout = max(1, concurrency), timeout
        self.max_retries, self.backoff, self.max_backoff = max_retries, backoff, max_backoff
        self.max_tokens, self.temperature, self.retry_temperature = max_tokens, temperature, retry_temperature
        self.image_format, self.max_pixels = image_format, max_pixels
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="recaption-http")
        self.http_retries = 0  # retries done so far (429/5xx/timeouts), for reports and tests

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIBackend(model={self.model!r}, url={self.url!r}, key_from=${self.api_key_env})"

    def settings(self) -> dict[str, Any]:
        return {"max_tokens": self.max_tokens, "temperature": self.temperature,
                "image_format": self.image_format, "max_pixels": self.max_pixels}

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _body(self, req: Request, attempt: int) -> bytes:
        content: list[dict] = []
        if req.image is not None:
            content.append({"type": "image_url", "image_url": {"url": encode_image(req.image, self.image_format)}})
        content.append({"type": "text", "text": req.prompt.user})
        return json.dumps({
            "model": self.model,
            "messages": [{"role": "system", "content": req.prompt.system}, {"role": "user", "content": content}],
            "max_tokens": self.max_tokens,
            "temperature": self.temperature if attempt == 0 else self.retry_temperature,
        }).encode("utf-8")

    def _delay(self, k: int, retry_after: Optional[str]) -> float:
        if retry_after:
            try:
                return min(float(retry_after), self.max_backoff)
            except ValueError:
                pass
        return min(self.backoff * 2 ** k, self.max_backoff) * (0.5 + random.random() / 2)

    def _one(self, req: Request, attempt: int):
        body = self._body(req, attempt)
        last: Exception = EndpointError("no attempt made")
        for k in range(self.max_retries + 1):
            retry_after = None
            try:
                r = urllib.request.Request(self.url, data=body, headers=self._headers(), method="POST")
                with urllib.request.urlopen(r, timeout=self.timeout) as resp:
                    return parse_reply(resp.read())
            except urllib.error.HTTPError as e:
                detail = e.read()[:200].decode("utf-8", "replace") if e.fp else ""
                last = EndpointError(f"HTTP {e.code} from {self.url}: {detail}", e.code)
                if e.code not in RETRY_STATUS:
                    return last
                retry_after = e.headers.get("Retry-After") if e.headers else None
            except MalformedReply as e:
                return e
            except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as e:
                reason = getattr(e, "reason", e)
                last = EndpointError(f"{type(reason).__name__} talking to {self.url}: {reason}")
            if k < self.max_retries:
                self.http_retries += 1
                delay = self._delay(k, retry_after)
                log.debug("retrying %s in %.2fs after: %s", req.key, delay, last)
                time.sleep(delay)
        return last

    def _scrub(self, result):
        """An error message never carries the key, even if a server echoes it back."""
        key = os.environ.get(self.api_key_env)
        if isinstance(result, Exception) and key and key in str(result):
            return type(result)(str(result).replace(key, "[api key]"))
        return result

    def generate(self, requests: Sequence[Request], *, attempt: int = 0) -> list:
        return [self._scrub(r) for r in self._pool.map(lambda r: self._one(r, attempt), requests)]

    def close(self) -> None:
        self._pool.shutdown(wait=True)
