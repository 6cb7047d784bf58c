"""Shared helpers for the LinkedIn/TikTok/WhatsApp/Telegram/Slack/Discord importer tests."""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from archive.importers.base import ExportError, ParsedConversation, ParsedMessage
from archive.importers.tree import open_export

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO.parent / "shared" / "samples"
FIXTURES = REPO / "tests" / "archive" / "fixtures"


@dataclass
class Conv:
    """A conversation with its messages materialised, for assertions."""

    conv: ParsedConversation
    messages: list[ParsedMessage]

    @property
    def participant_ids(self) -> set[str]:
        return {p.platform_id for p in self.conv.participants}


def collect(importer: object, path: Path, **kwargs: str) -> list[Conv]:
    """Open ``path`` with the real export tree and fully materialise what the importer yields."""
    with open_export(path) as tree:
        out = []
        for conv in importer.parse(tree, **kwargs):  # type: ignore[attr-defined]
            out.append(Conv(conv, list(conv.messages)))
        return out


def make_zip(path: Path, members: dict[str, bytes | Path]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data.read_bytes() if isinstance(data, Path) else data)
    return path


def assert_sorted(messages: Iterable[ParsedMessage]) -> None:
    times = [m.sent_at for m in messages]
    assert times == sorted(times)
    assert all(t.tzinfo is not None and t.utcoffset().total_seconds() == 0 for t in times)


def parse_bytes_only_export_error(importer: object, files: dict[str, bytes]) -> None:
    """Write ``files`` to a temporary folder, parse everything; only ExportError may escape."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, data in files.items():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        only = next(iter(files)) if len(files) == 1 and "/" not in next(iter(files)) else None
        try:
            with open_export(root / only if only else root) as tree:
                importer.detect(tree)  # type: ignore[attr-defined]
                for conv in importer.parse(tree):  # type: ignore[attr-defined]
                    for _ in conv.messages:
                        pass
        except ExportError:
            pass


def mangle(data: bytes, cut: int, flips: list[int], junk: bytes) -> bytes:
    """Truncate at ``cut`` (mod len), flip the bits at ``flips``, append ``junk``."""
    buf = bytearray(data[: cut % (len(data) + 1)])
    for pos in flips:
        if buf:
            buf[pos % len(buf)] ^= 1 << (pos % 8)
    return bytes(buf) + junk
