"""Instagram "Download your information" (JSON) messages: ``your_instagram_activity/messages/``
(2023+) or ``messages/`` (older) with the same thread schema and mojibake as Messenger, so the
reader is shared: see ``meta_common``. The pre-2020 single ``messages.json`` layout is not
supported (no real sample exists to build it against).
"""

from __future__ import annotations

from typing import ClassVar

from archive.importers.base import CompletenessNote
from archive.importers.meta_common import MetaImporter


class InstagramImporter(MetaImporter):
    platform: ClassVar[str] = "instagram"
    label: ClassVar[str] = "Instagram"

    def completeness(self) -> list[CompletenessNote]:
        return [
            *super().completeness(),
            CompletenessNote(
                "usernames_sometimes",
                "Senders appear by display name, or by username when the account has no display name; "
                "the two cannot be linked.",
            ),
            CompletenessNote(
                "shared_posts_links_only",
                "Shared posts, reels and stories are exported as links; their media is not included.",
            ),
            CompletenessNote(
                "no_edits_or_replies",
                "Edit history, reply links and seen receipts are not exported.",
            ),
        ]
