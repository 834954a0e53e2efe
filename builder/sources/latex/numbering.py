"""The numbers LaTeX prints: its counters as a paper's source steps, resets and formats them.

A figure's printed number is what plain-text citations and ``\\ref`` show, so it must be the
PDF's: "3.2" in a thesis (report/book classes number figures, tables and equations within the
chapter), "2.1" after ``\\numberwithin{figure}{section}`` / ``\\counterwithin``, "S1" in a
supplement after ``\\renewcommand{\\thefigure}{S\\arabic{figure}}`` and ``\\setcounter{figure}{0}``,
"A.1" in a book's appendix chapter. :class:`Counters` follows those commands in document order;
:func:`numbered_labels` uses it for the labels of chapters, sections and equations.

Not modelled (the plain 1, 2, ... is kept): formats a ``\\the<counter>`` redefinition builds with
TeX programming, ``secnumdepth``, packages that renumber (e.g. ``algorithm``'s chapter option).
"""

from __future__ import annotations

import re
from typing import Optional

from s1mmalign.builder.sources.latex.front import document_class
from s1mmalign.builder.sources.latex.macros import definitions
from s1mmalign.builder.sources.latex.syntax import NEWIF, Unbalanced, choose_branches, read_group
from s1mmalign.builder.sources.numerals import roman

SECTIONS = ("chapter", "section", "subsection", "subsubsection")
COUNTERS = SECTIONS + ("figure", "table", "equation")
_NAMES = "|".join(COUNTERS)

#: Every command that changes a counter or how it prints (one alternation, so a walk sees them in
#: order); a sectioning command being defined (``\\def\\section{...}`` in a class's \\appendix) or
#: named as an argument (titlesec's ``\\titleformat{\\chapter}``) is none.
_STRUCTURE = (
    r"(?<!def)(?<!let)(?<!command)(?<!\{)\\(?P<sec>chapter|section|subsection|subsubsection)(?P<star>\*?)(?![A-Za-z@])"
    r"|\\(?P<app>appendix)(?![A-Za-z@])|\\begin\s*\{(?P<apps>appendices|subappendices|appendix)\}"
    r"|\\(?P<matter>frontmatter|mainmatter|backmatter)(?![A-Za-z@])"
    r"|\\(?P<set>setcounter|addtocounter)\s*\{(?P<setname>" + _NAMES + r")\}\s*\{\s*(?P<value>-?\d{1,6})\s*\}"
    r"|\\(?:ref)?stepcounter\s*\{(?P<step>figure|table|equation)\}|\\captionof\s*\{(?P<captionof>figure|table)\}"
    r"|\\(?P<within>numberwithin|counterwithin|counterwithout|@addtoreset)(?P<wstar>\*?)\s*\{(?P<child>" + _NAMES + r")\}\s*\{(?P<parent>" + _NAMES + r")\}"
    r"|\\(?:(?:re)?newcommand\*?|[gex]?def)\s*(?:\{\s*)?\\the(?P<the>" + _NAMES + r")(?![A-Za-z@])\s*\}?\s*(?=\{)"
)
STRUCTURE = re.compile(_STRUCTURE)
#: What a ``\\the<counter>`` template may hold: a counter's value in a style, another counter's
#: printed number, grouping, ``\\relax`` and boxes (AASTeX's ``\\hbox{\\Alph{section}\\arabic{equation}}``);
#: plain characters print as they are.
_FORMAT = re.compile(r"\\(?P<style>arabic|Alph|alph|Roman|roman)\s*\{(?P<name>[a-z]+)\}"
                     r"|\\(?:@(?P<atstyle>arabic|Alph|alph|Roman|roman)|the|number)\s*\\c@(?P<cname>[a-z]+)"
                     r"|\\the(?P<the>[a-z]+)(?![A-Za-z@])|\\(?:relax|hbox|mbox|textup|textrm|normalfont)(?![A-Za-z@])|[{}]")


