"""LaTeX to readable plain text (captions, titles, body paragraphs); math kept readable."""

from __future__ import annotations

import re
import unicodedata
from typing import Optional

from s1mmalign.builder.sources.latex.syntax import Unbalanced, read_args, read_group, skip_space
from s1mmalign.core.limits import limits
from s1mmalign.core.sentences import mark

SYMBOLS = {
    # Greek
    **dict(zip(("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma "
                "tau upsilon phi chi psi omega").split(), "αβγδεζηθικλμνξοπρστυφχψω")),
    "varepsilon": "ε", "vartheta": "ϑ", "varphi": "φ", "varrho": "ϱ", "varsigma": "ς", "varpi": "ϖ",
    "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π", "Sigma": "Σ",
    "Upsilon": "Υ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
    # operators and relations
    "times": "×", "pm": "±", "mp": "∓", "cdot": "·", "cdots": "⋯", "ldots": "…", "dots": "…", "div": "÷",
    "leq": "≤", "le": "≤", "geq": "≥", "ge": "≥", "neq": "≠", "ne": "≠", "approx": "≈", "simeq": "≃",
    "sim": "~", "propto": "∝", "equiv": "≡", "ll": "≪", "gg": "≫", "infty": "∞", "partial": "∂",
    "nabla": "∇", "sum": "Σ", "prod": "Π", "int": "∫", "oint": "∮", "sqrt": "√", "circ": "°", "degree": "°",
    "rightarrow": "→", "to": "→", "leftarrow": "←", "Rightarrow": "⇒", "leftrightarrow": "↔",
    "langle": "⟨", "rangle": "⟩", "in": "∈", "subset": "⊂", "cup": "∪", "cap": "∩", "hbar": "ħ", "ell": "ℓ",
    "prime": "′", "odot": "⊙", "sun": "☉", "oplus": "⊕", "earth": "⊕", "micro": "µ", "deg": "°", "perp": "⊥", "parallel": "∥", "star": "⋆", "ast": "*", "dagger": "†", "AA": "Å", "angstrom": "Å",
    "log": "log", "ln": "ln", "exp": "exp", "sin": "sin", "cos": "cos", "tan": "tan", "max": "max", "min": "min",
    "lim": "lim", "det": "det",
    # text
    "&": "&", "%": "%", "_": "_", "#": "#", "$": "$", "{": "{", "}": "}", " ": " ", ",": " ", ";": " ", ":": " ",
    "!": "", "/": "", "\\": " ", "-": "", "quad": " ", "qquad": " ", "enspace": " ", "thinspace": " ",
    "textendash": "–", "textemdash": "—", "textdegree": "°", "textmu": "µ", "textpm": "±", "copyright": "©",
    "LaTeX": "LaTeX", "TeX": "TeX", "ss": "ß", "o": "ø", "O": "Ø", "ae": "æ", "AE": "Æ", "l": "ł", "L": "Ł",
    "i": "ı", "textasciitilde": "~", "textbackslash": "\\", "textbar": "|", "S": "§", "P": "¶", "dag": "†",
    "newline": " ", "linebreak": " ", "par": " ",
}
_ACCENTS = {"'": "\u0301", "`": "\u0300", "^": "\u0302", '"': "\u0308", "~": "\u0303", "=": "\u0304",
            ".": "\u0307", "u": "\u0306", "v": "\u030c", "H": "\u030b", "c": "\u0327", "k": "\u0328", "r": "\u030a"}
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
    "url": -1, "ensuremath": -1, "caption": -1,
}
_TEXTCOLOR = {"textcolor": 1, "colorbox": 1, "fcolorbox": 2, "href": 1}  # leading args dropped, last kept


# TeX input ligatures, longest first: "---" before "--".
_LIGATURES = {"---": "\u2014", "--": "\u2013", "``": "\u201c", "''": "\u201d"}


