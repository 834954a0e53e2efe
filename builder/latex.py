r"""LaTeX sources of one paper -> figures (caption, label, image files) and citing text.

Regular-expression and brace-matching parsing, as the S1-MMAlign recipe does; no TeX is run.

* :class:`PaperFiles` is the paper's file tree (from a tar in memory or a folder on disk);
* :func:`find_main_tex` picks the file with ``\documentclass`` (or ``\documentstyle``);
* :func:`expand_inputs` follows ``\input`` / ``\include`` / ``\subfile`` with a recursion guard;
* :func:`parse_paper` finds ``figure``, ``figure*``, ``wrapfigure`` (and sub-figures from
  ``subfigure`` / ``subcaption`` / ``subfloat``), resolves ``\includegraphics`` with and
  without extensions through ``\graphicspath``, turns captions into plain text with
  :func:`latex_to_text` (math kept readable: ``$\alpha^{2}$`` -> ``α^2``), and collects the
  body paragraphs with every ``\ref`` / ``\cref`` / ``\Cref`` / ``\autoref`` / ``\subref`` to
  a figure marked for :mod:`s1mmalign.builder.contexts`.

Problems never raise: they are listed in ``Paper.problems`` (paper level) and
``Figure.problem`` (figure level) as ``(reason, detail)`` for the rejects report.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from s1mmalign.builder.contexts import mark

MAX_INPUT_DEPTH = 20
GRAPHIC_EXTS = (".pdf", ".png", ".jpg", ".jpeg", ".eps", ".ps", ".gif", ".tif", ".tiff", ".eps.gz", ".svg")
FIGURE_ENVS = ("figure", "figure*", "teaserfigure", "wrapfigure", "wrapfigure*", "SCfigure", "SCfigure*", "sidewaysfigure", "sidewaysfigure*")
TABLE_ENVS = ("table", "table*", "wraptable", "sidewaystable", "sidewaystable*")


# -- the paper's files ------------------------------------------------------------------------

class PaperFiles:
    """A paper's files: relative POSIX names -> bytes. Names are normalised and kept inside
    the paper (``..`` and absolute names are dropped by the readers that build this)."""

    def __init__(self, files: dict[str, bytes] | None = None, root: Optional[Path] = None):
        self._files = files
        self._root = root
        if root is not None:
            self._names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not p.is_symlink())
        else:
            self._names = sorted(files or {})
        self._set = set(self._names)
        self._lower = {n.lower(): n for n in self._names}

    @classmethod
    def from_dir(cls, root: Path) -> "PaperFiles":
        return cls(root=Path(root))

    def names(self) -> list[str]:
        return self._names

    def lookup(self, name: str) -> Optional[str]:
        """The stored name for ``name`` (exact, then case-insensitive), or None."""
        name = relative_name(name)
        if name is None:
            return None
        if name in self._set:
            return name
        return self._lower.get(name.lower())

    def read(self, name: str) -> bytes:
        if self._root is not None:
            from s1mmalign.builder.manifest import safe_join

            p = safe_join(self._root, name, resolve_links=True)  # a link in an unpacked paper must not leave it
            if p is None:
                raise FileNotFoundError(name)
            return p.read_bytes()
        return self._files[name]

    def text(self, name: str) -> str:
        data = self.read(name)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("latin-1")


def relative_name(name: str) -> Optional[str]:
    """A relative POSIX name without ``.``/``..`` components, or None when it leaves the root."""
    name = name.strip().strip('"').replace("\\", "/")
    if not name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None
    norm = posixpath.normpath(name)
    if norm == ".." or norm.startswith("../") or norm == ".":
        return None
    return norm


# -- comments, groups, arguments ---------------------------------------------------------------

_COMMENT = re.compile(r"(?<!\\)((?:\\\\)*)%.*")


def strip_comments(tex: str) -> str:
    r"""Remove ``%`` comments (not ``\%``), ``\iffalse ... \fi`` and ``comment`` environments."""
    tex = "\n".join(_COMMENT.sub(r"\1", line) if "%" in line else line for line in tex.split("\n"))
    tex = re.sub(r"\\begin\{comment\}.*?\\end\{comment\}", "", tex, flags=re.S)
    tex = re.sub(r"\\iffalse\b.*?\\fi\b", "", tex, flags=re.S)
    return tex


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


def _skip_space(s: str, i: int) -> int:
    while i < len(s) and s[i] in " \t\n\r":
        i += 1
    return i


def read_args(s: str, i: int, n_mandatory: int, max_optional: int = 2) -> tuple[list[str], list[str], int]:
    """Optional ``[...]`` then ``n_mandatory`` ``{...}`` arguments starting at ``s[i]``.

    A mandatory argument may be a single token (``\\input file``). Raises :class:`Unbalanced`.
    """
    opts, args = [], []
    j = _skip_space(s, i)
    while len(opts) < max_optional and j < len(s) and s[j] == "[" and not args:
        content, j = read_group(s, j, "[", "]")
        opts.append(content)
        j = _skip_space(s, j)
    for _ in range(n_mandatory):
        j = _skip_space(s, j)
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

_INPUT = re.compile(r"\\(input|include|subfile|subfileinclude)(?![A-Za-z@])\s*(\{[^{}]*\}|[^\s{}\\%]+)")


def _resolve_tex(files: PaperFiles, name: str, base: str) -> Optional[str]:
    for cand in (name, name + ".tex"):
        for b in ("", base):
            found = files.lookup(posixpath.join(b, cand) if b else cand)
            if found:
                return found
    return None


def expand_inputs(files: PaperFiles, main: str, problems: list, *, _stack: tuple = (), _depth: int = 0) -> str:
    """The text of ``main`` with its inputs inlined (comments stripped); cycles and missing
    files are skipped and listed in ``problems`` (``recursive_input``, ``missing_input``)."""
    text = strip_comments(files.text(main))
    base = posixpath.dirname(main)
    stack = _stack + (main,)

    def repl(m: re.Match) -> str:
        raw = m.group(2).strip("{}").strip()
        if not raw or raw.startswith("#"):
            return m.group(0)
        target = _resolve_tex(files, raw, base) or _resolve_tex(files, raw, posixpath.dirname(stack[0]))
        if target is None:
            if m.group(1) == "input" and raw.rsplit(".", 1)[-1].lower() in ("sty", "cls", "clo", "cfg", "def"):
                return ""
            problems.append(("missing_input", f"\\{m.group(1)}{{{raw}}} in {main}: no such file in the paper"))
            return ""
        if target in stack:
            problems.append(("recursive_input", f"{' -> '.join(stack + (target,))}: cycle skipped"))
            return ""
        if _depth >= MAX_INPUT_DEPTH:
            problems.append(("recursive_input", f"\\input nesting deeper than {MAX_INPUT_DEPTH} at {target}"))
            return ""
        return "\n" + expand_inputs(files, target, problems, _stack=stack, _depth=_depth + 1) + "\n"

    return _INPUT.sub(repl, text)


_DOCCLASS = re.compile(r"^[^%\n]*\\document(class|style)\b", re.M)


def has_documentclass(tex: str) -> bool:
    """True when ``tex`` has an uncommented ``\\documentclass`` (or ``\\documentstyle``): a main file."""
    return bool(_DOCCLASS.search(tex))


def find_main_tex(files: PaperFiles) -> Optional[str]:
    """The main ``.tex``: has ``\\documentclass``; ties broken by ``\\begin{document}``, a
    conventional name (main, ms, paper, article), then size."""
    best, best_score = None, None
    for name in files.names():
        low = name.lower()
        if not low.endswith((".tex", ".ltx", ".latex")) and "." in posixpath.basename(name):
            continue
        try:
            head = files.text(name)
        except (OSError, KeyError):
            continue
        if not _DOCCLASS.search(head):
            continue
        stem = posixpath.splitext(posixpath.basename(low))[0]
        score = ("\\begin{document}" in head, stem in ("main", "ms", "paper", "article", "manuscript"),
                 -name.count("/"), len(head))
        if best_score is None or score > best_score:
            best, best_score = name, score
    return best


# -- LaTeX -> plain text ----------------------------------------------------------------------

_SYMBOLS = {
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


class _Converter:
    def __init__(self, refs: Optional[dict] = None, macros: Optional[dict] = None, marks: bool = False):
        self.refs = refs  # label -> (figure id, printed number)
        self.macros = macros or {}
        self.marks = marks  # put a contexts marker before each figure reference

    def convert(self, s: str, depth: int = 0) -> str:
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
                    body = _SYMBOLS.get(m.group(1), "") if m else ""
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
            k = _skip_space(s, j) if name.isalpha() else j
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
            out.append(self.convert(self.macros[bare], depth + 1))
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
        if name in _SYMBOLS or bare in _SYMBOLS:
            out.append(_SYMBOLS.get(name, _SYMBOLS.get(bare, "")))
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


def _numbered_labels(text: str) -> dict[str, tuple[str, str, str]]:
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


def _clean(text: str) -> str:
    """Whitespace collapsed; no space left before punctuation by a dropped command (``\\cite``)."""
    text = " ".join(text.replace("\u00a0", " ").split())
    return re.sub(r"(?<=\w) ([.,;:!?])(?=\s|$)", r"\1", text)


def latex_to_text(s: str, macros: Optional[dict] = None) -> str:
    """Plain readable text from a LaTeX fragment (see the module docstring)."""
    return _clean(_Converter(None, macros).convert(s))


# -- paper structure --------------------------------------------------------------------------

@dataclass
class Figure:
    index: int  # 1-based figure number in document order
    env: str
    label: Optional[str] = None
    caption: str = ""
    graphics: list[str] = field(default_factory=list)  # names as written
    files: list[Optional[str]] = field(default_factory=list)  # resolved names in the paper (None: missing)
    sublabels: list[str] = field(default_factory=list)
    subcaptions: list[str] = field(default_factory=list)
    is_table: bool = False
    problem: Optional[tuple[str, str]] = None

    @property
    def id(self) -> str:
        return self.label or f"figure{self.index}"

    @property
    def display_label(self) -> str:
        return self.label or f"Figure {self.index}"


@dataclass
class Paper:
    main: Optional[str]
    title: str = ""
    abstract: str = ""
    figures: list[Figure] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)  # plain text with contexts markers
    problems: list[tuple[str, str]] = field(default_factory=list)

    def numbers(self) -> dict[str, str]:
        """Figure id -> printed number, in order (what :func:`contexts.find_citations` takes)."""
        return {f.id: str(f.index) for f in self.figures if not f.is_table}


#: Commands that show an image file: name -> (mandatory arguments, which one is the file).
#: ``\fig``/``\rotatefig``/``\plotone``/``\plottwo`` are AASTeX's, ``\incfig`` AIAA's.
GRAPHICS_COMMANDS: dict[str, tuple[int, tuple[int, ...]]] = {
    "includegraphics": (1, (0,)), "epsfig": (1, (0,)), "psfig": (1, (0,)), "epsfbox": (1, (0,)),
    "epsffile": (1, (0,)), "plotone": (1, (0,)), "plottwo": (2, (0, 1)), "includepdf": (1, (0,)),
    "fig": (3, (0,)), "rotatefig": (4, (1,)), "incfig": (1, (0,)), "includesvg": (1, (0,)),
}


def _graphics_in(body: str, commands: dict = GRAPHICS_COMMANDS) -> list[str]:
    names = []
    pattern = re.compile(r"\\(" + "|".join(sorted(map(re.escape, commands), key=len, reverse=True)) + r")(?![A-Za-z@])\*?")
    for m in pattern.finditer(body):
        cmd = m.group(1)
        n, which = commands[cmd]
        try:
            _, args, _ = read_args(body, m.end(), n)
        except Unbalanced:
            continue
        for a in (args[k] for k in which):
            a = a.strip()
            if cmd in ("epsfig", "psfig"):
                kv = re.search(r"(?:file|figure)\s*=\s*([^,}\s]+)", a)
                if not kv:
                    continue
                a = kv.group(1)
            if a and "#" not in a:
                names.append(a)
    return names


def _graphics_macros(tex: str) -> dict[str, tuple[int, tuple[int, ...]]]:
    """User macros that wrap a graphics command, e.g. ``\newcommand{\fig}[2]{...\includegraphics{#1}...}``."""
    out = {}
    for m in re.finditer(r"\\(?:re)?newcommand\*?\s*\{?\\([A-Za-z@]+)\}?\s*\[(\d)\](?:\[[^\]]*\])?\s*(?=\{)", tex):
        try:
            body, _ = read_group(tex, m.end())
        except Unbalanced:
            continue
        hit = re.search(r"\\(?:includegraphics|epsfig|plotone|epsfbox)\*?\s*(?:\[[^\]]*\])?\s*\{[^{}]*#(\d)", body)
        if hit:
            out[m.group(1)] = (int(m.group(2)), (int(hit.group(1)) - 1,))
    return out


def _graphicspath(tex: str) -> list[str]:
    dirs = []
    for m in find_command(tex, "graphicspath"):
        try:
            _, args, _ = read_args(tex, m.end(), 1, 0)
        except Unbalanced:
            continue
        dirs += [d.strip() for d in re.findall(r"\{([^{}]*)\}", args[0]) if d.strip()]
    return dirs


def resolve_graphic(files: PaperFiles, name: str, base: str, search: list[str]) -> Optional[str]:
    """The paper file ``\\includegraphics{name}`` shows: tried under the main file's folder and
    every ``\\graphicspath`` entry, as written and with each known extension."""
    name = name.strip().strip('"')
    stem, ext = posixpath.splitext(name)
    tries = [name] if ext.lower() in GRAPHIC_EXTS else []
    tries += [name + e for e in GRAPHIC_EXTS]
    if ext.lower() in GRAPHIC_EXTS:  # arXiv often converts .eps to .pdf: accept a sibling
        tries += [stem + e for e in GRAPHIC_EXTS if e != ext.lower()]
    for d in [""] + search:
        for t in tries:
            for b in {base, ""}:
                cand = posixpath.join(b, d, t) if (b or d) else t
                found = files.lookup(cand)
                if found:
                    return found
    return None


_ENV_RE = re.compile(r"\\begin\s*\{(" + "|".join(re.escape(e) for e in FIGURE_ENVS + TABLE_ENVS) + r")\}")


def _env_end(tex: str, env: str, start: int) -> int:
    """Index just after the ``\\end{env}`` matching the ``\\begin{env}`` ending at ``start``."""
    pat = re.compile(r"\\(begin|end)\s*\{" + re.escape(env) + r"\}")
    depth = 1
    for m in pat.finditer(tex, start):
        depth += 1 if m.group(1) == "begin" else -1
        if depth == 0:
            return m.end()
    raise Unbalanced(f"\\begin{{{env}}} without \\end{{{env}}}")


def _sub_parts(body: str) -> tuple[str, list[tuple[str, str]]]:
    """Split sub-figures out of a figure body: (body without them, [(sub text, sub caption)])."""
    subs: list[tuple[str, str]] = []
    rest = body
    # \begin{subfigure}...\end{subfigure} (subcaption), also subfloat/minipage holding a \caption
    for env in ("subfigure", "subfloat", "minipage"):
        while True:
            m = re.search(r"\\begin\s*\{" + env + r"\}", rest)
            if not m:
                break
            try:
                end = _env_end(rest, env, m.end())
            except Unbalanced:
                break
            inner = rest[m.end():end]
            cap = _caption_args(inner)
            if env == "minipage" and cap is None:
                rest = rest[:m.start()] + inner[: inner.rfind("\\end")] + rest[end:]
                continue
            subs.append((inner, cap or ""))
            rest = rest[:m.start()] + " " + rest[end:]
    # \subfloat[cap]{...}, \subfigure[cap]{...} (subfig / subfigure packages), \subcaptionbox{cap}{...}
    for cmd, cap_first in (("subfloat", False), ("subfigure", False), ("subcaptionbox", True)):
        while True:
            m = re.search(r"\\" + cmd + r"(?![A-Za-z@])\*?", rest)
            if not m:
                break
            try:
                opts, args, end = read_args(rest, m.end(), 2 if cap_first else 1, 2)
            except Unbalanced:
                break
            cap = args[0] if cap_first else (opts[-1] if opts else "")
            subs.append((" ".join(args), cap))
            rest = rest[:m.start()] + " " + rest[end:]
    return rest, subs


def _caption_args(body: str) -> Optional[str]:
    """The long argument of the last ``\\caption`` in ``body`` (None: no caption)."""
    found = None
    for m in re.finditer(r"\\caption(?![A-Za-z@])\*?|\\captionof\*?\s*\{(?:figure|table)\}", body):
        try:
            _, args, _ = read_args(body, m.end(), 1, 1)
        except Unbalanced as e:
            raise Unbalanced(f"\\caption: {e}") from None
        found = args[0]
    return found


def _labels(body: str) -> list[str]:
    return [l.strip() for l in re.findall(r"\\label\s*\{([^{}]*)\}", body) if l.strip()]


def _macros(tex: str) -> dict[str, str]:
    """Zero-argument macros (``\\newcommand{\\x}{...}``, ``\\def\\x{...}``) for captions."""
    out = {}
    for m in re.finditer(r"\\(?:re)?newcommand\*?\s*\{?\\([A-Za-z@]+)\}?\s*(?=\{)|\\def\s*\\([A-Za-z@]+)\s*(?=\{)", tex):
        name = m.group(1) or m.group(2)
        try:
            body, _ = read_group(tex, m.end())
        except Unbalanced:
            continue
        if "#" not in body and name not in _SYMBOLS and len(body) < 400:
            out[name] = body
    return out


def _title_abstract(tex: str, conv: _Converter) -> tuple[str, str]:
    title = abstract = ""
    m = re.search(r"\\title(?![A-Za-z@])\*?", tex)
    if m:
        try:
            _, args, _ = read_args(tex, m.end(), 1, 1)
            title = _clean(conv.convert(args[0]))
        except Unbalanced:
            pass
    m = re.search(r"\\begin\{abstract\}(.*?)\\end\{abstract\}", tex, re.S)
    if m:
        abstract = m.group(1)
    else:
        m = re.search(r"\\abstract(?![A-Za-z@])", tex)
        if m:
            try:
                _, args, _ = read_args(tex, m.end(), 1, 0)
                abstract = args[0]
            except Unbalanced:
                pass
    return title, _clean(conv.convert(abstract))


def parse_paper(files: PaperFiles, main: Optional[str] = None) -> Paper:
    """Parse one paper (see the module docstring). ``Paper.main`` is None when no main file exists."""
    main = main or find_main_tex(files)
    paper = Paper(main=main)
    if main is None:
        paper.problems.append(("no_main_tex", "no .tex file with \\documentclass"))
        return paper
    tex = expand_inputs(files, main, paper.problems)
    tex = re.sub(r"\\begin\{(verbatim|lstlisting|minted)\}.*?\\end\{\1\}", " ", tex, flags=re.S)
    if tex.count("{") - tex.count("\\{") != tex.count("}") - tex.count("\\}"):
        paper.problems.append(("unbalanced_braces", f"{tex.count('{')} '{{' vs {tex.count('}')} '}}' in {main} and its inputs"))
    macros = _macros(tex[: tex.find("\\begin{document}")] if "\\begin{document}" in tex else tex)
    search = _graphicspath(tex)
    graphics_commands = {**GRAPHICS_COMMANDS, **_graphics_macros(tex)}
    base = posixpath.dirname(main)
    body_start = tex.find("\\begin{document}")
    body = tex[body_start + len("\\begin{document}"):] if body_start >= 0 else tex
    end = body.find("\\end{document}")
    body = body[:end] if end >= 0 else body

    # figures and tables, in order; their spans are cut out of the running text
    spans: list[tuple[int, int]] = []
    pos, number, tables = 0, 0, 0
    table_labels: dict[str, tuple[str, str]] = {}
    raw_captions: list[tuple[Figure, Optional[str], list[str]]] = []
    label_of: dict[str, tuple[str, str]] = {}
    while True:
        m = _ENV_RE.search(body, pos)
        if not m:
            break
        env = m.group(1)
        try:
            stop = _env_end(body, env, m.end())
        except Unbalanced as e:
            paper.problems.append(("unbalanced_environment", str(e)))
            pos = m.end()
            continue
        spans.append((m.start(), stop))
        pos = stop
        inner = body[m.end():stop]
        inner = inner[: inner.rfind("\\end")]
        is_table = env.rstrip("*") in ("table", "wraptable", "sidewaystable") or bool(re.search(r"\\captionof\*?\s*\{table\}", inner))
        if is_table:
            tables += 1
        else:
            number += 1
        fig = Figure(index=tables if is_table else number, env=env, is_table=is_table)
        if env.startswith("wrapfigure"):  # skip {placement}{width}
            try:
                _, _, k = read_args(inner, 0, 2, 1)
                inner = inner[k:]
            except Unbalanced:
                pass
        main_body, subs = _sub_parts(inner)
        try:
            cap = _caption_args(main_body)
        except Unbalanced as e:
            cap, fig.problem = None, ("unbalanced_braces", str(e))
        raw_captions.append((fig, cap, [c for _, c in subs if c]))
        labels = _labels(main_body)
        fig.label = labels[0] if labels else None
        panel_of: dict[str, int] = {}  # sub-figure label -> panel index (a = 0)
        for panel, (sub_text, sub_cap) in enumerate(subs):
            for l in _labels(sub_text) + _labels(sub_cap):
                if l not in fig.sublabels:
                    fig.sublabels.append(l)
                    panel_of[l] = panel
        fig.graphics = _graphics_in(inner, graphics_commands)
        fig.files = [resolve_graphic(files, g, base, search) for g in fig.graphics]
        if is_table:
            table_labels.update({l: ("", str(tables), "table") for l in labels})
        else:
            for l in ([fig.label] if fig.label else []):
                label_of[l] = (fig.id, str(number), "figure")
            for l in fig.sublabels:
                k = panel_of[l]
                label_of.setdefault(l, (fig.id, f"{number}{chr(ord('a') + k) if k < 26 else ''}", "subfigure"))
        paper.figures.append(fig)

    text_parts, last = [], 0
    for a, b in spans:
        text_parts.append(body[last:a])
        text_parts.append(" ")  # a float inside a paragraph does not end it
        last = b
    text_parts.append(body[last:])
    running = "".join(text_parts)
    label_of = {**_numbered_labels(running), **table_labels, **label_of}
    plain = _Converter(label_of, macros)
    for fig, cap, sub_caps in raw_captions:
        fig.subcaptions = [_clean(plain.convert(c)) for c in sub_caps]
        if cap is not None:
            fig.caption = _clean(plain.convert(cap))
        elif fig.subcaptions:  # only sub-captions: their union describes the figure
            fig.caption = "; ".join(fig.subcaptions)
        if fig.problem is None and cap is None and not fig.subcaptions:
            fig.problem = ("no_caption", f"{fig.env} {fig.display_label} has no \\caption")
        elif fig.problem is None and not fig.caption:
            fig.problem = ("empty_caption", f"{fig.env} {fig.display_label}: the caption has no text")
    conv = _Converter(label_of, macros, marks=True)
    paper.title, paper.abstract = _title_abstract(tex, plain)
    running = re.sub(r"\\begin\{abstract\}.*?\\end\{abstract\}", "\n\n", running, flags=re.S)
    running = re.sub(r"\\(?:sub)*section\*?\s*(\[[^\]]*\])?\s*\{[^{}]*\}|\\(?:paragraph|chapter)\*?\s*\{[^{}]*\}", "\n\n", running)
    running = re.sub(r"\\begin\{(equation|align|eqnarray|gather|multline)\*?\}.*?\\end\{\1\*?\}", " [equation] ", running, flags=re.S)
    for para in re.split(r"\n\s*\n|\\par(?![A-Za-z])", running):
        text = _clean(conv.convert(para))
        if text:
            paper.paragraphs.append(text)
    return paper
