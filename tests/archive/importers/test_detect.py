"""detect_platform: pick the right importer, or explain why none fits."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from archive.importers.base import ExportError
from archive.importers.detect import detect_platform
from archive.importers.tree import open_export


def detect(path: Path) -> str:
    with open_export(path) as tree:
        return detect_platform(tree)[0]


@pytest.mark.parametrize(
    ("fixture", "platform"),
    [
        ("facebook/dyi", "facebook"),
        ("facebook/e2ee", "facebook"),
        ("instagram/current", "instagram"),
        ("twitter", "twitter"),
    ],
)
def test_our_fixtures_are_recognised(fixtures_dir: Path, fixture: str, platform: str) -> None:
    assert detect(fixtures_dir / fixture) == platform


def test_the_importer_returned_matches_the_platform(fixtures_dir: Path) -> None:
    with open_export(fixtures_dir / "twitter") as tree:
        platform, importer = detect_platform(tree)
    assert importer.platform == platform == "twitter"


@pytest.mark.parametrize(
    "sample",
    [
        "facebook-messenger/Ey767__facebook_messenger_analysis",
        "facebook-messenger/Hafsi07__FCB_MSGS_PARSER__EXCERPT",
        "facebook-messenger/thanhvanvu__call-log",
        "facebook-messenger/mlomb__chat-analytics",
        "instagram/AmanShah05__Instagram_Analysis__EXCERPT",
        "instagram/jmsgnnr__InstaParse",
        "twitter-x/milahu__twitter-milahu104",
        "twitter-x/larsbrinkhoff__twitter-data",
        "twitter-x/timlinux__timlinux-twitter-archive",
    ],
)
def test_real_samples_with_platform_cues(samples_dir: Path, sample: str) -> None:
    expected = {"facebook-messenger": "facebook", "instagram": "instagram", "twitter-x": "twitter"}
    assert detect(samples_dir / sample) == expected[sample.split("/")[0]]


def test_a_sample_filed_as_facebook_whose_media_paths_say_instagram(samples_dir: Path) -> None:
    # Its media uris all start with your_instagram_activity/, so Instagram is the right answer.
    assert (
        detect(samples_dir / "facebook-messenger/Shahriar-Sohan__Facebook_JSON_Data_Converter_For_LLM")
        == "instagram"
    )


@pytest.mark.parametrize(
    "sample",
    ["facebook-messenger/SebastianKut__messenger-calls-temp", "instagram/Shchushch__InstaMassageBot"],
)
def test_a_lone_meta_thread_without_cues_is_one_of_the_two(samples_dir: Path, sample: str) -> None:
    assert detect(samples_dir / sample) in {"facebook", "instagram"}


def test_folder_names_decide_between_facebook_and_instagram(tmp_path: Path) -> None:
    body = b'{"participants": [{"name": "A"}], "messages": [{"sender_name": "A", "timestamp_ms": 1}]}'
    for root, platform in (("your_facebook_activity", "facebook"), ("your_instagram_activity", "instagram")):
        f = tmp_path / platform / root / "messages/inbox/a_1/message_1.json"
        f.parent.mkdir(parents=True)
        f.write_bytes(body)
        assert detect(tmp_path / platform) == platform


def test_html_facebook_download_asks_for_json(fixtures_dir: Path) -> None:
    with pytest.raises(ExportError, match="choosing the JSON format"):
        detect(fixtures_dir / "facebook" / "html")


def test_zip_inside_a_zip_says_to_unzip_first(tmp_path: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("messages/inbox/a_1/message_1.json", b"{}")
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w") as zf:
        zf.writestr("facebook-download.zip", inner.getvalue())
    with pytest.raises(ExportError, match="another archive") as err:
        detect(outer)
    assert err.value.file == "facebook-download.zip"


def test_unrecognised_export_lists_the_supported_platforms(tmp_path: Path) -> None:
    (tmp_path / "readme.md").write_text("hello")
    with pytest.raises(ExportError, match="could not recognise") as err:
        detect(tmp_path)
    assert "facebook" in str(err.value) and "twitter" in str(err.value)


def test_empty_export(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExportError, match="empty"):
        detect(tmp_path / "empty")


def test_damaged_files_do_not_break_detection(tmp_path: Path) -> None:
    (tmp_path / "direct-messages.js").write_bytes(b"window.YTD.direct_messages.part0 = [ {broken")
    assert detect(tmp_path) == "twitter"  # the damage is reported by parse(), with the platform known
