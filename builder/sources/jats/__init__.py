"""JATS XML papers (PMC OA, bioRxiv, medRxiv) to figure records with image bytes.

Inputs: an article folder (one ``.nxml``/``.xml`` plus its media files), a single article
file (its media beside it), or a PMC ``oa_package`` ``.tar.gz`` (unpacked into a temporary
folder, never outside it). One contract record per ``<fig>``::

    from s1mmalign.builder.sources.jats import read_jats_article, iter_oa_package
    for rec in read_jats_article("PMC123456/", rejects):
        rec["figure_label"], rec["caption"], rec["citation_contexts"], rec["image"]["path"]

Per figure: label, caption (title + paragraphs as plain text), the media file named by
``<graphic xlink:href>`` whatever its extension (when several exist, the largest image;
ties prefer lossless), the sentences citing it (``<xref ref-type="fig" rid=...>`` and printed
references, via :mod:`s1mmalign.builder.sources.contexts`), and the paper's title, abstract, subjects
and license. TIFF/GIF become PNG through :func:`s1mmalign.core.images.normalize_image`; PDF/EPS
figures are rendered first (:mod:`s1mmalign.builder.sources.rasterize`).

XML is parsed with ``defusedxml`` (no entity expansion, no external resources). Bad input is
a reject with a reason and the run goes on: ``malformed_xml``, ``no_article_xml``,
``unsafe_href`` (``..``, absolute paths, URLs: never followed), ``missing_media``,
``no_graphic``, ``no_caption``, ``table_image`` (a ``<fig>`` labelled "Table 2"), ``corrupt_archive``, ``unsafe_member`` and the image reasons
of :mod:`s1mmalign.core.images` and :mod:`s1mmalign.builder.sources.rasterize`.
"""

from s1mmalign.builder.sources.jats.article import find_article_xml, is_jats_source, read_jats_article, resolve_media  # noqa: F401
from s1mmalign.builder.sources.jats.package import iter_oa_package  # noqa: F401
from s1mmalign.builder.sources.jats.xml import STAGE, parse_article  # noqa: F401
