"""open_export: a safe, read-only view of a zip, a folder or a single file."""

from __future__ import annotations

import io
import os
import struct
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.importers.base import ExportError
from archive.importers.tree import ExportLimits, ExportTree, _clean_member_name, open_export


def make_zip(path: Path, members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def read_all(tree: ExportTree) -> None:
    for name in tree.names():
        with tree.open(name) as fh:
            while fh.read(65536):
                pass


# -- ordinary use ---------------------------------------------------------------------------


def test_zip_lists_opens_and_sizes_members(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "x.zip", {"a/b.json": b'{"k": 1}', "c.txt": b"hello"})
    with open_export(z) as tree:
        assert tree.kind == "zip"
        assert tree.display_name == "x.zip"
        assert tree.names() == ["a/b.json", "c.txt"]
        assert tree.size("c.txt") == 5
        assert tree.open("a/b.json").read() == b'{"k": 1}'
        assert "c.txt" in tree
        assert tree.read_prefix("c.txt", 2) == b"he"


def test_directory_entries_are_not_members(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "x.zip", {"dir/": b"", "dir/f.txt": b"x"})
    assert open_export(z).names() == ["dir/f.txt"]


def test_a_zip_is_recognised_by_its_magic_bytes_without_the_extension(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "download.bin", {"f.txt": b"x"})
    assert open_export(z).kind == "zip"


def test_folder_export_lists_relative_posix_names(tmp_path: Path) -> None:
    (tmp_path / "exp" / "sub").mkdir(parents=True)
    (tmp_path / "exp" / "sub" / "f.json").write_bytes(b"{}")
    (tmp_path / "exp" / "top.txt").write_bytes(b"t")
    tree = open_export(tmp_path / "exp")
    assert tree.kind == "folder"
    assert tree.names() == ["sub/f.json", "top.txt"]
    assert tree.open("sub/f.json").read() == b"{}"


def test_single_file_export_has_one_member_named_after_the_file(tmp_path: Path) -> None:
    f = tmp_path / "message_1.json"
    f.write_bytes(b"{}")
    tree = open_export(f)
    assert tree.kind == "file"
    assert tree.names() == ["message_1.json"]
    assert tree.size("message_1.json") == 2


def test_unknown_member_is_an_export_error(tmp_path: Path) -> None:
    tree = open_export(make_zip(tmp_path / "x.zip", {"a": b""}))
    with pytest.raises(ExportError, match="no such file"):
        tree.open("b")


def test_missing_path_is_an_export_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="does not exist"):
        open_export(tmp_path / "nope.zip")


def test_close_releases_the_zip(tmp_path: Path) -> None:
    tree = open_export(make_zip(tmp_path / "x.zip", {"a": b"1"}))
    tree.close()
    with pytest.raises((ExportError, ValueError)):
        tree.open("a").read()


# -- read_lines -----------------------------------------------------------------------------


def test_read_lines_strips_bom_and_line_endings(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "x.zip", {"chat.txt": b"\xef\xbb\xbffirst\r\nsecond\nthird"})
    assert list(open_export(z).read_lines("chat.txt")) == [(1, "first"), (2, "second"), (3, "third")]


def test_read_lines_refuses_an_over_long_line_naming_file_and_line(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "x.zip", {"chat.txt": b"ok\n" + b"x" * 100 + b"\n"})
    with pytest.raises(ExportError, match="longer than 50 bytes") as err:
        list(open_export(z).read_lines("chat.txt", max_line_bytes=50))
    assert err.value.file == "chat.txt"
    assert err.value.line == 2


def test_read_lines_accepts_a_line_exactly_at_the_limit(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "x.zip", {"chat.txt": b"y" * 50 + b"\n" + b"z" * 50})
    assert [len(t) for _, t in open_export(z).read_lines("chat.txt", max_line_bytes=50)] == [50, 50]


def test_read_lines_refuses_invalid_utf8_naming_the_line(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "x.zip", {"chat.txt": b"fine\n\xff\xfe broken\n"})
    with pytest.raises(ExportError, match="not valid utf-8") as err:
        list(open_export(z).read_lines("chat.txt"))
    assert (err.value.file, err.value.line) == ("chat.txt", 2)


def test_read_lines_default_limit_comes_from_export_limits(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "x.zip", {"chat.txt": b"a" * 20})
    with pytest.raises(ExportError, match="longer than 10"):
        list(open_export(z, ExportLimits(max_line_bytes=10)).read_lines("chat.txt"))


# -- path tricks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "evil",
    ["../evil.txt", "a/../../evil.txt", "..\\evil.txt", "a\\..\\..\\evil.txt"],
)
def test_path_traversal_is_refused_naming_the_member(tmp_path: Path, evil: str) -> None:
    z = make_zip(tmp_path / "x.zip", {"ok.txt": b"1", evil: b"2"})
    with pytest.raises(ExportError, match="traversal") as err:
        open_export(z)
    assert err.value.file == evil


