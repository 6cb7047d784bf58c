"""Erasure tombstones: an erased data subject stays erased when their messages are imported again.

Erasure leaves the subject's message rows as content-less tombstones and shreds their keys, but
a later import of an export that still holds their messages (the same export again, or a newer
one from the account owner) would otherwise write those messages afresh under new keys: readable,
indexed and searchable again. So erasure records, for each erased participant identity, a
**keyed hash** of that identity, and the ingest pipeline consults them.

What is stored
    ``ErasureTombstone.digest`` = HMAC-SHA256 under the vault's archive HMAC key of the
    participant's dedup key, itself the archive-keyed HMAC of (platform, platform participant id)
    that the writer uses to recognise a participant. Never a plain hash: without the keyring a
    digest cannot be tested against a guessed name or id. No name, handle or id is stored; the
    row keeps the (random) data subject id, for the erasure ledger.

What ingest does (``ingest_filter``, run by ``archive.ingest`` before the consent filter)
    For each imported conversation, each participant's digest is computed (two HMACs per
    distinct identity) and looked up. For a tombstoned identity:

    * its messages are dropped before the writer sees them (no row, no key, no posting, no
      attachment blob);
    * it is left out of the conversation's participants, so no participant row is created or
      linked and its identity is not sealed again;
    * its reactions are removed from other people's messages;
    * its name and handle, as the export spells them, are replaced by ``[erased]`` in the
      conversation title (used only when the conversation is new: existing titles are not
      rewritten by imports).

    Other people's messages are imported as they are. Mentions of the erased person *inside*
    messages written by others that were in the archive at erasure time were redacted by the
    erasure; mentions in third parties' messages that first arrive after it are kept as written
    (they are the third parties' messages, and changing their text would change the dedup key
    of exports without message ids, so a later re-import would duplicate them).

Backups
    A database restored from a snapshot taken before the erasure does not hold the tombstones.
    The erasure ledger entry (``dmvault.ops.ledger``) carries the digests (keyed hashes, like
    the ledger's ids, no content and no names), and ``restore`` puts them back before it
    replays the erasure, so an export imported after a restore is filtered as well.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

from archive.importers.base import ParsedConversation, ParsedMessage
from archive.models import Participant
from archive.vault import Vault, get_vault
from compliance.engine_models import ErasureTombstone

ERASED = "[erased]"
_PURPOSE = b"erased-identity"


def digest(dedup_key: bytes, vault: Vault | None = None) -> bytes:
    """The tombstone digest of a participant dedup key."""
    return (vault or get_vault()).keyed_hash(_PURPOSE, bytes(dedup_key))


def record(participant_ids: Iterable[int], subject_id: int | None = None) -> int:
    """Tombstone these participants' identities (idempotent); returns how many rows are new."""
    vault = get_vault()
    keys = Participant.objects.filter(id__in=list(participant_ids)).values_list("dedup_key", flat=True)
    digests = {digest(bytes(k), vault) for k in keys if k}
    return restore(digests, subject_id)


def restore(digests: Iterable[bytes], subject_id: int | None = None) -> int:
    digests = set(digests)
    if not digests:
        return 0
    before = ErasureTombstone.objects.filter(digest__in=list(digests)).count()
    ErasureTombstone.objects.bulk_create(
        [ErasureTombstone(digest=d, subject_id=subject_id) for d in sorted(digests)],
        ignore_conflicts=True,
    )
    return len(digests) - before


def digests_of(subject_id: int) -> list[bytes]:
    return sorted(
        bytes(d)
        for d in ErasureTombstone.objects.filter(subject_id=subject_id).values_list("digest", flat=True)
    )


def all_digests() -> set[bytes]:
    return {bytes(d) for d in ErasureTombstone.objects.values_list("digest", flat=True)}


def ingest_filter() -> Callable[[Iterable[ParsedConversation]], Iterator[ParsedConversation]]:
    """A wrapper for the importer's conversations that removes tombstoned identities (see the
    module docstring). The tombstones are read once per call."""
    tombstones = all_digests()
    vault = get_vault()

    def is_erased(platform: str, platform_id: str, cache: dict[str, bool]) -> bool:
        hit = cache.get(platform_id)
        if hit is None:
            key = vault.keyed_hash(b"participant", platform, platform_id)
            hit = cache[platform_id] = digest(key, vault) in tombstones
        return hit

    def wrap(conversations: Iterable[ParsedConversation]) -> Iterator[ParsedConversation]:
        if not tombstones:
            yield from conversations
            return
        from compliance.subjects import _names_of, _replacer

        for conv in conversations:
            cache: dict[str, bool] = {}
            erased = [p for p in conv.participants if is_erased(conv.platform, p.platform_id, cache)]
            title = conv.title
            if erased:
                names: dict[str, str] = {}
                for p in erased:
                    for n in _names_of({"id": p.platform_id, "name": p.display_name, "handle": p.handle}):
                        names[n] = ERASED
                title = _replacer(names)(conv.title)

            def messages(
                msgs: Iterable[ParsedMessage], platform: str = conv.platform, cache: dict[str, bool] = cache
            ) -> Iterator[ParsedMessage]:
                for msg in msgs:
                    if msg.sender_id is not None and is_erased(platform, msg.sender_id, cache):
                        continue
                    if msg.reactions and any(is_erased(platform, r.actor_id, cache) for r in msg.reactions):
                        msg = replace(
                            msg,
                            reactions=[
                                r for r in msg.reactions if not is_erased(platform, r.actor_id, cache)
                            ],
                        )
                    yield msg

            yield replace(
                conv,
                title=title,
                participants=[p for p in conv.participants if p not in erased],
                messages=messages(conv.messages),
            )

    return wrap


def ledger_fields(subject_id: int) -> dict[str, Any]:
    """What the erasure ledger keeps of the subject's tombstones (hex digests)."""
    return {"tombstones": [d.hex() for d in digests_of(subject_id)]}
