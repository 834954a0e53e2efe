"""One paper's figures (caption, label, image files, sub-figures) and its citing paragraphs."""

from __future__ import annotations

import copy
import posixpath
import re
from dataclasses import dataclass, field
from typing import Optional

from s1mmalign.builder.sources.latex.citations import expand_textual_citations, natbib_labels
from s1mmalign.builder.sources.latex.files import GRAPHIC_EXTS, PaperFiles, expand_inputs, expand_path, find_main_tex, local_packages, read_path_macros
from s1mmalign.builder.sources.latex.front import FrontMatter, read_front_matter
from s1mmalign.builder.sources.latex.macros import cut_definitions, paper_macros
from s1mmalign.builder.sources.latex.numbering import counters_for, has_chapters, numbered_labels
from s1mmalign.builder.sources.latex.pages import graphic_pages
from s1mmalign.builder.sources.latex.structure import choose_ifthenelse, choose_newif, cut_headings, expand_structural_macros
from s1mmalign.builder.sources.latex.syntax import Unbalanced, find_command, read_args, read_group
from s1mmalign.builder.sources.latex.teaser import teaser_figure
from s1mmalign.builder.sources.latex.text import Converter, clean_text

FIGURE_ENVS = ("figure", "figure*", "teaserfigure", "wrapfigure", "wrapfigure*", "SCfigure", "SCfigure*", "sidewaysfigure", "sidewaysfigure*")
TABLE_ENVS = ("table", "table*", "wraptable", "sidewaystable", "sidewaystable*")


@dataclass
class Figure:
    index: int  # the figure's place among the paper's numbered figures (1-based); unnumbered: the one before it
    env: str
    label: Optional[str] = None
    caption: str = ""
    graphics: list[str] = field(default_factory=list)  # names as written
    pages: list[int] = field(default_factory=list)  # the PDF page each shows (\includegraphics[page=3])
    files: list[Optional[str]] = field(default_factory=list)  # resolved names in the paper (None: missing)
    sublabels: list[str] = field(default_factory=list)
    subcaptions: list[str] = field(default_factory=list)
    is_table: bool = False
    problem: Optional[tuple[str, str]] = None
    #: 0 for a numbered figure; k for the k-th float of the paper without a ``\\caption`` (LaTeX
    #: steps the figure counter in \\caption: such a float takes no number, later ones keep theirs)
    unnumbered: int = 0
    number: str = ""  # the number the PDF prints ("3", "3.2" in a thesis, "S1", "A.1"); "" when unnumbered

    @property
    def id(self) -> str:
        return self.label or (f"float{self.unnumbered}" if self.unnumbered else f"figure{self.index}")

    @property
    def display_label(self) -> str:
        return self.label or (f"unnumbered figure {self.unnumbered}" if self.unnumbered else f"Figure {self.number or self.index}")


@dataclass
class Paper:
    main: Optional[str]
    title: str = ""
    abstract: str = ""
    front: FrontMatter = field(default_factory=FrontMatter)  # title, abstract, journal, keywords
    figures: list[Figure] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)  # plain text with contexts markers
    problems: list[tuple[str, str]] = field(default_factory=list)

    def numbers(self) -> dict[str, str]:
        """Figure id -> printed number, in order (what :func:`contexts.find_citations` takes)."""
        return {f.id: f.number or str(f.index) for f in self.figures if not f.is_table and not f.unnumbered}


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
    """User macros that wrap a graphics command, e.g. ``\newcommand{\fig}[2]{...\\includegraphics{#1}...}``."""
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
    every ``\\graphicspath`` entry, as written and with each known extension. Braces group a name
    with dots (``{{fig.v2}}``, ``{plot.final}.pdf``): they are no part of it. TeX joins a
    ``\\graphicspath`` entry and the name as strings, so ``{figures/}`` and ``/ch2/a.jpg`` is
    ``figures//ch2/a.jpg``, a file in the paper (the name alone, absolute, is never looked up)."""
    name = name.replace("{", "").replace("}", "").strip().strip('"')
    stem, ext = posixpath.splitext(name)
    tries = [name] if ext.lower() in GRAPHIC_EXTS else []
    tries += [name + e for e in GRAPHIC_EXTS]
    if ext.lower() in GRAPHIC_EXTS:  # arXiv often converts .eps to .pdf: accept a sibling
        tries += [stem + e for e in GRAPHIC_EXTS if e != ext.lower()]
    for d in [""] + search:
        for t in tries:
            for b in {base, ""}:
                cand = posixpath.join(b, d, t.lstrip("/") if d else t) if (b or d) else t
                found = files.lookup(cand)
                if found:
                    return found
    return None


