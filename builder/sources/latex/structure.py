"""User macros that change which floats and labels a paper has, applied before they are read:
one that wraps ``\\label`` or ``\\caption`` (``\\newcommand{\\figurelabel}[1]{\\label{fig:#1}}``)
is expanded, one that prints nothing (``\\newcommand{\\ignore}[1]{}`` around a draft figure,
``\\newcommand{\\note}[1]{}``) is dropped with its arguments, as LaTeX does; one that opens or closes
an environment (``\\newcommand{\\be}{\\begin{equation}}``) is expanded."""

from __future__ import annotations

import re
from typing import Optional

from s1mmalign.builder.sources.latex.syntax import Unbalanced, read_args, skip_space
from s1mmalign.builder.sources.latex.text import Macro
from s1mmalign.core.limits import limits

_CUT = "\ue010"  # where a command was taken out: a line left with nothing else goes with its line end


def _joined(out: list[str]) -> str:
    """``out`` joined; a line that held only what was taken out is gone, not left blank (a blank
    line would end the paragraph)."""
    text = "".join(out)
    return re.sub(r"\n[ \t]*(?:" + _CUT + r"[ \t]*)+(?=\n)", "", text).replace(_CUT, "")


#: a macro that opens or closes an environment (\\newcommand{\\be}{\\begin{equation}}, \\barr/\\earr for eqnarray):
#: the equations and floats it makes are numbered and read as the environment's
_ENV_SHORTHAND = re.compile(r"\\(?:begin|end)\s*\{[A-Za-z]+\*?\}(?:\s*\[[^\[\]{}]*\])?")


def expand_structural_macros(tex: str, macros: dict[str, Macro]) -> str:
    """``tex`` with the invocations of such macros replaced by their bodies (arguments put in),
    at most ``Limits.macro_expansions`` of them and while the text stays within ``Limits.tex_chars``
    (a body that repeats its argument multiplies it; one pass: a body is not expanded again)."""
    wanted = {name: m for name, m in macros.items()
              if (m.n_args >= 1 and m.default is None
                  and (not m.body.strip() or re.search(r"\\(?:label|caption)(?![A-Za-z@])", m.body)))
              or (not m.n_args and _ENV_SHORTHAND.fullmatch(m.body.strip()))}
    if not wanted:
        return tex
    pattern = re.compile(r"\\(" + "|".join(sorted(map(re.escape, wanted), key=len, reverse=True)) + r")(?![A-Za-z@])")
    lim = limits()
    out, pos, budget, size = [], 0, lim.macro_expansions, len(tex)
    for m in pattern.finditer(tex):
        if m.start() < pos:
            continue  # inside the arguments of the one just replaced
        macro = wanted[m.group(1)]
        try:
            _, args, end = read_args(tex, m.end(), macro.n_args, 0)
        except Unbalanced:
            break  # a group left open runs to the end of the text: no later one closes (and no quadratic rescans)
        budget -= 1
        if budget < 0:
            break
        body = macro.body
        for k, arg in enumerate(args, 1):
            body = body.replace(f"#{k}", arg)
        size += len(body) - (end - m.start())
        if size > lim.tex_chars:
            break
        out += [tex[pos:m.start()], _CUT, body, _CUT]
        pos = end
    out.append(tex[pos:])
    return _joined(out)


_HEADING = re.compile(r"\\(?:(?:sub)*section|(?:sub)?paragraph|chapter|part)(?![A-Za-z@])\*?")


def cut_headings(tex: str) -> str:
    """``tex`` with each sectioning command and its arguments (``\\section[short]{The \\emph{X} model}``)
    turned into a paragraph break: a heading is no sentence of the text around it. So is each list
    ``\\item`` (its label kept): items rarely end with a full stop, and are no sentence of each other."""
    out, pos = [], 0
    for m in _HEADING.finditer(tex):
        if m.start() < pos:
            continue
        try:
            _, _, end = read_args(tex, m.end(), 1, 1)
        except Unbalanced:
            break  # a group left open runs to the end of the text: no later one closes (and no quadratic rescans)
        out += [tex[pos:m.start()], "\n\n"]
        pos = end
    out.append(tex[pos:])
    return _ITEM.sub(lambda m: "\n\n" + (m.group(1) or "") + " ", "".join(out))


