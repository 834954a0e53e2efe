"""A paper's LaTeX file tree: its files, its main ``.tex``, and ``\\input`` / ``\\include`` expanded."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Optional

from s1mmalign.builder.sources.latex.syntax import strip_comments
from s1mmalign.core.limits import limits

MAX_INPUT_DEPTH = 20
GRAPHIC_EXTS = (".pdf", ".png", ".jpg", ".jpeg", ".eps", ".ps", ".gif", ".tif", ".tiff", ".eps.gz", ".svg")



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
            from s1mmalign.builder.records.manifest import safe_join

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



_INPUT = re.compile(r"\\(input|include|subfile|subfileinclude)(?![A-Za-z@])\s*(\{[^{}]*\}|[^\s{}\\%]+)")


#: the import package: \import{dir/}{file} inputs dir/file with dir searched for its graphics (\sub...: dir is
#: under the current file's folder); how Inkscape's drawing.pdf_tex and xfig's .pspdftex exports go in
_IMPORT = re.compile(r"\\(sub)?(?:import|inputfrom|includefrom)(?![A-Za-z@])\*?\s*\{([^{}]*)\}\s*\{([^{}]*)\}")


def _imports(text: str, base: str) -> str:
    """``\\import{dir/}{file}`` as ``\\graphicspath{{dir/}}\\input{dir/file}``."""
    def repl(m: re.Match) -> str:
        folder = posixpath.join(base, m.group(2).strip()) if m.group(1) else m.group(2).strip()
        folder = folder.rstrip("/") + "/" if folder.strip("/") else ""
        return f"\\graphicspath{{{{{folder}}}}}\\input{{{folder}{m.group(3).strip()}}}" if folder else f"\\input{{{m.group(3).strip()}}}"
    return _IMPORT.sub(repl, text)


def _resolve_tex(files: PaperFiles, name: str, base: str) -> Optional[str]:
    for cand in (name, name + ".tex"):
        for b in ("", base):
            found = files.lookup(posixpath.join(b, cand) if b else cand)
            if found:
                return found
    return None


def expand_inputs(files: PaperFiles, main: str, problems: list, *, _stack: tuple = (), _depth: int = 0,
                  _budget: Optional[list] = None) -> str:
    """The text of ``main`` with its inputs inlined (comments stripped); cycles and missing
    files are skipped and listed in ``problems`` (``recursive_input``, ``missing_input``).

    At most ``Limits.tex_inputs`` files are inlined and ``Limits.tex_chars`` characters
    produced (a fan-out of inputs is exponential): past either, inputs are left out and one
    ``tex_too_large`` problem is listed.
    """
    if _budget is None:
        lim = limits()
        _budget = [lim.tex_inputs, lim.tex_chars, False, {}]  # inputs left, characters left, reported, path macros
    text = _imports(strip_comments(files.text(main)), posixpath.dirname(main))
    paths, scanned = _budget[3], [0]
    _budget[1] -= len(text)
    base = posixpath.dirname(main)
    stack = _stack + (main,)

    def repl(m: re.Match) -> str:
        read_path_macros(text[scanned[0]:m.start()], paths)  # \newcommand{\FigDir}{figures} before \input{\FigDir/a}
        scanned[0] = m.end()
        raw = expand_path(m.group(2).strip("{}").strip(), paths)
        if not raw or "#" in raw:  # a macro's parameter (\newcommand{\fig}[1]{\input{figs/#1}}): no file
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
        _budget[0] -= 1
        if _budget[0] < 0 or _budget[1] < 0:
            if not _budget[2]:
                _budget[2] = True
                problems.append(("tex_too_large", f"\\input of {target} in {main}: over the limit of inlined files "
                                                  "or characters (Limits.tex_inputs, tex_chars); the rest left out"))
            return ""
        inner = expand_inputs(files, target, problems, _stack=stack, _depth=_depth + 1, _budget=_budget)
        return "\n" + _document_body(inner) + "\n"

    out = _INPUT.sub(repl, text)
    read_path_macros(text[scanned[0]:], paths)
    return out


#: an argument-less macro with a plain body: what a file name may be built of (\input{\FigDir/a})
_PATH_MACRO = re.compile(r"\\(newcommand|renewcommand|providecommand|[gex]?def)\*?\s*\{?\\([A-Za-z@]+)\}?\s*\{([^{}]{0,200})\}")
MAX_PATH_MACRO_ROUNDS = 8


def read_path_macros(tex: str, paths: dict[str, str]) -> dict[str, str]:
    """Add to ``paths`` the argument-less macros ``tex`` defines with a plain body, in order (a
    later definition replaces an earlier one, ``\\providecommand`` only a missing one)."""
    for m in _PATH_MACRO.finditer(tex):
        if m.group(1) != "providecommand" or m.group(2) not in paths:
            paths[m.group(2)] = m.group(3).strip()
    return paths


def expand_path(name: str, paths: dict[str, str]) -> str:
    """A file name with the path macros in it replaced (``\\FigDir/a`` is ``./Figures/a``), at most
    ``MAX_PATH_MACRO_ROUNDS`` rounds deep; an unknown macro stays."""
    for _ in range(MAX_PATH_MACRO_ROUNDS):
        if "\\" not in name:
            break
        expanded = re.sub(r"\\([A-Za-z@]+)\s*(?:\{\})?", lambda m: paths.get(m.group(1), m.group(0)), name)
        if expanded == name:
            break
        name = expanded
    return name


def _document_body(tex: str) -> str:
    """The body of an input that is a whole document itself (a ``subfiles`` chapter, a ``standalone``
    figure: its ``\\documentclass``, preamble and ``\\begin{document}`` are dropped, as those
    packages do when it is input); any other input as it is."""
    if not has_documentclass(tex) or (start := tex.find("\\begin{document}")) < 0:
        return tex
    end = tex.find("\\end{document}", start)
    return tex[start + len("\\begin{document}"):end if end >= 0 else len(tex)]


#: what a preamble, a class or a package loads: (command, options, names)
LOADS = re.compile(r"\\(usepackage|RequirePackage|documentclass|documentstyle|LoadClass|InputIfFileExists)\s*(?:\[([^\]]*)\]\s*)?"
                   r"\{([^{}]*)\}")
#: the file a loading command reads (a class's .cfg by its full name); None: none of the paper's
_LOADED_SUFFIX = {"usepackage": ".sty", "RequirePackage": ".sty", "documentclass": ".cls", "LoadClass": ".cls",
                  "InputIfFileExists": "", "documentstyle": None}


def local_packages(files: PaperFiles, preamble: str, base: str) -> str:
    """The text of the packages and class the paper brings along (``\\usepackage{thesis}`` with a
    ``thesis.sty`` in the paper), and of the local ones they load (a class's ``\\InputIfFileExists{x.cfg}``
    too), for their macro definitions:
    each file once, comments stripped, within ``Limits.tex_inputs`` files and ``tex_chars`` characters."""
    lim = limits()
    texts: list[str] = []
    seen: set[str] = set()
    chars, todo = 0, [preamble]
    while todo:
        for m in LOADS.finditer(todo.pop(0)):
            if (ext := _LOADED_SUFFIX[m.group(1)]) is None:
                continue
            for name in m.group(3).split(","):
                found = _resolve_tex(files, name.strip() + ext, base) if name.strip() else None
                if found is None or found in seen:
                    continue
                seen.add(found)
                text = strip_comments(files.text(found))
                chars += len(text)
                if len(seen) > lim.tex_inputs or chars > lim.tex_chars:
                    return "\n".join(texts)
                texts.append(text)
                todo.append(text)
    return "\n".join(texts)


_DOCCLASS = re.compile(r"^[^%\n]*\\document(class|style)\b", re.M)


def has_documentclass(tex: str) -> bool:
    """True when ``tex`` has an uncommented ``\\documentclass`` (or ``\\documentstyle``): a main file."""
    return bool(_DOCCLASS.search(tex))


_TOPLEVEL = re.compile(r'"filename"\s*:\s*"([^"]+)"\s*,\s*"usage"\s*:\s*"toplevel"')
_SUBDOCUMENT = re.compile(r"\\documentclass\s*(?:\[[^\]]*\]\s*)?\{\s*(?:subfiles|standalone)\s*\}")  # a part of a document
_LATEXDIFF = re.compile(r"\\DIF(?:add|del)begin|^%DIF PREAMBLE", re.M)


def find_main_tex(files: PaperFiles) -> Optional[str]:
    """The main ``.tex``: the ``toplevel`` file arXiv's ``00README.json`` names; else, among the
    files no other file inputs (a file without extension counts as TeX with its own ``\\documentclass``), the one whose text with its inputs has ``\\documentclass`` and
    ``\\begin{document}`` (a thesis may keep either in an input: ``\\input{preamble}``); ties
    broken by not being a latexdiff output, a conventional name (main, ms, paper, article), the
    number of files it inputs, then size."""
    readme = files.lookup("00README.json")
    m = _TOPLEVEL.search(files.text(readme)[:100_000]) if readme is not None else None
    toplevel = files.lookup(m.group(1)) if m else None
    if toplevel is not None:
        return toplevel
    texts: dict[str, str] = {}
    for name in files.names():
        tex_name = name.lower().endswith((".tex", ".ltx", ".latex"))
        if tex_name or "." not in posixpath.basename(name):
            try:
                texts[name] = strip_comments(files.text(name))
            except (OSError, KeyError):
                continue
            if not tex_name and not _DOCCLASS.search(texts[name]):  # a Makefile, README, LICENSE: no TeX file of
                del texts[name]  # the paper (a Makefile's "pdflatex '\\input{paper}'" made it the main file)
    inputs: dict[str, set[str]] = {}  # file -> the files it inputs (names relative to it, else to the root)
    for name, text in texts.items():
        inputs[name] = set()
        for m in _INPUT.finditer(text):
            raw = m.group(2).strip("{}").strip()
            target = (_resolve_tex(files, raw, posixpath.dirname(name)) or _resolve_tex(files, raw, "")) if raw else None
            if target in texts and target != name:
                inputs[name].add(target)
    inputted = set().union(*inputs.values())

    def reach(name: str) -> set[str]:  # the files ``name`` inlines, transitively (each once)
        seen, todo = {name}, [name]
        while todo:
            for t in inputs.get(todo.pop(), ()):
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
        return seen

    best, best_score = None, None
    for name, head in texts.items():
        tree = reach(name)
        if not any(_DOCCLASS.search(texts[t]) for t in tree):
            continue
        stem = posixpath.splitext(posixpath.basename(name.lower()))[0]
        score = (name not in inputted, not _SUBDOCUMENT.search(head), any("\\begin{document}" in texts[t] for t in tree), not _LATEXDIFF.search(head),
                 stem in ("main", "ms", "paper", "article", "manuscript", "thesis"), len(tree), -name.count("/"), len(head))
        if best_score is None or score > best_score:
            best, best_score = name, score
    return best


# -- LaTeX -> plain text ----------------------------------------------------------------------
