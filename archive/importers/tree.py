"""A safe, read-only view of an uploaded export: a zip, an unpacked folder or a single file.

Every importer reads its input through :func:`open_export`, never through ``zipfile`` or
``open`` directly, so the defences against hostile uploads live in one place:

* **Zip bombs.** Declared sizes are checked when the archive is opened (member count,
  per-member size, total size, per-member and whole-archive compression ratio, overlapping
  members that re-use the same compressed bytes). Headers can lie, so every stream handed out
  also counts the bytes it actually produces and stops at the same limits.
* **Path tricks.** Member names with ``..`` components, absolute paths, drive letters, NUL
  bytes or backslash-separated variants of those are refused, as are duplicate names (two
  members that would be the same file after normalisation: which one "wins" is undefined).
* **Links.** Zip members carrying the Unix symlink mode are refused. In a folder export a
  symlink that resolves outside the folder is refused; one that stays inside is allowed (some
  unzip tools turn duplicate media into links) and re-checked when opened.
* **Nested archives.** A ``.zip`` (or other archive) inside the export is *never expanded*.
  It stays an opaque member, because exports legitimately carry archives that people sent each
  other as message attachments, and it is listed in :attr:`ExportTree.nested_archives` so the
  caller can report it. ``archive.importers.detect`` turns "the export is only a zip inside a
  zip" into a clear "unzip the outer archive first" error.
* **Long lines.** :meth:`ExportTree.read_lines` decodes line by line with a hard cap on the
  length of one line, for the line-oriented formats (WhatsApp, CSV).

Every refusal is an :class:`~archive.importers.base.ExportError` naming the member.
"""

from __future__ import annotations

import io
import itertools
import os
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO

from archive.importers.base import ExportError

__all__ = ["ExportLimits", "ExportTree", "open_export"]

GiB = 1024**3
MiB = 1024**2

#: Extensions treated as archives when they appear *inside* an export. They are not expanded.
ARCHIVE_SUFFIXES: frozenset[str] = frozenset(
    {".zip", ".7z", ".rar", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".zst", ".jar", ".apk"}
)

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_S_IFLNK = 0o120000
_S_IFMT = 0o170000


@dataclass(frozen=True, slots=True)
class ExportLimits:
    """Upper bounds for one export. The defaults fit the largest real downloads we know of
    (multi-GB Facebook/Instagram media zips) while stopping decompression bombs early."""

    max_total_bytes: int = 20 * GiB  # sum of uncompressed member sizes
    max_member_bytes: int = 4 * GiB  # one member, uncompressed
    max_members: int = 500_000
    max_ratio: float = 200.0  # uncompressed / compressed, per member and whole archive
    # Below this size the ratio is not checked: a 50 KB run of JSON indentation compresses
    # far better than 200:1 and is harmless.
    ratio_floor_bytes: int = 1 * MiB
    max_line_bytes: int = 1 * MiB  # default cap for read_lines
    max_name_length: int = 1024


DEFAULT_LIMITS = ExportLimits()


def _clean_member_name(raw: str, *, limits: ExportLimits) -> str:
    """Normalise a member name to a relative POSIX path or raise ExportError.

    Backslashes are treated as separators because Windows tools write them into zips and
    extractors on Windows honour them, so ``..\\x`` is as dangerous as ``../x``."""
    if "\x00" in raw:
        raise ExportError("member name contains a NUL byte; refusing the export", file=repr(raw))
    if len(raw) > limits.max_name_length:
        raise ExportError("member name is implausibly long; refusing the export", file=raw[:80] + "…")
    name = raw.replace("\\", "/")
    if name.startswith("/"):
        raise ExportError("absolute path inside the export; refusing it", file=raw)
    first = name.split("/", 1)[0]
    if len(first) >= 2 and first[1] == ":" and first[0].isalpha():
        raise ExportError("drive-letter path inside the export; refusing it", file=raw)
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ExportError("path traversal ('..') inside the export; refusing it", file=raw)
    return "/".join(parts)


def is_nested_archive(name: str) -> bool:
    return PurePosixPath(name.lower()).suffix in ARCHIVE_SUFFIXES


class _Budget:
    """Counts bytes actually produced, per member (high-water mark) and for the whole tree,
    so re-reading a member (detection, then parsing) does not count twice."""

    def __init__(self, limits: ExportLimits) -> None:
        self.limits = limits
        self.high_water: dict[str, int] = {}
        self.total = 0

    def charge(self, name: str, produced: int, declared: int | None) -> None:
        cap = self.limits.max_member_bytes
        if declared is not None:
            cap = min(cap, declared)
        if produced > cap:
            raise ExportError(
                "member produced more bytes than its header declares or the per-file limit allows "
                "(possible decompression bomb); refusing the export",
                file=name,
            )
        previous = self.high_water.get(name, 0)
        if produced > previous:
            self.total += produced - previous
            self.high_water[name] = produced
            if self.total > self.limits.max_total_bytes:
                raise ExportError("export exceeds the total size limit while reading", file=name)


