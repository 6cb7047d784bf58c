"""One importer per platform, registered here by dotted path and loaded on first use.

Adding a platform means one module under ``archive/importers/``, one line below, fixtures
under ``tests/archive/fixtures/<platform>/`` and one test file.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module

from archive.importers.base import Importer

REGISTRY: dict[str, str] = {
    "facebook": "archive.importers.facebook.FacebookMessengerImporter",
    "instagram": "archive.importers.instagram.InstagramImporter",
    "twitter": "archive.importers.twitter.TwitterImporter",
    "linkedin": "archive.importers.linkedin.LinkedInImporter",
    "tiktok": "archive.importers.tiktok.TikTokImporter",
    "whatsapp": "archive.importers.whatsapp.WhatsAppImporter",
    "telegram": "archive.importers.telegram.TelegramImporter",
    "slack": "archive.importers.slack.SlackImporter",
    "discord": "archive.importers.discord.DiscordImporter",
}


@cache
def get_importer(platform: str) -> Importer:
    try:
        dotted = REGISTRY[platform]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise ValueError(f"unknown platform {platform!r}; known platforms: {known}") from None
    module_name, _, class_name = dotted.rpartition(".")
    importer: Importer = getattr(import_module(module_name), class_name)()
    return importer
