"""License strings as papers write them -> exact SPDX ids -> Hub license ids.

One table, no substring guessing: a string is reduced to its words (``Creative Commons
Attribution-NonCommercial 4.0 International``, ``CC-BY-NC 4.0``, ``cc_by_nc_4.0`` and
``https://creativecommons.org/licenses/by-nc/4.0/legalcode`` all read ``cc by nc 4.0``) and
looked up whole. Anything not in the table is unrecognised (``None``): the card then says
``license: other`` and lists the original strings, never a guess.
"""

from __future__ import annotations

import functools
import re
from typing import Optional

_CC_VERSIONS = {
    "by": ("1.0", "2.0", "2.5", "3.0", "4.0"),
    "by-sa": ("1.0", "2.0", "2.5", "3.0", "4.0"),
    "by-nd": ("1.0", "2.0", "2.5", "3.0", "4.0"),
    "by-nc": ("1.0", "2.0", "2.5", "3.0", "4.0"),
    "by-nc-sa": ("1.0", "2.0", "2.5", "3.0", "4.0"),
    "by-nc-nd": ("1.0", "2.0", "2.5", "3.0", "4.0"),
}

#: Every SPDX id the table knows, by its lowercase form.
SPDX: dict[str, str] = {f"cc-{code}-{v}": f"CC-{code.upper()}-{v}" for code, vs in _CC_VERSIONS.items() for v in vs}
SPDX.update({"cc0-1.0": "CC0-1.0", "mit": "MIT", "apache-2.0": "Apache-2.0",
             "bsd-2-clause": "BSD-2-Clause", "bsd-3-clause": "BSD-3-Clause", "gpl-2.0": "GPL-2.0-only",
             "gpl-3.0": "GPL-3.0-only", "lgpl-3.0": "LGPL-3.0-only", "mpl-2.0": "MPL-2.0", "odc-by-1.0": "ODC-By-1.0",
             "odbl-1.0": "ODbL-1.0", "pddl-1.0": "PDDL-1.0", "unlicense": "Unlicense"})

#: SPDX id -> the Hub's license id, for the ids the Hub lists (others are ``other`` on the Hub).
HUB: dict[str, str] = {
    **{f"CC-{c.upper()}-{v}": f"cc-{c}-{v}" for c, v in (
        ("by", "2.0"), ("by", "2.5"), ("by", "3.0"), ("by", "4.0"), ("by-sa", "3.0"), ("by-sa", "4.0"),
        ("by-nc", "2.0"), ("by-nc", "3.0"), ("by-nc", "4.0"), ("by-nd", "4.0"), ("by-nc-nd", "3.0"), ("by-nc-nd", "4.0"),
        ("by-nc-sa", "2.0"), ("by-nc-sa", "3.0"), ("by-nc-sa", "4.0"))},
    "CC0-1.0": "cc0-1.0", "MIT": "mit", "Apache-2.0": "apache-2.0", "BSD-2-Clause": "bsd-2-clause",
    "BSD-3-Clause": "bsd-3-clause", "GPL-2.0-only": "gpl-2.0", "GPL-3.0-only": "gpl-3.0", "LGPL-3.0-only": "lgpl-3.0",
    "MPL-2.0": "mpl-2.0", "ODC-By-1.0": "odc-by", "ODbL-1.0": "odbl", "PDDL-1.0": "pddl", "Unlicense": "unlicense",
}

# Words of the long forms -> the short ones (applied to lowercase text, whole words only).
_WORDS = [
    (r"creative\s*commons", "cc"), (r"attribution", "by"), (r"non-?\s?commercial", "nc"),
    (r"no-?\s?derivati(?:ves|ve|vs)|no-?\s?derivs", "nd"), (r"share-?\s?alike", "sa"),
    (r"public\s+domain\s+dedication|zero", "zero"), (r"apache(?:\s+software)?", "apache"),
]
_DROP = {"license", "licence", "licensed", "public", "international", "unported", "generic", "version", "v", "the",
         "under", "legalcode", "deed", "en", "licenses", "org", "www", "http", "https", "creativecommons", "opensource"}
_CC_URL = re.compile(r"creativecommons\.org/(licenses|publicdomain)/([a-z-]+)/(\d\.\d)(?:/([a-z-]+))?")