class _GuardedRaw(io.RawIOBase):
    """Wraps a member stream: counts bytes against the budget and turns low-level
    decompression/CRC/IO failures into ExportError naming the member."""

    def __init__(self, inner: IO[bytes], name: str, budget: _Budget, declared: int | None) -> None:
        super().__init__()
        self._inner = inner
        self._name = name
        self._budget = budget
        self._declared = declared
        self._produced = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        try:
            chunk = self._inner.read(len(view))
        except ExportError:
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
            raise ExportError(
                f"the file is damaged or cannot be decompressed ({type(exc).__name__})", file=self._name
            ) from None
        n = len(chunk)
        view[:n] = chunk
        self._produced += n
        self._budget.charge(self._name, self._produced, self._declared)
        return n

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


class ExportTree:
    """Read-only, validated view of an export. Member names are relative POSIX paths.

    Use as a context manager (or call :meth:`close`) to release the underlying zip file."""

    kind: str = ""

    def __init__(self, display_name: str, limits: ExportLimits) -> None:
        self.display_name = display_name
        self.limits = limits
        self.nested_archives: list[str] = []  # members that are archives; never expanded
        self.skipped: list[str] = []  # folder entries ignored (devices, fifos, in-tree dir links)
        self._budget = _Budget(limits)
        self._sizes: dict[str, int] = {}
        self._declared_total = 0

    # -- the ExportTreeLike protocol -------------------------------------------------------

    def names(self) -> list[str]:
        """All regular-file members, sorted."""
        return sorted(self._sizes)

    def size(self, name: str) -> int:
        """Declared uncompressed size of a member."""
        try:
            return self._sizes[name]
        except KeyError:
            raise ExportError("no such file in the export", file=name) from None

    def open(self, name: str) -> IO[bytes]:
        """A buffered binary stream over one member, guarded by the export limits."""
        declared = self.size(name)
        raw = _GuardedRaw(self._open_raw(name), name, self._budget, declared)
        return io.BufferedReader(raw, buffer_size=64 * 1024)

    # -- conveniences ----------------------------------------------------------------------

    def __contains__(self, name: object) -> bool:
        return name in self._sizes

    def read_prefix(self, name: str, n: int = 4096) -> bytes:
        """The first ``n`` bytes of a member: cheap sniffing for ``detect``."""
        with self.open(name) as fh:
            return fh.read(n)

    def read_bytes(self, name: str, *, max_bytes: int = 64 * MiB) -> bytes:
        """A whole (small) member. Refuses members over ``max_bytes``: use ``open`` to stream."""
        if self.size(name) > max_bytes:
            raise ExportError(f"file is larger than {max_bytes} bytes; it must be streamed", file=name)
        with self.open(name) as fh:
            data = fh.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ExportError(f"file is larger than {max_bytes} bytes; it must be streamed", file=name)
        return data

    def read_lines(
        self, name: str, *, max_line_bytes: int | None = None, encoding: str = "utf-8"
    ) -> Iterator[tuple[int, str]]:
        """Yield ``(lineno, line)`` (1-based) with the line terminator (``\\n`` or ``\\r\\n``)
        removed. A UTF-8 BOM at the start is dropped. Raises ExportError naming the file and
        line on an invalid byte sequence or on a line longer than ``max_line_bytes``."""
        cap = self.limits.max_line_bytes if max_line_bytes is None else max_line_bytes
        with self.open(name) as fh:
            lineno = 0
            while True:
                raw = fh.readline(cap + 1)
                if not raw:
                    return
                lineno += 1
                if len(raw) > cap and not (len(raw) == cap + 1 and raw.endswith(b"\n")):
                    raise ExportError(f"line is longer than {cap} bytes", file=name, line=lineno)
                if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                if raw.endswith(b"\n"):
                    raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
                try:
                    text = raw.decode(encoding)
                except UnicodeDecodeError:
                    raise ExportError(f"line is not valid {encoding} text", file=name, line=lineno) from None
                yield lineno, text

    def close(self) -> None:
        """Release resources; the base class holds none."""

    def __enter__(self) -> ExportTree:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.display_name!r} ({len(self._sizes)} files)>"

    # -- for subclasses --------------------------------------------------------------------

    def _open_raw(self, name: str) -> IO[bytes]:
        raise NotImplementedError

    def _add(self, name: str, size: int, original: str) -> None:
        """Register a member, enforcing duplicate/count/size limits on declared values."""
        if name in self._sizes:
            raise ExportError("duplicate member name in the export; refusing it", file=original)
        if len(self._sizes) >= self.limits.max_members:
            raise ExportError(
                f"export has more than {self.limits.max_members} files; refusing it", file=original
            )
        if size > self.limits.max_member_bytes:
            raise ExportError("file exceeds the per-file size limit; refusing the export", file=original)
        self._sizes[name] = size
        self._declared_total += size
        if self._declared_total > self.limits.max_total_bytes:
            raise ExportError("export exceeds the total size limit; refusing it", file=original)
        if is_nested_archive(name):
            self.nested_archives.append(name)