@pytest.mark.parametrize("evil", ["/etc/passwd", "\\windows\\system.ini"])
def test_absolute_paths_are_refused(tmp_path: Path, evil: str) -> None:
    z = make_zip(tmp_path / "x.zip", {"ok": b"1"})
    with zipfile.ZipFile(z, "a") as zf:
        info = zipfile.ZipInfo("placeholder")
        info.filename = evil  # bypass zipfile's own sanitising of leading slashes
        zf.writestr(info, b"x")
    with pytest.raises(ExportError, match="absolute path") as err:
        open_export(z)
    assert err.value.file == evil


@pytest.mark.parametrize("evil", ["C:/Windows/evil.dll", "c:\\evil.txt", "D:evil"])
def test_drive_letters_are_refused(tmp_path: Path, evil: str) -> None:
    z = tmp_path / "x.zip"
    with zipfile.ZipFile(z, "w") as zf:
        info = zipfile.ZipInfo("placeholder")
        info.filename = evil
        zf.writestr(info, b"x")
    with pytest.raises(ExportError, match="drive-letter"):
        open_export(z)


def test_nul_byte_in_a_name_is_refused() -> None:
    # zipfile itself cuts names at NUL when reading; folder names and callers still get the check.
    with pytest.raises(ExportError, match="NUL"):
        _clean_member_name("a\x00.txt", limits=ExportLimits())


# -- links ----------------------------------------------------------------------------------


def test_zip_member_with_symlink_mode_is_refused(tmp_path: Path) -> None:
    z = tmp_path / "x.zip"
    with zipfile.ZipFile(z, "w") as zf:
        info = zipfile.ZipInfo("innocent.json")
        info.external_attr = (0o120777 << 16) | 0x20
        info.create_system = 3  # Unix
        zf.writestr(info, b"/etc/passwd")
    with pytest.raises(ExportError, match="symbolic link") as err:
        open_export(z)
    assert err.value.file == "innocent.json"


def test_folder_symlink_pointing_outside_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s")
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "leak.json").symlink_to(secret)
    with pytest.raises(ExportError, match="outside the export") as err:
        open_export(exp)
    assert err.value.file == "leak.json"


def test_folder_directory_symlink_pointing_outside_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "sub").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(ExportError, match="outside the export"):
        open_export(exp)


def test_folder_symlink_inside_the_export_is_allowed(tmp_path: Path) -> None:
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "real.jpg").write_bytes(b"img")
    (exp / "copy.jpg").symlink_to(exp / "real.jpg")
    tree = open_export(exp)
    assert tree.open("copy.jpg").read() == b"img"


def test_folder_symlink_retargeted_outside_after_the_scan_is_refused_on_open(tmp_path: Path) -> None:
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "real.jpg").write_bytes(b"img")
    (exp / "copy.jpg").symlink_to(exp / "real.jpg")
    tree = open_export(exp)
    (tmp_path / "secret").write_text("s")
    (exp / "copy.jpg").unlink()
    (exp / "copy.jpg").symlink_to(tmp_path / "secret")
    with pytest.raises(ExportError):
        tree.open("copy.jpg")


def test_the_export_itself_may_not_be_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real.json").write_bytes(b"{}")
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    with pytest.raises(ExportError, match="symbolic link"):
        open_export(tmp_path / "link.json")


def test_fifos_in_a_folder_are_skipped_not_opened(tmp_path: Path) -> None:
    exp = tmp_path / "exp"
    exp.mkdir()
    os.mkfifo(exp / "pipe")
    tree = open_export(exp)
    assert tree.names() == []
    assert tree.skipped == ["pipe"]


# -- duplicates and counts ------------------------------------------------------------------


def test_duplicate_member_names_are_refused(tmp_path: Path) -> None:
    z = tmp_path / "x.zip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(z, "w") as zf:
            zf.writestr("a.json", b"1")
            zf.writestr("a.json", b"2")
    with pytest.raises(ExportError, match="duplicate") as err:
        open_export(z)
    assert err.value.file == "a.json"


@pytest.mark.parametrize("pair", [("A.json", "a.json"), ("d/x.json", "d\\x.json"), ("d/x", "d/./x")])
def test_names_that_collide_after_normalisation_are_refused(tmp_path: Path, pair: tuple[str, str]) -> None:
    z = make_zip(tmp_path / "x.zip", {pair[0]: b"1", pair[1]: b"2"})
    with pytest.raises(ExportError, match="duplicate"):
        open_export(z)


def test_member_count_limit(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "x.zip", {f"f{i}": b"" for i in range(11)})
    with pytest.raises(ExportError, match="more than 10 files"):
        open_export(z, ExportLimits(max_members=10))


# -- decompression bombs --------------------------------------------------------------------


def test_high_compression_ratio_is_refused(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "bomb.zip", {"zeros.json": b"\0" * (8 * 1024 * 1024)})
    with pytest.raises(ExportError, match="compression ratio") as err:
        open_export(z)
    assert err.value.file == "zeros.json"


def test_small_highly_compressible_files_are_fine(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "ok.zip", {"indent.json": b" " * 100_000})
    read_all(open_export(z))


def test_per_member_size_limit(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "x.zip", {"big.bin": os.urandom(2000)}, compression=zipfile.ZIP_STORED)
    with pytest.raises(ExportError, match="per-file size limit") as err:
        open_export(z, ExportLimits(max_member_bytes=1000))
    assert err.value.file == "big.bin"