#: What a class's own ``\\appendix`` (or appendix environment) does, for sources that do not ship
#: the class file (read from elsarticle.cls 3.x, aa.cls 9.x, revtex4-1.cls): appendix A's figures print "A.1".
CLASS_APPENDIX = {
    "elsarticle": r"\setcounter{section}{0}\gdef\thefigure{\@Alph\c@section.\arabic{figure}}"
                  r"\gdef\thetable{\@Alph\c@section.\arabic{table}}\@addtoreset{equation}{section}"
                  r"\gdef\theequation{\@Alph\c@section.\arabic{equation}}",
    # REVTeX 4.x (revtex4-1.cls \appendix): equations (A1), (A2), ... restarting per appendix; figures go on
    **dict.fromkeys(("revtex4", "revtex4-1", "revtex4-2"), r"\renewcommand\theequation{\thesection\arabic{equation}}"
                                                         r"\@addtoreset{equation}{section}\setcounter{equation}{0}"),
    "aa": r"\setcounter{section}{0}\setcounter{figure}{0}\setcounter{table}{0}"
          r"\renewcommand\theequation{\@Alph\c@section.\@arabic\c@equation}"
          r"\renewcommand\thefigure{\@Alph\c@section.\@arabic\c@figure}"
          r"\renewcommand\thetable{\@Alph\c@section.\@arabic\c@table}"
          r"\@addtoreset{equation}{section}\@addtoreset{figure}{section}\@addtoreset{table}{section}",
}


def _depth(text: str, start: int, stop: int, depth: int) -> int:
    """The brace depth at ``stop``, given ``depth`` at ``start`` (escaped braces and comments do not count)."""
    chunk = re.sub(r"\\.|%[^\n]*", "", text[start:stop])
    return depth + chunk.count("{") - chunk.count("}")


def styled(n: int, style: str) -> str:
    """``n`` as ``\\arabic``, ``\\Alph``, ``\\alph``, ``\\Roman`` or ``\\roman`` prints it."""
    if style in ("Alph", "alph"):
        letter = chr(ord("A") + n - 1) if 0 < n <= 26 else str(n)
        return letter if style == "Alph" else letter.lower()
    if style in ("Roman", "roman"):  # (none past 3999: arabic)
        return roman(n).upper() if style == "Roman" else roman(n)
    return str(n)


