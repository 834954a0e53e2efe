"""LaTeX syntax without TeX: comments, brace groups, command arguments."""

from __future__ import annotations

import re
from typing import Iterable

_COMMENT = re.compile(r"(?<!\\)((?:\\\\)*)%.*")
_COMMENT_LINE = re.compile(r"[ \t]*%")
_IFFALSE = re.compile(r"\\iffalse(?![A-Za-z@])")
#: TeX's conditionals, which each end at a \\fi (etoolbox's and ifthen's \\ifthenelse, \\iftoggle, ... take
#: arguments and have none); a name after \\newif, \\let or \\def is a conditional being made, not one opening
_CONDITIONAL = re.compile(r"(?P<made>\\(?:newif|let|[gex]?def)\s*)?\\(?P<word>fi|else|if[A-Za-z@]*)(?![A-Za-z@])")
_PRIMITIVE_IFS = frozenset("if ifx ifnum ifdim ifodd ifcase ifcat iftrue iffalse ifdefined ifcsname ifvmode ifhmode "
                           "ifmmode ifinner ifvoid ifhbox ifvbox ifeof iffontchar ifincsname".split())
#: a conditional made by \\newif: its name ("if@draft")
NEWIF = re.compile(r"\\newif\s*\\(if[A-Za-z@]+)")


def strip_comments(tex: str) -> str:
    r"""Remove ``%`` comments (not ``\%``), ``\iffalse ... \fi`` and ``comment`` environments. A line
    that is only a comment goes with its line end, as in TeX (``%`` eats it): it does not end a paragraph.
    ``\iffalse{\fi`` / ``\iffalse}\fi`` stay: a class's brace-balancing trick (``\iffalse{\fi\ifnum0=`}\fi``
    in aastex631.cls, array.sty), not dead text; without it the braces after it no longer balance."""
    tex = "\n".join(_COMMENT.sub(r"\1", line) if "%" in line else line
                    for line in tex.split("\n") if not _COMMENT_LINE.match(line))
    tex = re.sub(r"\\begin\{comment\}.*?\\end\{comment\}", "", tex, flags=re.S)
    return _drop_iffalse(tex)


def _drop_iffalse(tex: str) -> str:
    r"""``\iffalse dead \else live \fi`` is ``live``: the dead text ends at the ``\else`` or ``\fi``
    of this conditional, not of one nested in it (``\ifx ... \fi``, a ``\newif``'s ``\if@draft``).
    ``\iffalse{\fi`` / ``\iffalse}\fi`` (a class's brace-balancing trick) stays."""
    return choose_branches(tex, {"iffalse": False}) if "\\iffalse" in tex else tex


def choose_branches(tex: str, known: dict[str, bool]) -> str:
    r"""``tex`` with each conditional whose value is ``known`` (``{"iffalse": False, "if@manuscript": True}``)
    replaced by the branch TeX takes; others stay as written (the known ones inside them are chosen)."""
    names = "|".join(re.escape(k) for k in sorted(known, key=len, reverse=True))
    if not names:
        return tex
    opening = re.compile(r"(?<!\\newif)(?<!\\let)(?<!def)\\(" + names + r")(?![A-Za-z@])")
    made = set(NEWIF.findall(tex)) if "\\newif" in tex else set()
    out, pos = [], 0
    for m in opening.finditer(tex):
        if m.start() < pos:
            continue
        depth, otherwise, end = 0, None, None
        for c in _CONDITIONAL.finditer(tex, m.end()):
            word = c.group("word")
            if c.group("made"):
                continue
            if word == "fi":
                if depth == 0:
                    end = c
                    break
                depth -= 1
            elif word == "else":
                if depth == 0 and otherwise is None:
                    otherwise = c
            elif word in _PRIMITIVE_IFS or "@" in word or word in made:
                depth += 1
        if end is None or (otherwise is None and tex[m.end():end.start()].strip() in ("{", "}")):
            continue  # never closed; or a class's brace-balancing \iffalse{\fi: no dead text
        yes, no = tex[m.end():(otherwise or end).start()], tex[otherwise.end():end.start()] if otherwise else ""
        out.append(tex[pos:m.start()])
        out.append(choose_branches(yes if known[m.group(1)] else no, known))
        pos = end.end()
    out.append(tex[pos:])
    return "".join(out)


class Unbalanced(ValueError):
    pass


def read_group(s: str, i: int, open_: str = "{", close: str = "}") -> tuple[str, int]:
    """The content of the group opening at ``s[i]`` and the index after it (escapes respected)."""
    assert s[i] == open_
    depth, j, n = 0, i, len(s)
    while j < n:
        c = s[j]
        if c == "\\":
            j += 2
            continue
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return s[i + 1:j], j + 1
        elif open_ == "[" and c == "{":  # braces inside an optional argument may hold "]"
            _, j = read_group(s, j)
            continue
        j += 1
    raise Unbalanced(f"no closing {close!r} for the {open_!r} at offset {i}: {s[i:i + 60]!r}")


def skip_space(s: str, i: int) -> int:
    while i < len(s) and s[i] in " \t\n\r":
        i += 1
    return i


def read_args(s: str, i: int, n_mandatory: int, max_optional: int = 2) -> tuple[list[str], list[str], int]:
    """Optional ``[...]`` then ``n_mandatory`` ``{...}`` arguments starting at ``s[i]``.

    A mandatory argument may be a single token (``\\input file``). Raises :class:`Unbalanced`.
    """
    opts, args = [], []
    j = skip_space(s, i)
    while len(opts) < max_optional and j < len(s) and s[j] == "[" and not args:
        content, j = read_group(s, j, "[", "]")
        opts.append(content)
        j = skip_space(s, j)
    for _ in range(n_mandatory):
        j = skip_space(s, j)
        if j >= len(s):
            raise Unbalanced("missing argument at end of text")
        if s[j] == "{":
            content, j = read_group(s, j)
        elif s[j] == "\\":
            m = re.match(r"\\([A-Za-z@]+|.)", s[j:])
            content, j = m.group(0), j + m.end()
        else:
            content, j = s[j], j + 1
        args.append(content)
    return opts, args, j


def find_command(s: str, name: str, start: int = 0) -> Iterable[re.Match]:
    """Matches of ``\\name`` (and ``\\name*``) not followed by a letter."""
    return re.finditer(r"\\" + re.escape(name) + r"(?![A-Za-z@])\*?", s[start:] if start else s)


# -- \input / \include ------------------------------------------------------------------------
