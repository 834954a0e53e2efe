"""The published S1-MMAlign release as a source: jsonl records joined to tar.gz archive members.

Layout (see docs/release.md): one folder per source; captions in JSON
Lines (``*_recaption.jsonl`` or ``*_recaption_updated.jsonl``, at the folder root or under
``jsonl/``); images in gzipped tar archives, whole (``images.tar.gz``) or split by ``split``
into parts (``images_2018.tar.gz.partaa``, ``.partab``...).

:func:`discover_units` cuts a release (a local folder or any fsspec URL, e.g.
``hf://datasets/ScienceOne-AI/S1-MMAlign``) into :class:`ReleaseUnit` s: one archive with the
jsonl partition(s) that describe it (arXiv: ``jsonl/18_recaption.jsonl`` with
``images_2018.tar.gz*``; other sources: their one jsonl with their one archive).
:meth:`ReleaseUnit.read` then

1. scans the jsonl once into a compact index (64-bit digest of the normalised ``image_path``
   -> byte offset of the line: 16 bytes per record; only this unit's partition is held);
2. reads the parts in name order as one continuous gzip stream (byte ranges through the file
   system: nothing is downloaded whole, nothing is extracted to disk);
3. joins each member to its record by ``image_path`` (with or without the ``images/`` prefix)
   and yields records in the contract's schema, ``image_path`` kept as provenance.

Everything that does not come out is added to the :class:`~s1mmalign.builder.records.rejects.Rejects`
with a reason: ``empty_line``, ``malformed_json``, ``missing_image_path``, ``unsafe_image_path``, ``bad_field``,
``duplicate_record``, ``duplicate_image``, ``record_no_image``, ``image_no_record``,
``unsafe_member_name``, ``link_member``, ``truncated_archive``, ``missing_part``,
``duplicate_archive``, ``unknown_source``.
"""

from s1mmalign.builder.sources.release.discover import (  # noqa: F401
    SOURCE_FOLDERS,
    STAGE,
    discover_units,
    is_release_root,
    iter_release,
)
from s1mmalign.builder.sources.release.join import (  # noqa: F401
    RECAPTION_MODEL,
    RELEASE_LICENSE,
    SOURCE_DEFAULT_DISCIPLINE,
    normalize_image_path,
    release_key,
    to_record,
)
from s1mmalign.builder.sources.release.tables import release_tables  # noqa: F401
from s1mmalign.builder.sources.release.unit import Archive, Release, ReleaseUnit  # noqa: F401