class Counters:
    """LaTeX's sectioning, figure, table and equation counters of one paper.

    ``chapters``: the paper has numbered ``\\chapter``s (report, book, memoir and the thesis classes
    built on them number figures, tables, equations and sections within the chapter). Feed the
    text in document order to :meth:`handle` (a :data:`STRUCTURE` match) or :meth:`scan`; then
    :meth:`step` a counter for the number LaTeX prints."""

    def __init__(self, chapters: bool = False, appendix_hook: Optional[str] = None):
        self.value = dict.fromkeys(COUNTERS, 0)
        inner = "chapter" if chapters else None
        #: counter -> the counters whose step resets it; and the one whose number it prints before its own
        self.reset_by: dict[str, set[str]] = {"section": {inner} - {None}, "subsection": {"section"}, "subsubsection": {"subsection"},
                                              **{c: {inner} - {None} for c in ("figure", "table", "equation")}}
        self.prefix: dict[str, Optional[str]] = {"section": inner, "subsection": "section", "subsubsection": "subsection",
                                                 **dict.fromkeys(("figure", "table", "equation"), inner)}
        self.template: dict[str, str] = {}
        self.top = "chapter" if chapters else "section"  # the level \\appendix letters
        self.appendix = False
        self.numbered_chapters = True  # \frontmatter and \backmatter chapters take no number
        self.appendix_hook = appendix_hook  # what the class's own \appendix does (elsarticle: figures "A.1")

    def scan(self, text: str, config_only: bool = False) -> None:
        """:meth:`handle` every command in ``text``; with ``config_only`` only those that set how a
        counter counts and prints (``\\numberwithin``, ``\\renewcommand{\\thefigure}``: what a
        package or preamble holds, where a ``\\chapter`` is a definition's name, not a chapter), and
        only those outside every group (a class's commands inside a macro or an environment's
        definition act where that is used, not where it is defined)."""
        depth, pos = 0, 0
        for m in STRUCTURE.finditer(text):
            if config_only:
                depth, pos = _depth(text, pos, m.start(), depth), m.start()
                if depth or not (m.group("within") or m.group("the")):
                    continue
            self.handle(m, text)

    def handle(self, m: re.Match, text: str) -> Optional[tuple[str, str]]:
        """Apply one :data:`STRUCTURE` match (``text`` is the string it was found in); a sectioning
        command that takes a number returns (printed number, "chapter"/"section"/"appendix")."""
        if m.group("sec"):
            level = m.group("sec")
            if m.group("star") or (level == "chapter" and not self.numbered_chapters):
                return None
            kind = "appendix" if self.appendix and level == self.top else "chapter" if level == "chapter" else "section"
            return self.step(level), kind
        if m.group("app") or m.group("apps"):
            self.appendix = True
            self.value[self.top] = 0
            if self.appendix_hook:
                hook, self.appendix_hook = self.appendix_hook, None  # once: the hook may say \\appendix itself
                self.scan(hook)
        elif m.group("matter"):
            self.numbered_chapters = m.group("matter") == "mainmatter"
        elif m.group("set"):
            n = int(m.group("value"))
            name = m.group("setname")
            self.value[name] = n if m.group("set") == "setcounter" else self.value[name] + n
        elif m.group("step") or m.group("captionof"):  # \\captionof outside a float steps the counter as \\caption does
            self.step(m.group("step") or m.group("captionof"))
        elif m.group("within"):
            child, parent = m.group("child"), m.group("parent")
            if m.group("within") == "counterwithout":
                self.reset_by.setdefault(child, set()).discard(parent)
                if not m.group("wstar"):
                    self.prefix[child] = None
            else:
                self.reset_by.setdefault(child, set()).add(parent)
                if not m.group("wstar") and m.group("within") != "@addtoreset":
                    self.prefix[child] = parent
        elif m.group("the"):
            try:
                self.template[m.group("the")], _ = read_group(text, m.end())
            except Unbalanced:
                pass
        return None

    def step(self, counter: str) -> str:
        """Step ``counter`` (resetting the counters within it) and return the number it prints."""
        self.value[counter] += 1
        for child, parents in self.reset_by.items():
            if counter in parents:
                self.value[child] = 0
        return self.printed(counter)

    def printed(self, counter: str, depth: int = 0) -> str:
        """``\\the<counter>``: its template where the source gave one that can be read, else LaTeX's default."""
        template = self.template.get(counter)
        if template is not None and depth < 4:
            out = self._format(template, depth)
            if out is not None:
                return out
        own = styled(self.value[counter], "Alph" if self.appendix and counter == self.top else "arabic")
        parent = self.prefix.get(counter)
        # report prints no chapter 0 (\ifnum\c@chapter>\z@); \counterwithin both ways round is a cycle, cut
        if parent is None or (parent == "chapter" and self.value["chapter"] == 0) or depth > len(COUNTERS):
            return own
        return f"{self.printed(parent, depth + 1)}.{own}"

    def _format(self, template: str, depth: int) -> Optional[str]:
        out, pos = [], 0
        for m in _FORMAT.finditer(template):
            out.append(template[pos:m.start()])
            pos = m.end()
            name = m.group("name") or m.group("cname")
            if name:
                if name not in self.value:
                    return None
                out.append(styled(self.value[name], m.group("style") or m.group("atstyle") or "arabic"))
            elif m.group("the"):
                if m.group("the") not in self.value:
                    return None
                out.append(self.printed(m.group("the"), depth + 1))
        out.append(template[pos:])
        text = "".join(out).strip()
        return text if text and "\\" not in text and "#" not in text else None


_DECLARE_OPTION = re.compile(r"\\DeclareOption\s*\{([^{}]*)\}\s*(?=\{)")
_FLAG_SET = re.compile(r"\\([A-Za-z@]+)(true|false)(?![A-Za-z@])")


def class_flags(packages: str, preamble: str) -> dict[str, bool]:
    r"""The class's ``\newif`` flags as the document starts, where the source says them: set outside
    any group before ``\ProcessOptions`` (``\newif\if@final \@finaltrue``), then by the options the
    ``\documentclass`` line passes (``\DeclareOption{manuscript}{\@manuscripttrue}``); {"if@final": True}."""
    declared = {name.removeprefix("if") for name in NEWIF.findall(packages)}
    flags: dict[str, bool] = {}

    def setting(text: str, top_only: bool) -> None:
        depth, pos = 0, 0
        for m in _FLAG_SET.finditer(text):
            depth, pos = _depth(text, pos, m.start(), depth), m.start()
            if m.group(1) in declared and not (top_only and depth):
                flags["if" + m.group(1)] = m.group(2) == "true"
    setting(packages.split("\\ProcessOptions", 1)[0], True)
    options = set(document_class(preamble)[1])  # lower case
    for m in _DECLARE_OPTION.finditer(packages):
        if m.group(1).strip().lower() in options:
            try:
                setting(read_group(packages, m.end())[0], False)
            except Unbalanced:
                pass
    return flags