class ZipExportTree(ExportTree):
    kind = "zip"

    def __init__(
        self, path: Path | IO[bytes], limits: ExportLimits, *, display_name: str = "", archive_size: int = 0
    ) -> None:
        # ``path`` may be a seekable stream (an export kept sealed in blob storage, decrypted
        # chunk by chunk as zipfile seeks): the plaintext never lands on disk.
        display_name = display_name or (path.name if isinstance(path, Path) else "upload.zip")
        archive_size = archive_size or (path.stat().st_size if isinstance(path, Path) else 0)
        super().__init__(display_name, limits)
        self._archive_size = archive_size
        self._infos: dict[str, zipfile.ZipInfo] = {}
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise ExportError(
                f"not a readable zip archive ({type(exc).__name__})", file=display_name
            ) from None
        try:
            self._validate(Path(display_name))
        except BaseException:
            self._zip.close()
            raise

    def _validate(self, path: Path) -> None:
        limits = self.limits
        infos = self._zip.infolist()
        if len(infos) > limits.max_members:
            raise ExportError(f"export has more than {limits.max_members} files; refusing it", file=path.name)
        seen_lower: dict[str, str] = {}
        for info in infos:
            name = _clean_member_name(info.filename, limits=limits)
            mode = (info.external_attr >> 16) & _S_IFMT
            if mode == _S_IFLNK:
                raise ExportError("symbolic link inside the export; refusing it", file=info.filename)
            if info.is_dir() or not name:
                continue
            if info.flag_bits & 0x1:
                raise ExportError("file is password-protected; export it again without a password", file=name)
            # Case-insensitive duplicates extract onto the same file on macOS/Windows.
            low = name.casefold()
            if low in seen_lower:
                raise ExportError("duplicate member name in the export; refusing it", file=info.filename)
            seen_lower[low] = name
            if info.file_size > limits.ratio_floor_bytes and (
                info.compress_size <= 0 or info.file_size / info.compress_size > limits.max_ratio
            ):
                raise ExportError(
                    "compression ratio is implausibly high (possible decompression bomb); refusing it",
                    file=name,
                )
            self._add(name, info.file_size, info.filename)
            self._infos[name] = info
        total = sum(self._sizes.values())
        archive_bytes = max(self._archive_size, 1)
        if total > limits.ratio_floor_bytes and total / archive_bytes > limits.max_ratio:
            raise ExportError(
                "archive expands to implausibly more than its own size (possible decompression bomb)",
                file=path.name,
            )
        self._check_overlaps()

    def _check_overlaps(self) -> None:
        """Refuse members whose compressed data overlaps another's: the trick behind
        non-recursive zip bombs, where many entries share one highly compressed blob."""
        ordered = sorted(self._infos.values(), key=lambda i: i.header_offset)
        for a, b in itertools.pairwise(ordered):
            # 30 bytes of fixed local header + the name: a lower bound on where a's data ends.
            name_len = len(a.filename.encode("utf-8", "surrogateescape"))
            if b.header_offset < a.header_offset + 30 + name_len + a.compress_size:
                raise ExportError(
                    "zip members overlap (possible decompression bomb); refusing it", file=b.filename
                )

    def _open_raw(self, name: str) -> IO[bytes]:
        info = self._infos[name]
        try:
            return self._zip.open(info)
        except (zipfile.BadZipFile, zlib.error, OSError, ValueError, NotImplementedError, EOFError) as exc:
            raise ExportError(f"cannot open the file in the zip ({type(exc).__name__})", file=name) from None

    def close(self) -> None:
        self._zip.close()


