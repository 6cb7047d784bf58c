"""Facebook Messenger "Download Your Information" (JSON) and the Messenger end-to-end-encrypted
("secure storage") download. The reader is shared with Instagram: see ``meta_common``.

Accepted inputs: the whole DYI zip or folder (``messages/``, ``your_facebook_activity/messages/``
or ``your_activity_across_facebook/messages/`` roots; sections inbox, archived_threads,
filtered_threads, message_requests and e2ee_cutover become conversation labels), any sub-folder
of it, a single ``message_N.json``, or the secure-storage download (``<Name>_<n>.json`` files
plus ``media/``). The HTML variant of the download is refused with a clear message.
"""

from __future__ import annotations

from typing import ClassVar

from archive.importers.base import CompletenessNote
from archive.importers.meta_common import MetaImporter


class FacebookMessengerImporter(MetaImporter):
    platform: ClassVar[str] = "facebook"
    label: ClassVar[str] = "Facebook Messenger"

    def completeness(self) -> list[CompletenessNote]:
        return [
            *super().completeness(),
            CompletenessNote(
                "e2ee_missing",
                "The classic download omits end-to-end-encrypted chats (the default since December 2023); "
                "only their pre-encryption history is in e2ee_cutover/. Import the separate Messenger "
                "secure-storage download for the rest.",
            ),
            CompletenessNote(
                "media_links_expire",
                "Media not included in the download is only referenced by a short-lived CDN link, which is "
                "not kept.",
            ),
            CompletenessNote(
                "no_edits_or_replies",
                "Edit history, reply links and read receipts are not exported; unsent messages keep only "
                "their sender and time.",
            ),
        ]