class Converter:
    def __init__(self, refs: Optional[dict] = None, macros: Optional[dict] = None, marks: bool = False):
        self.refs = refs  # label -> (figure id, printed number)
        self.macros = macros or {}
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
                if body == "°" or body == "′":
                    out.append(body)
                elif body:
                    out.append(c + (body if len(body) == 1 else body))
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
        if len(name) == 1 and name in _ACCENTS and j < len(s):
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
                out.append(unicodedata.normalize("NFC", first + _ACCENTS[name]) + base[1:])
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
            self._expansions += 1
            if self._expansions > self.max_expansions or self._chars > self.max_chars:
                self.over_limit = True
                return j
            text = self.convert(self.macros[bare], depth + 1)
            self._chars += len(text)
            out.append(text)
            return j
        if bare in ("ref", "cref", "Cref", "autoref", "subref", "eqref", "pageref", "vref", "Vref", "cpageref",
                    "crefrange", "Crefrange", "nameref", "figref", "Figref"):
            return self._ref(s, i, j, bare, out)
        if bare in ("SI", "qty", "SIrange", "si", "unit", "num"):  # siunitx: number and unit, readable
            n_args = {"SI": 2, "qty": 2, "SIrange": 3, "si": 1, "unit": 1, "num": 1}[bare]
            try:
                _, args, k = read_args(s, j, n_args, 1)
            except Unbalanced:
                return j
            texts = [self.convert(x, depth + 1).strip() for x in args]
            out.append(" \u2013 ".join(texts[:2]) + " " + texts[2] if bare == "SIrange" else " ".join(t for t in texts if t))
            return k
        if bare in ("frac", "dfrac", "tfrac", "cfrac"):
            try:
                _, args, k = read_args(s, j, 2, 0)
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
            if count == 0:
                return j
            try:
                _, _, k = read_args(s, j, count)
            except Unbalanced:
                return j
            return k
        if bare in _TEXTCOLOR:
            try:
                _, args, k = read_args(s, j, _TEXTCOLOR[bare] + 1)
            except Unbalanced:
                return j
            out.append(self.convert(args[-1], depth + 1))
            return k
        if name in SYMBOLS or bare in SYMBOLS:
            out.append(SYMBOLS.get(name, SYMBOLS.get(bare, "")))
            return j
        # Unknown command: skip optional arguments, keep the content of a following group
        # (\textbf{x}, \emph{x}, \mathrm{x}, user macros with arguments).
        k = j
        while k < len(s) and s[k] == "[":
            try:
                _, k = read_group(s, k, "[", "]")
            except Unbalanced:
                break
        return k

    _WORDS = {  # (cref, Cref/autoref) words per kind of label
        "figure": ("Fig.", "Figure"), "subfigure": ("Fig.", "Figure"), "table": ("Table", "Table"),
        "section": ("Section", "Section"), "appendix": ("Appendix", "Appendix"), "equation": ("Eq.", "Equation"),
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
            if kind == "equation" and name in ("eqref", "cref", "Cref", "autoref", "crefrange", "Crefrange"):
                number = f"({number})"
            if name == "subref" and kind == "subfigure":
                number = f"({number.lstrip('0123456789S')})"
            word = ""
            if name in ("cref", "Cref", "autoref", "crefrange", "Crefrange") and idx == 0:
                short, long_ = self._WORDS.get(kind, ("", ""))
                word = (long_ if name in ("Cref", "autoref", "Crefrange") else short)
                if name.endswith("range") or len(labels) > 1:
                    word = {"Fig.": "Figs.", "Figure": "Figures", "Eq.": "Eqs.", "Equation": "Equations"}.get(word, word + "s")
                word += "\u00a0"
            parts.append((mark(fid) if self.marks and fid else "") + word + number)
        sep = "\u2013" if name.endswith("range") else ", "
        out.append(sep.join(parts))
        return k


_NUMBERED = re.compile(
    r"\\(?P<sec>section|subsection|subsubsection)(?P<star>\*?)(?![A-Za-z@])|\\(?P<app>appendix)(?![A-Za-z@])"
    r"|\\begin\s*\{(?P<env>equation|align|eqnarray|gather|multline|flalign)(?P<estar>\*?)\}"
    r"|\\end\s*\{(?P<endenv>equation|align|eqnarray|gather|multline|flalign)\*?\}"
    r"|(?P<nl>\\\\)|\\(?P<nonum>nonumber|notag)(?![A-Za-z@])|\\label\s*\{(?P<label>[^{}]*)\}")


def numbered_labels(text: str) -> dict[str, tuple[str, str, str]]:
    """Labels of sections and equations -> ("", printed number, kind), counted as LaTeX does
    (``\\section`` 1, 2, ... and A, B after ``\\appendix``; one number per equation / per line
    of a multi-line display unless ``\\nonumber``). Floats must already be cut out of ``text``."""
    out: dict[str, tuple[str, str, str]] = {}
    sec, sub, subsub, eq, appendix = 0, 0, 0, 0, False
    current: Optional[tuple[str, str]] = None  # (number, kind) a label would name now
    env: Optional[str] = None
    line_numbered = True
    line_label: Optional[str] = None

    def close_line() -> None:
        nonlocal eq, line_label
        if env and line_numbered:
            eq += 1
            if line_label:
                out[line_label] = ("", str(eq), "equation")
        line_label = None

    for m in _NUMBERED.finditer(text):
        if m.group("sec"):
            if m.group("star"):
                continue
            level = m.group("sec")
            if level == "section":
                sec, sub, subsub = sec + 1, 0, 0
            elif level == "subsection":
                sub, subsub = sub + 1, 0
            else:
                subsub += 1
            head = chr(ord("A") + sec - 1) if appendix and 0 < sec <= 26 else str(sec)
            number = head + (f".{sub}" if level != "section" else "") + (f".{subsub}" if level == "subsubsection" else "")
            current = (number, "appendix" if appendix and level == "section" else "section")
        elif m.group("app"):
            appendix, sec = True, 0
        elif m.group("env"):
            if not m.group("estar"):
                env, line_numbered, line_label = m.group("env"), True, None
        elif m.group("endenv"):
            if env:
                close_line()
            env = None
        elif m.group("nl"):
            if env and env != "equation":
                close_line()
                line_numbered = True
        elif m.group("nonum"):
            line_numbered = False
        elif m.group("label") is not None:
            label = m.group("label").strip()
            if env:
                line_label = label
            elif current:
                out[label] = ("", current[0], current[1])
    return out


def clean_text(text: str) -> str:
    """Whitespace collapsed; no space left before punctuation by a dropped command (``\\cite``)."""
    text = " ".join(text.replace("\u00a0", " ").split())
    return re.sub(r"(?<=\w) ([.,;:!?])(?=\s|$)", r"\1", text)


def latex_to_text(s: str, macros: Optional[dict] = None) -> str:
    """Plain readable text from a LaTeX fragment (see the module docstring)."""
    return clean_text(Converter(None, macros).convert(s))


# -- paper structure --------------------------------------------------------------------------