class FolderExportTree(ExportTree):
    kind = "folder"

    def __init__(self, root: Path, limits: ExportLimits) -> None:
        super().__init__(root.name, limits)
        self._root = root.resolve()
        self._paths: dict[str, Path] = {}
        self._scan()

    def _inside(self, target: Path) -> bool:
        return target == self._root or target.is_relative_to(self._root)

    def _scan(self) -> None:
        for dirpath, dirnames, filenames in os.walk(self._root, followlinks=False):
            base = Path(dirpath)
            for d in list(dirnames):
                p = base / d
                if p.is_symlink():
                    rel = p.relative_to(self._root).as_posix()
                    if not self._inside(p.resolve()):
                        raise ExportError("symbolic link pointing outside the export; refusing it", file=rel)
                    # In-tree directory links would only list files twice (or loop): skip.
                    self.skipped.append(rel)
                    dirnames.remove(d)
            dirnames.sort()
            for f in sorted(filenames):
                p = base / f
                rel = p.relative_to(self._root).as_posix()
                name = _clean_member_name(rel, limits=self.limits)
                target = p.resolve() if p.is_symlink() else p
                if p.is_symlink() and not self._inside(target):
                    raise ExportError("symbolic link pointing outside the export; refusing it", file=rel)
                try:
                    st = target.stat()
                except OSError:
                    self.skipped.append(rel)  # dangling link or vanished file
                    continue
                if not stat.S_ISREG(st.st_mode):
                    self.skipped.append(rel)  # fifos, sockets, devices: never opened
                    continue
                self._add(name, st.st_size, rel)
                self._paths[name] = p  # resolved again at open time

    def _open_raw(self, name: str) -> IO[bytes]:
        path = self._paths[name]
        # Re-check at open time: the folder may have changed since the scan.
        resolved = path.resolve()
        if not self._inside(resolved):
            raise ExportError("symbolic link pointing outside the export; refusing it", file=name)
        try:
            st = resolved.stat()
            if not stat.S_ISREG(st.st_mode):
                raise ExportError("not a regular file", file=name)
            return open(resolved, "rb")  # closed by the caller via the wrapper
        except OSError as exc:
            raise ExportError(f"cannot read the file ({type(exc).__name__})", file=name) from None


class SingleFileExportTree(ExportTree):
    """One loose file (e.g. a lone ``message_1.json`` or ``_chat.txt``): one member, its name."""

    kind = "file"

    def __init__(self, path: Path, limits: ExportLimits) -> None:
        super().__init__(path.name, limits)
        if path.is_symlink():
            raise ExportError("the export is a symbolic link; refusing it", file=path.name)
        self._path = path
        self._add(_clean_member_name(path.name, limits=limits), path.stat().st_size, path.name)

    def _open_raw(self, name: str) -> IO[bytes]:
        try:
            return open(self._path, "rb")  # closed by the caller via the wrapper
        except OSError as exc:
            raise ExportError(f"cannot read the file ({type(exc).__name__})", file=name) from None


class StreamExportTree(ExportTree):
    """One loose file held as a seekable stream (a sealed upload that is not a zip)."""

    kind = "file"

    def __init__(self, opener: Callable[[], IO[bytes]], name: str, size: int, limits: ExportLimits) -> None:
        super().__init__(name, limits)
        self._opener = opener
        self._add(_clean_member_name(name, limits=limits), size, name)

    def _open_raw(self, name: str) -> IO[bytes]:
        return self._opener()


def open_export_stream(
    opener: Callable[[], IO[bytes]], name: str, size: int, limits: ExportLimits | None = None
) -> ExportTree:
    """Open an export given as a seekable stream factory (zip or single file)."""
    limits = limits or DEFAULT_LIMITS
    with opener() as probe:
        head = probe.read(4)
    if name.lower().endswith(".zip") or head in _ZIP_MAGIC:
        return ZipExportTree(opener(), limits, display_name=name, archive_size=size)
    return StreamExportTree(opener, name, size, limits)


def _looks_like_zip(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return False
    return head in _ZIP_MAGIC


def open_export(path: Path | str, limits: ExportLimits | None = None) -> ExportTree:
    """Open a zip, a folder or a single file as a validated :class:`ExportTree`."""
    path = Path(path)
    limits = limits or DEFAULT_LIMITS
    if path.is_symlink() and path.is_dir():
        raise ExportError("the export folder is a symbolic link; refusing it", file=path.name)
    if path.is_dir():
        return FolderExportTree(path, limits)
    if not path.exists():
        raise ExportError("the export file does not exist", file=path.name)
    if path.suffix.lower() == ".zip" or _looks_like_zip(path):
        return ZipExportTree(path, limits)
    return SingleFileExportTree(path, limits)
