"""LaTeX to readable plain text (captions, titles, body paragraphs); math kept readable."""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple, Optional

from s1mmalign.builder.sources.latex.symbols import ACCENTS, GLUED, MATH_ACCENTS, SYMBOLS, UNIT_PREFIXES, UNITS
from s1mmalign.builder.sources.latex.syntax import Unbalanced, read_args, read_group, skip_space
from s1mmalign.core.limits import limits
from s1mmalign.core.sentences import mark

# Commands whose arguments are dropped: (optional args allowed, mandatory count).
_DROP = {
    "label": 1, "cite": 1, "citep": 1, "citet": 1, "citealt": 1, "citealp": 1, "citeauthor": 1, "citeyear": 1,
    "nocite": 1, "footnote": 1, "footnotemark": 0, "footnotetext": 1, "thanks": 1, "vspace": 1, "hspace": 1,
    "vskip": 0, "hskip": 0, "includegraphics": 1, "epsfig": 1, "psfig": 1, "epsfbox": 1, "rule": 2,
    "setlength": 2, "addtolength": 2, "resizebox": 2, "scalebox": 1, "color": 1, "definecolor": 3,
    "index": 1, "phantom": 1, "hphantom": 1, "vphantom": 1, "bibitem": 1, "pagestyle": 1, "thispagestyle": 1,
    "linewidth": 0, "textwidth": 0, "columnwidth": 0, "centering": 0, "raggedright": 0, "raggedleft": 0,
    "small": 0, "footnotesize": 0, "scriptsize": 0, "tiny": 0, "large": 0, "Large": 0, "LARGE": 0, "huge": 0,
    "normalsize": 0, "bf": 0, "it": 0, "rm": 0, "sf": 0, "tt": 0, "em": 0, "sc": 0, "protect": 0, "relax": 0,
    "noindent": 0, "indent": 0, "bigskip": 0, "medskip": 0, "smallskip": 0, "hfill": 0, "vfill": 0, "clearpage": 0,
    "newpage": 0, "left": 0, "right": 0, "big": 0, "Big": 0, "bigg": 0, "Bigg": 0, "bigl": 0, "bigr": 0,
    "Bigl": 0, "Bigr": 0, "displaystyle": 0, "textstyle": 0, "scriptstyle": 0, "nonumber": 0, "notag": 0,
    "Description": 1, "setcounter": 2, "addtocounter": 2, "gridline": -1,
    "numberwithin": 2, "counterwithin": 2, "counterwithout": 2, "stepcounter": 1, "refstepcounter": 1,
    "graphicspath": 1, "addcontentsline": 3, "addtocontents": 2, "url": -1, "ensuremath": -1, "caption": -1, "fontseries": 1, "fontshape": 1, "fontfamily": 1, "fontsize": 2, "usefont": 4,
}
#: An environment's optional argument that is a setting, not text: a length, float placement, key=value.
_ENV_OPTION = re.compile(r"\s*\[\s*(?:[-+]?\d*\.?\d+\s*(?:mm|cm|in|pt|em|ex|bp|pc|\\[A-Za-z]+)|[htbpH!]+|[^\[\]{}]*=[^\[\]{}]*)\s*\]")
_TEXTCOLOR = {"textcolor": 1, "colorbox": 1, "fcolorbox": 2, "href": 1}  # leading args dropped, last kept
#: Reference commands (fancyref's \fref/\Fref print "figure 3"/"Figure 3", as \cref/\Cref do).
_REFS = frozenset("ref cref Cref autoref subref eqref pageref vref Vref cpageref crefrange Crefrange nameref figref Figref "
                  "fref Fref".split())
#: Font and box commands: their group is text to print, never a label key (\texttt{nuance} with a \label{nuance}).
_FONTS = frozenset("textit textbf texttt textsf textrm textsc textsl textup textmd textnormal emph underline uline "
                   "mathrm mathit mathbf mathsf mathtt mathcal mathbb mathfrak mathscr boldsymbol bm text mbox hbox "
                   "makebox fbox path code".split())
_CITES_FIGURE = re.compile(r"\\(?:" + "|".join(sorted(_REFS, key=len, reverse=True)) + r")(?![A-Za-z@])")
#: siunitx commands: (mandatory arguments, whether the last is a unit).
_SIUNITX = {"SI": (2, True), "qty": (2, True), "SIrange": (3, True), "qtyrange": (3, True), "si": (1, True),
            "unit": (1, True), "num": (1, False), "numrange": (2, False), "ang": (1, False)}