#: a list item, with the label it prints in place of its bullet (\item[(c)], a description's \item[Term])
_ITEM = re.compile(r"\\item(?![A-Za-z@])\s*(?:\[([^\[\]{}]*)\])?")


_BOOLEAN_SET = re.compile(r"\\(?:setboolean\s*\{\s*([A-Za-z@]+)\s*\}\s*\{\s*(true|false)\s*\}|(?:new|provide)boolean\s*\{\s*([A-Za-z@]+)\s*\})")
_IFTHENELSE = re.compile(r"\\ifthenelse(?![A-Za-z@])")


def choose_ifthenelse(tex: str, settings: str) -> str:
    r"""``tex`` with each ``\ifthenelse{\boolean{web}}{A}{B}`` (also ``\not\boolean``) replaced by the
    branch LaTeX takes, the booleans as ``settings`` leaves them (``\newboolean`` is false,
    ``\setboolean{web}{true}``); another condition keeps the whole command. At most
    ``Limits.macro_expansions`` replacements."""
    booleans: dict[str, bool] = {}
    for m in _BOOLEAN_SET.finditer(settings):
        if m.group(1):
            booleans[m.group(1)] = m.group(2) == "true"
        else:
            booleans.setdefault(m.group(3), False)
    out, pos, budget = [], 0, limits().macro_expansions
    for m in _IFTHENELSE.finditer(tex):
        if m.start() < pos:
            continue
        try:
            _, (cond, yes, no), end = read_args(tex, m.end(), 3, 0)
        except Unbalanced:
            break  # a group left open runs to the end of the text: no later one closes (and no quadratic rescans)
        test = re.fullmatch(r"\s*(\\(?:not|NOT)\s*)?\\boolean\s*\{\s*([A-Za-z@]+)\s*\}\s*", cond)
        if test is None or test.group(2) not in booleans or (budget := budget - 1) < 0:
            continue
        out += [tex[pos:m.start()], _CUT, yes if booleans[test.group(2)] != bool(test.group(1)) else no, _CUT]
        pos = end
    out.append(tex[pos:])
    return _joined(out)


_CONDITIONAL = re.compile(r"\\(?:newif\s*\\if([A-Za-z@]+)|if(?!thenelse|f(?![A-Za-z@]))([A-Za-z@]*)|(else|fi)|([A-Za-z@]+?)(true|false))(?![A-Za-z@])")


def choose_newif(tex: str) -> str:
    r"""``tex`` with each ``\ifX ... \else ... \fi`` of a ``\newif\ifX`` flag cut to the branch LaTeX
    takes, the flag set as the text goes (false, then ``\Xtrue`` / ``\Xfalse``, also inside a
    chosen branch). Other conditionals (``\ifmmode``, ``\ifx``, ...) stay as written, their
    ``\else`` and ``\fi`` matched to them; an ``\ifsomething{...}`` (etoolbox's ``\ifbool{x}``)
    takes arguments and is no conditional. One pass over the text."""
    flags: dict[str, bool] = {}
    frames: list[Optional[list[bool]]] = []  # per open conditional: [flag, in the else branch], or None (not a flag)
    out, pos, skipped = [], 0, 0  # skipped: open flag conditionals whose current branch LaTeX does not take

    for m in _CONDITIONAL.finditer(tex):
        declared, test, branch, name, value = m.groups()
        if test is not None and test not in flags:
            if not tex.startswith(("{", "["), skip_space(tex, m.end())):
                frames.append(None)
            continue  # written text: kept (or skipped) with what is around it
        if (name and name not in flags) or (branch and (not frames or frames[-1] is None)):
            if branch == "fi" and frames:
                frames.pop()
            continue
        if not skipped:
            out += [tex[pos:m.start()], _CUT]
        pos = m.end()
        if declared:
            flags[declared] = False
        elif test:
            frames.append([flags[test], False])
            skipped += not flags[test]
        elif branch == "else":
            skipped += 1 if frames[-1][0] else -1  # the other branch: taken now if the first was not
            frames[-1][1] = True
        elif branch == "fi":
            flag, in_else = frames.pop()
            skipped -= flag == in_else
        elif not skipped:
            flags[name] = value == "true"
    if not skipped:
        out.append(tex[pos:])
    return _joined(out)