def _words(text: str) -> list[str]:
    low = text.lower().strip()
    m = _CC_URL.search(low)
    if m:  # a URL says exactly what it is: its path's code and version
        kind, code, version, port = m.groups()
        if port and port != "legalcode" and not port.startswith("deed"):  # a jurisdiction port or IGO: its own SPDX id
            return []
        if kind == "publicdomain":
            return ["cc0", "1.0"] if code == "zero" and version == "1.0" else []
        return ["cc", *code.split("-"), version]
    for pattern, short in _WORDS:
        low = re.sub(rf"\b(?:{pattern})\b", short, low)
    words = [w.strip(".") for w in re.split(r"[^a-z0-9.+]+", low)]
    words = [w for w in words if w and w not in _DROP]
    if words[:1] in (["ccby"], ["by"]):  # CCBY 4.0, CCBY-NC; "Attribution-NonCommercial 4.0" (the legal name)
        words = ["cc", "by", *words[1:]]
    if words[:1] == ["cc0"] or words[:2] == ["cc", "zero"] or words[:2] == ["cc", "0"]:
        words = ["cc0", *[w for w in words[1:] if w not in ("zero", "0")]]
    return words


def spdx_id(text: Optional[str]) -> Optional[str]:
    """The SPDX id a license string names exactly, or None when it names none (or several)."""
    if not text or not text.strip():
        return None
    outer = re.sub(r"\([^)]*\)", " ", text)
    inner = re.findall(r"\(([^)]*)\)", text)
    ids = {i for i in (_lookup(_words(outer)), *(_lookup(_words(t)) for t in inner)) if i}
    return ids.pop() if len(ids) == 1 else None


def _lookup(words: list[str]) -> Optional[str]:
    if not words:
        return None
    if words[0] == "cc" and len(words) >= 3 and words[1] == "by":
        *parts, version = words[1:]
        flags = set(parts[1:])
        if len(flags) != len(parts) - 1 or not flags <= {"nc", "nd", "sa"} or {"nd", "sa"} <= flags:
            return None
        code = "-".join(["by"] + [f for f in ("nc", "sa", "nd") if f in flags])
        return SPDX.get(f"cc-{code}-{version}")
    if words == ["cc0"] or words == ["cc0", "1.0"]:
        return "CC0-1.0"
    key = "-".join(words)
    aliases = {"mit": "mit", "apache-2.0": "apache-2.0", "apache-2": "apache-2.0", "bsd-3-clause": "bsd-3-clause",
               "bsd-2-clause": "bsd-2-clause", "gpl-3.0": "gpl-3.0", "gpl-3.0-only": "gpl-3.0", "gpl-2.0": "gpl-2.0",
               "gpl-2.0-only": "gpl-2.0", "lgpl-3.0": "lgpl-3.0", "mpl-2.0": "mpl-2.0", "odc-by-1.0": "odc-by-1.0",
               "odbl-1.0": "odbl-1.0", "pddl-1.0": "pddl-1.0", "unlicense": "unlicense"}
    return SPDX.get(aliases[key]) if key in aliases else None


def license_key(text):
    """A license as records store it and filters compare it: its SPDX id in lower case when the string
    names one exactly (``CC BY-NC 4.0``, ``https://creativecommons.org/licenses/by-nc/4.0/`` and
    ``CC-BY-NC-4.0`` are all ``cc-by-nc-4.0``, the release's spelling), else the string as written
    (a non-string as it is). Sources spell licenses every way, so a filter on the raw strings would let
    ``CC-BY-NC 4.0`` through ``("license", "not in", ["cc-by-nc-4.0"])``."""
    if not isinstance(text, str) or len(text) > 500:  # no license name is this long: prose, kept as written
        return text  # (and never a key of the cache below: a hostile stream of huge strings would fill memory)
    return _license_key(text)


@functools.lru_cache(maxsize=4096)
def _license_key(text: str) -> str:
    spdx = spdx_id(text)
    return spdx.lower() if spdx else text


def hub_license(text: Optional[str]) -> Optional[str]:
    """The Hub's license id for a license string, or None (not recognised, or not a Hub id)."""
    spdx = spdx_id(text)
    return HUB.get(spdx) if spdx else None