#: What the Converter itself prints; a paper's definition of these is not used (shorthands such as
#: \figref, \vref are the paper's when it defines them).
OWN_COMMANDS = frozenset(_DROP) | frozenset(_TEXTCOLOR) | frozenset(_SIUNITX) | (_REFS - {"figref", "Figref", "vref", "Vref"}) | {
    "frac", "dfrac", "tfrac", "cfrac", "nicefrac", "sfrac", "sqrt", "begin", "end", "verb", "string"}
_PARAM = re.compile(r"#(#|[1-9])")
_UNIT_COMMAND = re.compile(r"\\([A-Za-z]+)\s*")


class Macro(NamedTuple):
    r"""A macro the paper defines: ``\newcommand{\name}[n_args][default]{body}`` or ``\def\name#1{body}``."""

    n_args: int
    default: Optional[str]
    body: str


# TeX input ligatures, longest first: "---" before "--".
_LIGATURES = {"---": "\u2014", "--": "\u2013", "``": "\u201c", "''": "\u201d"}
_SCRIPT_TOKEN = re.compile(r"[-+\u2212]?[\w.′*]+[-+\u2212]?|.")


class Converter:
    def __init__(self, refs: Optional[dict] = None, macros: Optional[dict] = None, marks: bool = False):
        self.refs = refs  # label -> (figure id, printed number)
        self.macros = {"texorpdfstring": Macro(2, None, "#1"),  # the TeX form; the PDF string goes to bookmarks
                       **{k: v if isinstance(v, Macro) else Macro(0, None, v) for k, v in (macros or {}).items()}}
        self.marks = marks  # put a contexts marker before each figure reference
        lim = limits()
        self.max_expansions, self.max_chars = lim.macro_expansions, lim.text_chars
        self._expansions = self._chars = 0
        self.over_limit = False  # set when a text hit Limits.macro_expansions / text_chars

    def convert(self, s: str, depth: int = 0) -> str:
        """Plain text of ``s``. User macros expand at most ``Limits.macro_expansions`` times and
        into at most ``Limits.text_chars`` characters per top-level call (then ``over_limit``)."""
        if depth == 0:
            self._expansions = self._chars = 0
        out: list[str] = []
        i, n = 0, len(s)
        while i < n:
            c = s[i]
            if c == "\\":
                i = self._command(s, i, out, depth)
                continue
            if c == "{":
                try:
                    content, j = read_group(s, i)
                except Unbalanced:
                    i += 1
                    continue
                out.append(self.convert(content, depth + 1))
                i = j
                continue
            if c in "}$":
                i += 1
                continue
            if c == "~":
                out.append("\u00a0")
            elif c in "^_":
                j = i + 1
                if j < n and s[j] == "{":
                    try:
                        content, j = read_group(s, j)
                    except Unbalanced:
                        content, j = "", j + 1
                    body = self.convert(content, depth + 1)
                elif j < n and s[j] == "\\":
                    m = re.match(r"\\([A-Za-z]+)", s[j:])
                    body = SYMBOLS.get(m.group(1), "") if m else ""
                    j += m.end() if m else 1
                else:
                    body, j = (s[j] if j < n else ""), j + 1
                body = body.strip()
                if body and set(body) <= {"°", "′", "″"}:
                    out.append(body)
                elif body:  # 10^-3, Ca^2+, f^(1) as written; a longer script keeps its group: q_(j+1)
                    out.append(c + (body if _SCRIPT_TOKEN.fullmatch(body) or body[0] + body[-1] in ("()", "[]") else f"({body})"))
                i = j
                continue
            elif c in "-`'" and (lig := next((lg for lg in _LIGATURES if s.startswith(lg, i)), None)):
                out.append(_LIGATURES[lig])
                i += len(lig)
                continue
            elif c == "&":
                out.append(" ")
            else:
                out.append(c)
            i += 1
        return "".join(out)

    def _command(self, s: str, i: int, out: list, depth: int) -> int:
        m = re.match(r"\\([A-Za-z@]+\*?|.)", s[i:])
        if not m:
            return i + 1
        name, j = m.group(1), i + m.end()
        bare = name.rstrip("*")
        if len(name) == 1 and name in ACCENTS and j < len(s):
            k = skip_space(s, j) if name.isalpha() else j
            if k < len(s) and s[k] == "{":
                try:
                    content, k = read_group(s, k)
                except Unbalanced:
                    content, k = "", k + 1
            else:
                content, k = (s[k] if k < len(s) else ""), k + 1
            base = self.convert(content, depth + 1)
            if base:
                first = {"ı": "i", "ȷ": "j"}.get(base[0], base[0])  # \"{\i}: the dot goes
                out.append(unicodedata.normalize("NFC", first + ACCENTS[name]) + base[1:])
            return k
        if bare == "string" and j < len(s):  # \string\cmd prints the command itself
            m2 = re.match(r"\\[A-Za-z@]+|.", s[j:], re.S)
            out.append(m2.group(0))
            return j + m2.end()
        if bare == "verb" and j < len(s):  # \verb+text+ prints text as is
            end = s.find(s[j], j + 1)
            if end > j:
                out.append(s[j + 1:end])
                return end + 1
            return j
        if bare in self.macros and depth < 8:
            return self._expand(s, j, self.macros[bare], out, depth)
        if bare in MATH_ACCENTS:
            return self._math_accent(s, j, bare, out, depth)
        if bare in _REFS:
            return self._ref(s, i, j, bare, out)
        if bare in _SIUNITX:
            return self._siunitx(s, j, bare, out, depth)
        if bare in ("frac", "dfrac", "tfrac", "cfrac", "nicefrac", "sfrac"):
            try:
                _, args, k = read_args(s, j, 2, 1)  # \nicefrac[\mathrm]{1}{2}: a font
            except Unbalanced:
                return j
            a, b = (self.convert(x, depth + 1).strip() for x in args)
            wrap = lambda t: t if re.fullmatch(r"[\w.′^]+", t) else f"({t})"
            out.append(f"{wrap(a)}/{wrap(b)}")
            return k
        if bare == "sqrt":
            try:
                _, args, k = read_args(s, j, 1, 1)
            except Unbalanced:
                return j
            out.append("√" + (lambda t: t if len(t) == 1 else f"({t})")(self.convert(args[0], depth + 1)))
            return k
        if bare in ("begin", "end"):
            try:
                _, args, k = read_args(s, j, 1, 0)
            except Unbalanced:
                return j
            if bare == "begin" and args[0] in ("tabular", "tabular*", "minipage", "subfigure", "wrapfigure", "array"):
                try:  # skip the environment's own arguments
                    _, _, k = read_args(s, k, 1 if args[0] != "tabular*" else 2, 1)
                except Unbalanced:
                    pass
            elif bare == "begin" and (opt := _ENV_OPTION.match(s, k)):  # \begin{savequote}[75mm], \begin{itemize}[label=-]
                k = opt.end()
            out.append(" ")
            return k
        if bare in _DROP:
            count = _DROP[bare]
            if count == -1:  # keep the (last) argument
                try:
                    _, args, k = read_args(s, j, 1)
                except Unbalanced:
                    return j
                out.append(self.convert(args[-1], depth + 1))
                return k
            if count == 0:  # prints nothing; TeX eats the space after it ({\bf C} is "C")
                return skip_space(s, j)
            try:
                opts, _, k = read_args(s, j, count)
            except Unbalanced:
                return j
            notes = [self.convert(o, depth + 1).strip() for o in opts if bare.startswith("cite") and _CITES_FIGURE.search(o)]
            if notes:  # \citep[Figure~\ref{f}, also see][]{x}: "(Figure 3, also see)"; the reference stays
                out.append(" (" + ", ".join(n for n in notes if n) + ")")
            return k
        if bare in _TEXTCOLOR:
            try:
                _, args, k = read_args(s, j, _TEXTCOLOR[bare] + 1)
            except Unbalanced:
                return j
            out.append(self.convert(args[-1], depth + 1))
            return k
        if name == "\\":  # a line break: \\*[2mm] prints neither its star nor its length
            j += s.startswith("*", j)
            k = skip_space(s, j)
            if s.startswith("[", k) and (end := s.find("]", k)) > 0:
                j = end + 1
        if name in SYMBOLS or bare in SYMBOLS:
            out.append(SYMBOLS.get(name, SYMBOLS.get(bare, "")))
            return skip_space(s, j) if bare in GLUED else j
        # Unknown command: skip optional arguments, keep the content of a following group
        # (\textbf{x}, \emph{x}, \mathrm{x}, user macros with arguments) -- unless that group is
        # the document's label key: a reference macro whose definition is lost prints the number.
        k = j
        while k < len(s) and s[k] == "[":
            try:
                _, k = read_group(s, k, "[", "]")
            except Unbalanced:
                break
        if self.refs and k < len(s) and s[k] == "{" and bare not in _FONTS:
            try:
                key, after = read_group(s, k)
            except Unbalanced:
                return k
            if key.strip() in self.refs and not s.startswith("{", skip_space(s, after)):
                return self._ref(s, i, k, "ref", out)
        return k

    def _math_accent(self, s: str, j: int, name: str, out: list, depth: int) -> int:
        r"""``\bar{s}``, ``\bar s``, ``\bar\nu``: the letter with the accent's combining mark."""
        k = skip_space(s, j)
        try:
            _, args, k = read_args(s, k, 1, 0)
        except Unbalanced:
            return j
        base, mark = self.convert(args[0], depth + 1).strip(), MATH_ACCENTS[name]
        if name in ("bar", "overline"):
            base = "".join(c + mark if c.isalnum() else c for c in base)
        elif base:
            base += mark
        out.append(unicodedata.normalize("NFC", base))
        return k

    def _expand(self, s: str, j: int, macro: "Macro", out: list, depth: int) -> int:
        """A user macro at ``s[j]`` (after its name): its arguments put for ``#1``... in its body,
        then converted. The body's size is counted before it is built (``Limits.text_chars``)."""
        args, k = [], j
        if macro.n_args:
            optional = macro.default is not None
            try:
                opts, args, k = read_args(s, j, macro.n_args - optional, int(optional))
            except Unbalanced:
                return j
            if optional:
                args = [opts[0] if opts else macro.default] + args
        self._expansions += 1
        size = len(macro.body) + sum(len(a) * macro.body.count(f"#{n}") for n, a in enumerate(args, 1))
        if self._expansions > self.max_expansions or self._chars + size > self.max_chars:
            self.over_limit = True
            return k
        values = {"#": "#", **{str(n): a for n, a in enumerate(args, 1)}}  # ## is #; a missing #n is nothing
        text = self.convert(_PARAM.sub(lambda m: values.get(m.group(1), ""), macro.body) if args else macro.body, depth + 1)
        self._chars += size + len(text)
        out.append(text)
        return k

    def _siunitx(self, s: str, j: int, name: str, out: list, depth: int) -> int:
        r"""siunitx as it prints: ``\qty{96}{\mebi\byte}`` "96 MiB", ``\ang{90}`` "90°". physics'
        ``\qty`` (an auto-sized bracket: one group, ``\qty(x)``, ``\qty[x]``) prints its group."""
        group = self._physics_group(s, j) if name == "qty" else None
        if group:
            opening, content, k = group
            out.append(opening + self.convert(content, depth + 1) + {"(": ")", "[": "]", "{": "}"}.get(opening, opening))
            return k
        n_args, has_unit = _SIUNITX[name]
        try:
            _, args, k = read_args(s, j, n_args, 1)
        except Unbalanced:
            return j
        if name == "ang":  # degrees;minutes;seconds
            out.append("".join(self.convert(p, depth + 1).strip() + sym for p, sym in zip(args[0].split(";"), "°′″") if p.strip()))
            return k
        unit = self._unit(args.pop(), depth) if has_unit else ""
        number = " \u2013 ".join(self.convert(a, depth + 1).strip() for a in args)
        out.append(number + ("" if not (number and unit) or unit in ("°", "′", "″") else " ") + unit)
        return k

    @staticmethod
    def _physics_group(s: str, j: int) -> Optional[tuple[str, str, int]]:
        r"""(opening, content, end) of physics' ``\qty`` group at ``s[j]``; None for siunitx's
        ``\qty[options]{number}{unit}`` (two brace groups) or no group."""
        k = skip_space(s, j)
        try:
            if s.startswith("|", k):
                end = s.find("|", k + 1)
                return ("|", s[k + 1:end], end + 1) if end > k else None
            if s.startswith(("(", "["), k):
                content, after = read_group(s, k, s[k], ")" if s[k] == "(" else "]")
                if s[k] == "[" and s.startswith("{", skip_space(s, after)):
                    return None
                return s[k], content, after
            if s.startswith("{", k):
                content, after = read_group(s, k)
                return None if s.startswith("{", skip_space(s, after)) else ("{", content, after)
        except Unbalanced:
            pass
        return None

    def _unit(self, s: str, depth: int) -> str:
        r"""A siunitx unit: ``\kilo\metre\per\second\squared`` "km/s^2", ``\mebi\byte`` "MiB";
        units the paper declares (``\DeclareSIUnit``) and literal text as they print."""
        pieces: list[str] = []
        prefix = power = ""
        i = 0
        while i < len(s):
            m = _UNIT_COMMAND.match(s, i)
            if not m:  # literal text up to the next command: "km/s", "{}"
                end = s.find("\\", i + 1)
                end = len(s) if end < 0 else end
                pieces.append(self.convert(s[i:end], depth + 1).strip())
                i = end
                continue
            name, i = m.group(1), m.end()
            if name in ("tothe", "raiseto"):
                try:
                    _, args, i = read_args(s, i, 1, 0)
                except Unbalanced:
                    break
                if name == "raiseto" or not pieces:
                    power = "^" + args[0].strip()
                else:
                    pieces[-1] += "^" + args[0].strip()
            elif name in ("squared", "cubed"):
                if pieces:
                    pieces[-1] += "^2" if name == "squared" else "^3"
            elif name in ("square", "cubic"):
                power = "^2" if name == "square" else "^3"
            elif name == "per":
                pieces.append("/")
            elif name in UNIT_PREFIXES:
                prefix += UNIT_PREFIXES[name]
            else:
                symbol = UNITS.get(name) or self.convert("\\" + name, depth + 1).strip()
                if symbol:
                    pieces.append(prefix + symbol + power)
                    prefix = power = ""
        return re.sub(r"\s*/\s*", "/", " ".join(p for p in pieces + [prefix] if p))

    _WORDS = {  # (cref, Cref/autoref/fancyref's Fref) words per kind of label
        "figure": ("Fig.", "Figure"), "subfigure": ("Fig.", "Figure"), "table": ("Table", "Table"),
        "chapter": ("Chapter", "Chapter"), "section": ("Section", "Section"), "appendix": ("Appendix", "Appendix"), "equation": ("Eq.", "Equation"),
        "algorithm": ("Algorithm", "Algorithm"),
    }

    def _ref(self, s: str, i: int, j: int, name: str, out: list) -> int:
        n_args = 2 if name.endswith("range") else 1
        try:
            _, args, k = read_args(s, j, n_args, 1)
        except Unbalanced:
            return j
        labels = [l.strip() for a in args for l in a.split(",") if l.strip()]
        refs = self.refs or {}
        parts = []
        for idx, label in enumerate(labels):
            hit = refs.get(label)
            if hit is None:
                parts.append("?" if name != "eqref" else "(?)")
                continue
            fid, number, kind = hit
            if kind == "equation" and name in ("eqref", "cref", "Cref", "autoref", "crefrange", "Crefrange", "fref", "Fref"):
                number = f"({number})"
            if name == "subref" and kind == "subfigure":
                number = f"({number[-1]})"  # the panel's letter
            word = ""
            if name in ("cref", "Cref", "autoref", "crefrange", "Crefrange", "fref", "Fref") and idx == 0:
                short, long_ = self._WORDS.get(kind, ("", ""))
                word = (long_ if name in ("Cref", "autoref", "Crefrange", "Fref") else long_.lower() if name == "fref" else short)
                if name.endswith("range") or len(labels) > 1:
                    word = {"Fig.": "Figs.", "Figure": "Figures", "Eq.": "Eqs.", "Equation": "Equations"}.get(word, word + "s")
                word += "\u00a0"
            parts.append((mark(fid) if self.marks and fid else "") + word + number)
        sep = "\u2013" if name.endswith("range") else ", "
        out.append(sep.join(parts))
        return k


def clean_text(text: str) -> str:
    """Whitespace collapsed; no space left before punctuation by a dropped command (``\\cite``)."""
    text = " ".join(text.replace("\u00a0", " ").split())
    return re.sub(r"(?<=\w) ([.,;:!?])(?=\s|$)", r"\1", text)


def latex_to_text(s: str, macros: Optional[dict] = None) -> str:
    """Plain readable text from a LaTeX fragment (see the module docstring)."""
    return clean_text(Converter(None, macros).convert(s))


# -- paper structure --------------------------------------------------------------------------