def test_total_size_limit(tmp_path: Path) -> None:
    z = make_zip(
        tmp_path / "x.zip", {f"f{i}": os.urandom(600) for i in range(3)}, compression=zipfile.ZIP_STORED
    )
    with pytest.raises(ExportError, match="total size limit"):
        open_export(z, ExportLimits(max_total_bytes=1000))


def _patch_central_size(z: Path, name: bytes, new_size: int) -> None:
    """Rewrite the uncompressed size of ``name`` in the central directory (headers lie)."""
    data = bytearray(z.read_bytes())
    pos = data.find(b"PK\x01\x02" + b"")
    while pos != -1:
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if bytes(data[pos + 46 : pos + 46 + name_len]) == name:
            struct.pack_into("<I", data, pos + 24, new_size)
            break
        pos = data.find(b"PK\x01\x02", pos + 4)
    z.write_bytes(bytes(data))


def test_member_producing_more_than_declared_is_refused_while_reading(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "liar.zip", {"liar.json": os.urandom(5000)})
    _patch_central_size(z, b"liar.json", 10)
    tree = open_export(z)
    assert tree.size("liar.json") == 10
    with pytest.raises(ExportError) as err:
        read_all(tree)
    assert err.value.file == "liar.json"


def test_folder_file_growing_after_the_scan_is_stopped_at_its_declared_size(tmp_path: Path) -> None:
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "grow.json").write_bytes(b"x" * 10)
    tree = open_export(exp)
    (exp / "grow.json").write_bytes(b"x" * 100_000)
    with pytest.raises(ExportError, match="more bytes than its header declares"):
        read_all(tree)


def test_overlapping_members_are_refused(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "overlap.zip", {"a.json": b"A" * 100, "b.json": b"B" * 100})
    data = bytearray(z.read_bytes())
    # Point b.json's central-directory entry at a.json's local header (offset 0).
    pos = data.find(b"PK\x01\x02", data.find(b"PK\x01\x02") + 4)
    struct.pack_into("<I", data, pos + 42, 0)
    z.write_bytes(bytes(data))
    with pytest.raises(ExportError, match="overlap"):
        open_export(z)


def test_archive_expanding_far_beyond_its_own_size_is_refused(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "x.zip", {"a.bin": os.urandom(3000)}, compression=zipfile.ZIP_STORED)
    _patch_central_size(z, b"a.bin", 2 * 1024 * 1024)  # claims 2 MiB from a ~3 KB file
    with pytest.raises(ExportError, match="implausibly"):
        open_export(z)


def test_password_protected_members_are_refused(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "x.zip", {"a.json": b"{}"})
    data = bytearray(z.read_bytes())
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = data.find(sig)
        struct.pack_into("<H", data, pos + flag_at, struct.unpack_from("<H", data, pos + flag_at)[0] | 1)
    z.write_bytes(bytes(data))
    with pytest.raises(ExportError, match="password"):
        open_export(z)


def test_corrupt_member_data_is_an_export_error_naming_the_member(tmp_path: Path) -> None:
    payload = os.urandom(4000)
    z = make_zip(tmp_path / "x.zip", {"data.bin": payload})
    raw = bytearray(z.read_bytes())
    raw[200] ^= 0xFF  # flip a byte inside the compressed data
    z.write_bytes(bytes(raw))
    with pytest.raises(ExportError) as err:
        read_all(open_export(z))
    assert err.value.file == "data.bin"


def test_garbage_with_a_zip_name_is_an_export_error(tmp_path: Path) -> None:
    z = tmp_path / "x.zip"
    z.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(ExportError, match="not a readable zip"):
        open_export(z)


# -- nested archives ------------------------------------------------------------------------


def test_nested_archives_are_listed_but_never_expanded(tmp_path: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("inside.json", b"{}")
    z = make_zip(tmp_path / "outer.zip", {"files/sent.zip": inner.getvalue(), "message_1.json": b"{}"})
    tree = open_export(z)
    assert tree.names() == ["files/sent.zip", "message_1.json"]  # no "inside.json"
    assert tree.nested_archives == ["files/sent.zip"]
    assert tree.open("files/sent.zip").read() == inner.getvalue()  # opaque bytes


# -- fuzzing --------------------------------------------------------------------------------


def _valid_zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/message_1.json", b'{"participants": [], "messages": []}' * 20)
        zf.writestr("b.txt", b"line\n" * 50)
    return buf.getvalue()


VALID_ZIP = _valid_zip_bytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mangled_zips_raise_only_export_error(tmp_path: Path, data: st.DataObject) -> None:
    blob = bytearray(VALID_ZIP)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(blob) - 1))
        blob[i] = data.draw(st.integers(0, 255))
    blob = blob[: data.draw(st.integers(4, len(blob)))]
    z = tmp_path / "fuzz.zip"
    z.write_bytes(bytes(blob))
    try:
        with open_export(z) as tree:
            read_all(tree)
            for name in tree.names():
                list(tree.read_lines(name))
    except ExportError:
        pass
