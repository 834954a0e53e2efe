"""Archive streams of the release: split parts read as one file, inflated, walked member by member."""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib
from typing import Iterator, Sequence

#: Errors that mean "the gzip/tar stream stops here" (a truncated or missing last part).
try:  # ISA-L inflates gzip ~1.7x faster than zlib (the archive's inflate is half of reading it)
    from isal import isal_zlib as _inflate_lib
except ImportError:  # pragma: no cover - isal is a dependency; zlib gives the same bytes, slower
    _inflate_lib = zlib

STREAM_END_ERRORS = (tarfile.ReadError, EOFError, zlib.error, gzip.BadGzipFile, _inflate_lib.error)


# --------------------------------------------------------------------------------------------
# Archive streams
# --------------------------------------------------------------------------------------------


class PartsStream(io.RawIOBase):
    """The concatenation of ``paths`` (read in order) as one read-only stream.

    Remote files are read with ranged requests of ``block_size`` bytes (fsspec's buffered
    files, e.g. huggingface_hub's ``HfFileSystem``); local files are opened directly.
    ``bytes_read`` counts the compressed bytes consumed so far (progress bars).
    """

    def __init__(self, fs, paths: Sequence[str], *, local: bool, block_size: int = 8 << 20):
        super().__init__()
        self._fs, self._paths, self._local, self._block = fs, list(paths), local, block_size
        self._i = -1
        self._f = None
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def _open_next(self) -> bool:
        self._i += 1
        if self._i >= len(self._paths):
            return False
        path = self._paths[self._i]
        if self._local:
            self._f = open(path, "rb", buffering=0)
        else:
            self._f = self._fs.open(path, "rb", block_size=self._block, cache_type="readahead")
        return True

    def readinto(self, b) -> int:
        while True:
            if self._f is None and not self._open_next():
                return 0
            n = self._f.readinto(b)
            if n:
                self.bytes_read += n
                return n
            self._f.close()
            self._f = None

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
        super().close()


class GzipStream(io.RawIOBase):
    """The decompressed bytes of a gzip stream (one or more members) read from ``raw``.

    The inflater (ISA-L's, else zlib's) checks each member's trailer (CRC and length); input
    that ends inside a member raises ``EOFError``, wherever the cut falls. Reads 1 MiB of
    compressed input at a time: ``gzip.GzipFile`` reads 8 KiB and costs about a third more
    CPU in Python overhead.
    """

    def __init__(self, raw, chunk: int = 1 << 20, inflate_lib=None):
        super().__init__()
        self._raw, self._chunk = raw, chunk
        self._lib = inflate_lib or _inflate_lib
        self._z = self._lib.decompressobj(wbits=31)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while True:
            z = self._z
            if z.eof:  # a member ended: the next one, or the end of the input (any stale tail is in unused_data)
                rest = z.unused_data or self._raw.read(self._chunk)
                if not rest:
                    return 0
                self._z = z = self._lib.decompressobj(wbits=31)
                data = z.decompress(rest, len(b))
            elif z.unconsumed_tail:
                data = z.decompress(z.unconsumed_tail, len(b))
            else:
                chunk = self._raw.read(self._chunk)
                if not chunk:
                    raise EOFError("compressed file ended before the end-of-stream marker was reached")
                data = z.decompress(chunk, len(b))
            if data:
                b[: len(data)] = data
                return len(data)


class TarMembers:
    """The members of an uncompressed tar stream, parsed by tarfile's own ``TarInfo`` (GNU long
    names, pax headers) but read straight from a buffered reader.

    tarfile's stream mode (``"r|"``) copies its 10 KiB buffer on every read: a third of the
    cost of reading the release. Here a member's bytes are one ``read``. A header that is cut
    or invalid, or an end without the end-of-archive marker, raises ``tarfile.ReadError``
    (stream mode stops silently); a sparse member is yielded with its data skipped (the caller
    rejects it; one such member never ends the archive). Iterate, and call :meth:`data` for the member just yielded to get its bytes
    (members whose bytes are not wanted are skipped).
    """

    def __init__(self, f):
        self._f, self._pos, self._pending = f, 0, 0
        # what TarInfo.fromtarfile reads through (it only uses these attributes)
        self.fileobj, self.offset, self.encoding, self.errors, self.pax_headers = self, 0, "utf-8", "surrogateescape", {}

    def read(self, n: int) -> bytes:
        data = self._f.read(n)
        self._pos += len(data)
        return data

    def tell(self) -> int:
        return self._pos

    def __iter__(self) -> Iterator[tarfile.TarInfo]:
        while True:
            self._skip(self._pending)
            self._pending = 0
            try:
                info = tarfile.TarInfo.fromtarfile(self)
            except tarfile.EOFHeaderError:  # a zero block: the end-of-archive marker
                return
            except tarfile.EmptyHeaderError:  # no bytes left: cut at a member boundary (or empty)
                raise tarfile.ReadError(f"the archive ends at byte {self._pos} without its end-of-archive marker") from None
            except tarfile.HeaderError as e:  # cut (truncated) or not a tar header
                raise tarfile.ReadError(f"bad tar header at byte {self._pos}: {e}") from None
            if info.issparse():  # tarfile set ``self.offset`` to the next header: skip to it; the caller rejects it
                self._pending = max(0, self.offset - self._pos)
            elif info.isreg() or info.type not in tarfile.SUPPORTED_TYPES:
                self._pending = info._block(info.size)  # tarfile's own rule for members with data
            yield info

    def data(self, info: tarfile.TarInfo) -> bytes:
        """The bytes of ``info``, the member just yielded."""
        data = self.read(info.size)
        if len(data) != info.size:
            raise tarfile.ReadError(f"member {info.name!r} cut short ({len(data)} of {info.size} bytes)")
        self._skip(self._pending - info.size)
        self._pending = 0
        return data

    def _skip(self, n: int) -> None:
        while n > 0:
            chunk = self.read(min(n, 1 << 20))
            if not chunk:
                raise tarfile.ReadError("unexpected end of data")
            n -= len(chunk)
