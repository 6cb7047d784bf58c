"""Work out which platform an export comes from.

Every registered importer scores the export (0-100) from member names and the first bytes of
a file or two; the highest score wins, ties going to the earlier entry of ``REGISTRY``.
Facebook and Instagram share one schema, so a lone ``message_1.json`` without platform cues
in it is genuinely ambiguous: it is reported as Facebook and the caller should let the user
override. When nothing matches, the error says why where it can: an HTML Facebook/Instagram
download, or an archive that only wraps another archive.
"""

from __future__ import annotations

from archive.importers import REGISTRY, get_importer
from archive.importers.base import ExportError, ExportTreeLike, Importer
from archive.importers.meta_common import HTML_VARIANT_MESSAGE, html_thread_files
from archive.importers.tree import is_nested_archive

#: Below this score an importer's opinion is not trusted.
MIN_CONFIDENCE = 30


def detect_platform(export: ExportTreeLike) -> tuple[str, Importer]:
    """Return ``(platform, importer)`` for the best-scoring importer, or raise ExportError."""
    best: tuple[int, str, Importer] | None = None
    for platform in REGISTRY:
        try:
            importer = get_importer(platform)
        except (ImportError, AttributeError):
            continue  # an importer not written yet must not break detection of the others
        detect = getattr(importer, "detect", None)
        if detect is None:
            continue
        try:
            score = int(detect(export))
        except ExportError:
            score = 0  # a damaged file is reported by parse(), with the platform known
        if score >= MIN_CONFIDENCE and (best is None or score > best[0]):
            best = (score, platform, importer)
    if best is not None:
        return best[1], best[2]
    raise _nothing_matched(export)


def _nothing_matched(export: ExportTreeLike) -> ExportError:
    names = export.names()
    if html_thread_files(names):
        return ExportError(HTML_VARIANT_MESSAGE)
    if not names:
        return ExportError("the export is empty")
    archives = [n for n in names if is_nested_archive(n)]
    if archives and len(archives) == len(names):
        return ExportError(
            "the upload only contains another archive, which is never unpacked automatically; "
            "unzip it and upload its contents (or the inner zip itself)",
            file=archives[0],
        )
    known = ", ".join(sorted(REGISTRY))
    return ExportError(
        f"could not recognise this export as any supported platform ({known}); upload the "
        "platform's data download unchanged (the zip, or the folder it unpacks to)"
    )