_APPENDIX_ENV = re.compile(r"\\(?:re)?newenvironment\*?\s*\{appendix\}\s*(?:\[\d\]\s*)?(?=\{)")


def counters_for(chapters: bool, packages: str, preamble: str) -> Counters:
    """:class:`Counters` set up as the paper's own class and packages and its preamble say: their
    ``\\numberwithin`` and ``\\the<counter>`` definitions outside any group, and what the class's own
    ``\\appendix`` (or appendix environment) does, where the document starts its appendix: as the
    paper's copy of the class defines it (in the branches its options take, :func:`class_flags`), else
    :data:`CLASS_APPENDIX` (elsarticle, A&A: "A.1")."""
    config, hook = packages + "\n" + preamble, None
    for _, name, body, _ in definitions(config):
        hook = body if name == "appendix" else hook
    for m in _APPENDIX_ENV.finditer(config):
        try:
            hook, _ = read_group(config, m.end())
        except Unbalanced:
            pass
    if hook is None and (cls := document_class(preamble)[0]):
        hook = CLASS_APPENDIX.get(cls)
    elif hook:  # copernicus.cls letters appendix figures "\if@stage@final \if@manuscript\else ...": not in a manuscript
        hook = choose_branches(hook, class_flags(packages, preamble))
    counters = Counters(chapters, appendix_hook=hook)
    counters.scan(config, config_only=True)
    return counters


def has_chapters(body: str) -> bool:
    """Whether the document numbers chapters (so figures, tables, equations count within them)."""
    return re.search(r"\\chapter(?![A-Za-z@*])", body) is not None


_NUMBERED = re.compile(
    _STRUCTURE
    + r"|\\begin\s*\{(?P<env>equation|align|eqnarray|gather|multline|flalign)(?P<estar>\*?)\}"
    r"|\\end\s*\{(?P<endenv>equation|align|eqnarray|gather|multline|flalign)\*?\}"
    r"|(?P<nl>\\\\)|\\(?P<nonum>nonumber|notag)(?![A-Za-z@])|\\label\s*\{(?P<label>[^{}]*)\}"
    r"|(?P<subeq>\\begin\s*\{subequations\})|(?P<endsubeq>\\end\s*\{subequations\})")


def numbered_labels(text: str, counters: Counters) -> dict[str, tuple[str, str, str]]:
    """Labels of chapters, sections and equations -> ("", printed number, kind), counted as LaTeX
    does (with :class:`Counters`: A, B after ``\\appendix``; "2.3" within chapters; one number per
    equation / per line of a multi-line display unless ``\\nonumber``; amsmath's ``subequations`` one
    number, "5", its lines "5a", "5b"). ``counters`` has read the preamble; floats must already be cut out of ``text``."""
    out: dict[str, tuple[str, str, str]] = {}
    current: Optional[tuple[str, str]] = None  # (number, kind) a label would name now
    env: Optional[str] = None
    line_numbered = True
    line_label: Optional[str] = None
    group: Optional[list] = None  # in a subequations group: [its number, lines numbered so far]

    def close_line() -> None:
        nonlocal line_label
        if env and line_numbered:
            if group is not None:
                group[1] += 1
                number = group[0] + styled(group[1], "alph")
            else:
                number = counters.step("equation")
            if line_label:
                out[line_label] = ("", number, "equation")
        line_label = None

    for m in _NUMBERED.finditer(text):
        if m.group("subeq") or m.group("endsubeq"):
            group = [counters.step("equation"), 0] if m.group("subeq") else None
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
            elif group is not None:
                out[label] = ("", group[0], "equation")
            elif current:
                out[label] = ("", current[0], current[1])
        else:
            current = counters.handle(m, text) or current
    return out
