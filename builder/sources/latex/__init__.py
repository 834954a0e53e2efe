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
  a figure marked for :mod:`s1mmalign.builder.sources.contexts`.

Problems never raise: they are listed in ``Paper.problems`` (paper level) and
``Figure.problem`` (figure level) as ``(reason, detail)`` for the rejects report.
"""

from s1mmalign.builder.sources.latex.files import (  # noqa: F401
    GRAPHIC_EXTS,
    MAX_INPUT_DEPTH,
    PaperFiles,
    expand_inputs,
    find_main_tex,
    has_documentclass,
    relative_name,
)
from s1mmalign.builder.sources.latex.paper import FIGURE_ENVS, TABLE_ENVS, Figure, Paper, parse_paper, resolve_graphic  # noqa: F401
from s1mmalign.builder.sources.latex.syntax import Unbalanced, find_command, read_args, read_group, strip_comments  # noqa: F401
from s1mmalign.builder.sources.latex.text import latex_to_text  # noqa: F401
