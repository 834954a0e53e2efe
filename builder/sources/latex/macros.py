"""The macros a paper defines: what they print (for the :class:`~s1mmalign.builder.sources.latex.text.Converter`),
and where they are, so that a definition in the body prints nothing."""

from __future__ import annotations

import re
from typing import Iterator

from s1mmalign.builder.sources.latex.symbols import SYMBOLS
from s1mmalign.builder.sources.latex.syntax import Unbalanced, read_group
from s1mmalign.builder.sources.latex.text import OWN_COMMANDS, Macro

_DEFINITION = re.compile(
    r"\\(?P<cmd>(?:(?:re)?new|provide)command|DeclareRobustCommand|DeclareSIUnit|DeclareMathOperator)\*?\s*(?:\[[^\]]*\]\s*)?"
    r"(?:\{\s*\\(?P<name>[A-Za-z@]+)\s*\}|\\(?P<bare>[A-Za-z@]+))\s*(?:\[(?P<n>\d)\]\s*(?:\[(?P<default>[^\]]*)\]\s*)?)?(?=\{)"
    r"|\\[gex]?def\s*\\(?P<dname>[A-Za-z@]+)(?P<params>(?:#\d)*)\s*(?=\{)")
#: TeX programming in a macro's body: what it prints is not its text.
_PROGRAMMING = re.compile(r"\\(?:if[A-Za-z@]*|else|fi|[be]group|begingroup|endgroup|catcode|@makeother|secdef|@startsection|csname|"
                          r"expandafter|futurelet|let|[gex]?def|(?:re)?newcommand|@ifnextchar|@ifstar)(?![A-Za-z@])")
_IFMMODE = re.compile(r"\\ifmmode(?![A-Za-z@]).*?\\else(?![A-Za-z@])(.*?)\\fi(?![A-Za-z@])", re.S)


def definitions(text: str) -> Iterator[tuple[re.Match, str, str, int]]:
    """Each macro definition in ``text`` (also one inside another's body): (match, name, body, index after it)."""
    for m in _DEFINITION.finditer(text):
        try:
            body, end = read_group(text, m.end())
        except Unbalanced:
            continue
        yield m, m.group("name") or m.group("bare") or m.group("dname"), body, end


def paper_macros(tex: str) -> dict[str, Macro]:
    """The macros ``tex`` defines, with their arguments (``\\newcommand{\\x}[1]{...}``, ``\\def\\x#1{...}``,
    ``\\DeclareSIUnit``, ``\\DeclareMathOperator``); a later definition wins. Left out: bodies that
    program TeX (``\\ifmmode a\\else b\\fi`` is b), what the Converter prints itself, and a symbol it
    knows unless replaced (``\\renewcommand``, ``\\def``)."""
    out = {}
    for m, name, body, _ in definitions(tex):
        body = _IFMMODE.sub(r"\1", body)
        own = name in OWN_COMMANDS and not (name.endswith("ref") and name != "ref" and m.group("cmd") != "newcommand"
                                            and re.search(r"\\ref(?![A-Za-z@])", body))  # \renewcommand{\eqref}[1]{\ref{eq:#1}}
        if (len(body) >= 400 or own or _PROGRAMMING.search(body)
                or name in SYMBOLS and m.group("cmd") not in (None, "renewcommand", "DeclareRobustCommand")):
            continue
        if m.group("cmd") == "DeclareSIUnit":
            body = f"\\si{{{body}}}"
        n_args = int(m.group("n") or 0) if m.group("cmd") else m.group("params").count("#")
        out[name] = Macro(n_args, m.group("default") if n_args else None, body)
    return out


def cut_definitions(text: str) -> str:
    """``text`` without the macro definitions in it (``\\renewcommand{\\thefigure}{S\\arabic{figure}}``
    in a supplement's first lines prints nothing)."""
    out, pos = [], 0
    for m, _, _, end in definitions(text):
        if m.start() >= pos:
            out.append(text[pos:m.start()])
            pos = end
    return "".join(out) + text[pos:]