#: environments whose body is code printed as is: LaTeX's, fancyvrb's, listings, minted, and the Journal of
#: Statistical Software's and Sweave's code chunks (an R or C++ listing's braces are no TeX groups); its line end goes with it
_VERBATIM = re.compile(r"\\begin\{((?:[BL]?V|v)erbatim\*?|lstlisting|minted|Code(?:Input|Output)?|S(?:input|output|code))\}.*?\\end\{\1\}[ \t]*\n?", re.S)
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


_MINIPAGE = re.compile(r"\\begin\s*\{minipage\}")


def _minipages(inner: str) -> tuple[list[str], str]:
    """The top-level ``minipage`` contents of a float body (without their size arguments) and the text around them."""
    parts, rest, pos = [], [], 0
    while m := _MINIPAGE.search(inner, pos):
        try:
            end = _env_end(inner, "minipage", m.end())
            _, _, start = read_args(inner, m.end(), 1, 3)
        except Unbalanced:
            break
        rest.append(inner[pos:m.start()])
        parts.append(inner[start:inner.rfind("\\end", start, end)])
        pos = end
    return parts, "".join(rest) + inner[pos:]


def _side_by_side(body: str, graphics_commands: dict) -> str:
    """``body`` with each figure that holds side-by-side minipages, each with its own ``\\caption``
    (besides any of its sub-figures'; one may hold a drawing, no image), split into one figure per
    minipage: LaTeX numbers each such caption as a figure of its own ("Figure 3" and "Figure 4",
    each with its ``\\label``), unlike sub-figures.
    A figure with a caption or an image outside its minipages (a side caption) stays one."""
    out, pos = [], 0
    for m in re.finditer(r"\\begin\s*\{(figure\*?)\}", body):
        if m.start() < pos:
            continue
        try:
            end = _env_end(body, m.group(1), m.end())
        except Unbalanced:
            continue
        parts, around = _minipages(body[m.end():body.rfind("\\end", m.end(), end)])
        own = [_cut_envs(p, "algorithm")[0] for p in parts]  # an algorithm's caption is no figure's
        try:
            split = (parts and _caption_args(around) is None and not _graphics_in(around, graphics_commands)  # each its own caption,
                     and all(_caption_args(_sub_parts(p)[0]) is not None for p in own)  # not only its sub-figures'
                     and any(_graphics_in(p, graphics_commands) for p in own))
        except Unbalanced:  # a broken \caption: the float stays whole, and the float reader rejects it with its reason
            split = False
        if not split:
            continue
        out.append(body[pos:m.start()] + " ".join(f"\\begin{{{m.group(1)}}}{p}\\end{{{m.group(1)}}}" for p in parts))
        pos = end
    return "".join(out) + body[pos:]


def _cut_envs(body: str, env: str) -> tuple[str, int]:
    """``body`` without its ``env`` (and ``env*``) environments, and how many there were."""
    count = 0
    while m := re.search(r"\\begin\s*\{(" + re.escape(env) + r"\*?)\}", body):
        try:
            end = _env_end(body, m.group(1), m.end())
        except Unbalanced:
            break
        body, count = body[:m.start()] + " " + body[end:], count + 1
    return body, count


def _algorithm_labels(body: str) -> dict[str, tuple[str, str, str]]:
    """Labels of ``algorithm`` floats (also those inside a figure) -> ("", number, "algorithm"):
    LaTeX counts them apart from figures, one number per captioned algorithm."""
    out, number = {}, 0
    for m in re.finditer(r"\\begin\s*\{(algorithm\*?)\}", body):
        try:
            inner = body[m.end():_env_end(body, m.group(1), m.end())]
            if _caption_args(inner) is None:
                continue
        except Unbalanced:
            continue
        number += 1
        out.update({l: ("", str(number), "algorithm") for l in _labels(inner)[:1]})
    return out


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


def parse_paper(files: PaperFiles, main: Optional[str] = None) -> Paper:
    """Parse one paper (see the module docstring). ``Paper.main`` is None when no main file exists."""
    main = main or find_main_tex(files)
    paper = Paper(main=main)
    if main is None:
        paper.problems.append(("no_main_tex", "no .tex file with \\documentclass"))
        return paper
    tex = expand_inputs(files, main, paper.problems)
    tex = _VERBATIM.sub(" ", tex)
    tex = choose_newif(tex)  # \newif\iffinal \finaltrue ... \iffinal <figure> \else <draft> \fi
    unescaped = re.sub(r"\\[\\{}]", "", tex)  # \{ and \} are no group, nor is the } after \\ (a line break)
    opens, closes = unescaped.count("{"), unescaped.count("}")
    if opens != closes:
        paper.problems.append(("unbalanced_braces", f"{opens} '{{' vs {closes} '}}' in {main} and its inputs"))
    base = posixpath.dirname(main)
    preamble = tex[: tex.find("\\begin{document}")] if "\\begin{document}" in tex else tex
    packages = local_packages(files, preamble, base)
    macros = paper_macros(packages + "\n" + preamble)
    search = _graphicspath(packages + "\n" + tex)  # a thesis class may set it (hi-thesis.cls)
    graphics_commands = {**GRAPHICS_COMMANDS, **_graphics_macros(packages + "\n" + tex)}
    body_start = tex.find("\\begin{document}")
    body = tex[body_start + len("\\begin{document}"):] if body_start >= 0 else tex
    end = body.find("\\end{document}")
    body = teaser_figure(preamble) + (body[:end] if end >= 0 else body)  # vgtc/egpubl: \teaser{...} is Figure 1
    body = expand_structural_macros(body, macros)  # \figurelabel{x} is \label{fig:x}; \ignore{<figure>} is nothing
    body = choose_ifthenelse(body, packages + "\n" + preamble)  # \ifthenelse{\boolean{Web}}{<figure>}{<figure>}: one
    body = expand_textual_citations(body, natbib_labels(files, main), tex)  # "as shown by \citet{x}": by Jones et al. (1990)
    body = _side_by_side(body, graphics_commands)
    chapters = has_chapters(body)
    counters, counted = counters_for(chapters, packages, preamble), 0  # the float numbers, stepped in document order
    sections = copy.deepcopy(counters)  # the same setup, stepped over the running text by numbered_labels

    # figures and tables, in order; their spans are cut out of the running text
    spans: list[tuple[int, int]] = []
    pos, number, tables, unnumbered = 0, 0, 0, 0
    table_labels: dict[str, tuple[str, str]] = {}
    raw_captions: list[tuple[Figure, Optional[str], list[str]]] = []
    label_of: dict[str, tuple[str, str]] = {}
    prev: Optional[tuple[Figure, int, list[str]]] = None  # the last figure, its panels, its sub-captions
    paths, scanned = read_path_macros(packages + "\n" + preamble, {}), 0  # \includegraphics{\FigDir/a}
    while True:
        m = _ENV_RE.search(body, pos)
        if not m:
            break
        read_path_macros(body[scanned:m.start()], paths)
        scanned = m.start()
        env = m.group(1)
        counters.scan(body[counted:m.start()])  # not what a float holds: its \captionof is its own caption
        try:
            stop = _env_end(body, env, m.end())
        except Unbalanced as e:
            paper.problems.append(("unbalanced_environment", str(e)))
            pos = counted = m.end()
            continue
        counted = stop
        spans.append((m.start(), stop))
        pos = stop
        inner = body[m.end():stop]
        inner, algorithms = _cut_envs(inner[: inner.rfind("\\end")], "algorithm")
        is_table = env.rstrip("*") in ("table", "wraptable", "sidewaystable") or bool(re.search(r"\\captionof\*?\s*\{table\}", inner))
        if env.startswith("wrapfigure"):  # skip {placement}{width}
            try:
                _, _, k = read_args(inner, 0, 2, 1)
                inner = inner[k:]
            except Unbalanced:
                pass
        graphics = _graphics_in(inner, graphics_commands)
        try:  # a broken \caption, of the float or of a sub-figure, is this figure's reject, not the paper's
            main_body, subs = _sub_parts(inner)
            cap, problem = _caption_args(main_body), None
        except Unbalanced as e:
            main_body, subs, cap, problem = inner, [], None, ("unbalanced_braces", str(e))
        if algorithms and cap is None and not subs and not graphics:
            continue  # an algorithm float in a figure: numbered as an algorithm, not a figure
        labels = _labels(main_body)
        if not is_table and prev and re.search(r"\\ContinuedFloat(?![A-Za-z@])", main_body):
            fig, first_panel, sub_caps = prev  # the same figure, its panels go on (b, c, ...); its caption is the first's
        else:
            # \caption* (caption package) prints no number and steps no counter
            starred = cap is not None and not re.search(r"\\caption(?![A-Za-z@*])|\\captionof(?!\*)", main_body)
            numbered = not starred and (is_table or cap is not None or problem is not None or any(c for _, c in subs))
            tables, number = (tables + 1, number) if is_table else (tables, number + numbered)
            unnumbered += not numbered
            fig = Figure(index=tables if is_table else number, env=env, is_table=is_table, problem=problem,
                         label=labels[0] if labels else None, unnumbered=0 if numbered else unnumbered,
                         number=counters.step("table" if is_table else "figure") if numbered else "")
            first_panel, sub_caps = 0, []
            raw_captions.append((fig, cap, sub_caps))
            paper.figures.append(fig)
        sub_caps += [c for _, c in subs if c]
        panel_of: dict[str, int] = {}  # sub-figure label -> panel index (a = 0)
        for panel, (sub_text, sub_cap) in enumerate(subs, first_panel):
            for l in _labels(sub_text) + _labels(sub_cap):
                if l not in fig.sublabels:
                    fig.sublabels.append(l)
                    panel_of[l] = panel
        fig.graphics, fig.pages = fig.graphics + graphics, fig.pages + graphic_pages(inner, graphics)
        fig.files += [resolve_graphic(files, expand_path(g, paths), base, search) for g in graphics]
        if is_table:
            table_labels.update({l: ("", fig.number, "table") for l in labels})
            continue
        for l in labels[:1]:
            label_of[l] = (fig.id, fig.number, "figure")
        for l, k in panel_of.items():
            label_of.setdefault(l, (fig.id, f"{fig.number}{chr(ord('a') + k) if k < 26 else ''}", "subfigure"))
        prev = (fig, first_panel + len(subs), sub_caps)
    owner = {f.label: f for f in paper.figures if f.label and not f.is_table}
    for f in paper.figures:  # a label defined twice: LaTeX's \ref names the last one, and the
        if f.label and not f.is_table and owner[f.label] is not f:  # earlier figure is known by its number
            old, f.label = f.label, None  # and its own panels' \ref (unique labels) name it, not the last one
            label_of.update({l: (f.id, *label_of[l][1:]) for l in f.sublabels if label_of.get(l, ("",))[0] == old})

    text_parts, last = [], 0
    for a, b in spans:
        text_parts.append(body[last:a])
        text_parts.append(" ")  # a float inside a paragraph does not end it
        last = b
    text_parts.append(body[last:])
    running = "".join(text_parts)
    label_of = {**numbered_labels(running, sections), **_algorithm_labels(body), **table_labels, **label_of}
    plain = Converter(label_of, macros)
    for fig, cap, sub_caps in raw_captions:
        fig.subcaptions = [t for t in (clean_text(plain.convert(c)) for c in sub_caps) if t]  # \subfloat[\label{x}]: none
        if cap is not None:
            fig.caption = clean_text(plain.convert(cap))
        elif fig.subcaptions:  # only sub-captions: their union describes the figure
            fig.caption = "; ".join(fig.subcaptions)
        if fig.problem is None and cap is None and not fig.subcaptions:
            fig.problem = ("no_caption", f"{fig.env} {fig.display_label} has no \\caption")
        elif fig.problem is None and not fig.caption:
            fig.problem = ("empty_caption", f"{fig.env} {fig.display_label}: the caption has no text")
        if plain.over_limit:
            plain.over_limit = False
            fig.problem = ("macro_limit", f"{fig.env} {fig.display_label}: the caption's macros expand past the "
                                          "limit (Limits.macro_expansions, text_chars)")
    conv = Converter(label_of, macros, marks=True)
    paper.front = read_front_matter(tex, plain)
    paper.title, paper.abstract = paper.front.title, paper.front.abstract
    running = cut_definitions(re.sub(r"\\begin\{abstract\}.*?\\end\{abstract\}", "\n\n", running, flags=re.S))
    running = cut_headings(running)
    running = re.sub(r"\\begin\{(equation|align|eqnarray|gather|multline)\*?\}.*?\\end\{\1\*?\}", " [equation] ", running, flags=re.S)
    for para in re.split(r"\n\s*\n|\\par(?![A-Za-z])", running):
        text = clean_text(conv.convert(para))
        if text:
            paper.paragraphs.append(text)
    if conv.over_limit or plain.over_limit:
        paper.problems.append(("macro_limit", "macros in the text expand past the limit (Limits.macro_expansions, "
                                              "text_chars); expansions beyond it left out"))
    return paper
