"""Synthetic conversations for the demo and the benchmarks.

Realistic enough to exercise everything the archive does: several platforms, 1:1 and group
chats, several languages with a Zipf-like word distribution (so the blind index sees the
frequency skew of real text), reactions, edits, deletions, calls, links and sensitive data
(emails, phone numbers, card numbers, IBANs) for the redactor. Deterministic for a seed.
All names and values are invented.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial

from archive.importers.base import (
    ConversationKind,
    MessageKind,
    ParsedAttachment,
    ParsedConversation,
    ParsedMessage,
    ParsedParticipant,
    ParsedReaction,
)

FIRST = [
    "Ava",
    "Ben",
    "Chloé",
    "Dario",
    "Elif",
    "Farah",
    "Gustav",
    "Hana",
    "Ines",
    "Jonas",
    "Kenji",
    "Lena",
    "Malik",
    "Nora",
    "Oskar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tereza",
    "Umar",
    "Vera",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoé",
]
LAST = [
    "Adler",
    "Brandt",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "García",
    "Horvat",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Novak",
    "Okafor",
    "Petrov",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Usman",
    "Varga",
    "Weber",
    "Yilmaz",
    "Zhang",
]

WORDS = {
    "en": "the quarterly report meeting tomorrow please send contract review budget client deadline call "
    "update numbers invoice approve thanks great sounds good morning office project team launch pricing "
    "shipment delayed sorry lunch weekend trip flight hotel coffee schedule agenda minutes draft final "
    "version legal compliance audit risk trade order position market portfolio settlement confirm",
    "de": "morgen besprechung bitte vertrag angebot rechnung kunde termin danke gerne büro projekt "
    "lieferung verspätet mittagessen wochenende reise grüße prüfung übermorgen straße größe schön",
    "fr": "demain réunion contrat facture client rendez-vous merci bureau projet livraison retard déjeuner "
    "week-end voyage bientôt équipe réponse été déjà très",
    "es": "mañana reunión contrato factura cliente cita gracias oficina proyecto entrega retraso almuerzo "
    "viaje pronto equipo respuesta año también",
    "pt": "amanhã reunião contrato fatura cliente obrigado escritório projeto entrega atraso almoço "
    "viagem equipe resposta também não",
}
PLATFORMS = [
    "facebook",
    "instagram",
    "whatsapp",
    "telegram",
    "slack",
    "linkedin",
    "twitter",
    "discord",
    "tiktok",
]
EMOJI = ["👍", "😂", "❤️", "🎉", "😮"]


def _zipf_vocab(rng: random.Random, size: int) -> list[str]:
    base = [w for words in WORDS.values() for w in words.split()]
    syllables = ["ka", "lo", "mi", "ren", "ta", "vo", "sh", "an", "el", "or", "ux", "bri", "zen", "pa", "qu"]
    tail = {"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(size)}
    return base + sorted(tail)


class Generator:
    def __init__(
        self, seed: int = 7, vocab_size: int = 20_000, sentence_pool: int = 0, attachments: float = 0.0
    ) -> None:
        self.attachment_rate = attachments
        self.rng = random.Random(seed)
        self._pool: list[str] = []
        self.vocab = _zipf_vocab(self.rng, vocab_size)
        n = len(self.vocab)
        weights = [1.0 / (rank + 1) for rank in range(n)]
        total = sum(weights)
        acc, self.cum = 0.0, []
        for w in weights:
            acc += w / total
            self.cum.append(acc)
        # Benchmarks draw from a pool of pre-made sentences, so generating input does not
        # dominate what is measured; the word distribution stays the same Zipf curve.
        self._pool = [self.sentence() for _ in range(sentence_pool)]

    def text(self) -> str:
        return self.rng.choice(self._pool) if self._pool else self.sentence()

    def person(self) -> tuple[str, str]:
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        return f"{first} {last}", f"{first.lower()}.{last.lower()}{self.rng.randint(1, 99)}"

    def sentence(self) -> str:
        rng = self.rng
        words = rng.choices(self.vocab, cum_weights=self.cum, k=rng.randint(4, 26))
        text = " ".join(words).capitalize()
        roll = rng.random()
        if roll < 0.02:
            text += f" mail me at {rng.choice(FIRST).lower()}.{rng.randint(10, 999)}@example.org"
        elif roll < 0.035:
            text += f" call +49 171 {rng.randint(1000000, 9999999)}"
        elif roll < 0.045:
            text += " card 4111 1111 1111 1111 exp 09/29"
        elif roll < 0.05:
            text += " IBAN DE89 3704 0044 0532 0130 00"
        elif roll < 0.08:
            text += f" https://example.com/doc/{rng.randint(1, 99999)}"
        return text + rng.choice(["", ".", "!", "?", " " + rng.choice(EMOJI)])

    def conversations(
        self,
        total_messages: int,
        *,
        conversations: int | None = None,
        start: datetime | None = None,
        months: int = 24,
        platforms: list[str] | None = None,
    ) -> Iterator[ParsedConversation]:
        """Yield conversations holding ``total_messages`` in all, spread over ``months``."""
        rng = self.rng
        count = conversations or max(1, min(2000, total_messages // 500))
        start = start or datetime(2024, 1, 1, tzinfo=UTC)
        span = timedelta(days=30.4 * months).total_seconds()
        per_conv = [total_messages // count + (1 if i < total_messages % count else 0) for i in range(count)]
        owner_name, owner_handle = "Alex Archivist", "alex.archivist"
        owner = ParsedParticipant(
            platform_id="owner", display_name=owner_name, handle=owner_handle, is_owner=True
        )
        for i, n in enumerate(per_conv):
            platform = (platforms or PLATFORMS)[i % len(platforms or PLATFORMS)]
            group = rng.random() < 0.3
            others = []
            for j in range(rng.randint(2, 6) if group else 1):
                name, handle = self.person()
                others.append(ParsedParticipant(platform_id=f"u{i}-{j}", display_name=name, handle=handle))
            people = [owner, *others]
            title = f"{others[0].display_name.split()[0]} & co" if group else others[0].display_name
            yield ParsedConversation(
                platform=platform,
                thread_id=f"synthetic-{i}",
                kind=ConversationKind.GROUP if group else ConversationKind.DIRECT,
                title=title,
                participants=people,
                messages=self._messages(n, people, start, span, i),
                labels=["inbox"],
            )

    def _messages(
        self, n: int, people: list[ParsedParticipant], start: datetime, span: float, conv_no: int
    ) -> Iterator[ParsedMessage]:
        rng = self.rng
        times = sorted(rng.random() * span for _ in range(n))
        for k, offset in enumerate(times):
            sent = start + timedelta(seconds=offset)
            sender = rng.choice(people)
            roll = rng.random()
            msg = ParsedMessage(
                sent_at=sent,
                raw_timestamp=str(int(sent.timestamp() * 1000)),
                sender_id=sender.platform_id,
                text=self.text(),
                platform_message_id=f"{conv_no}-{k}",
            )
            if roll < 0.01:
                msg.kind, msg.text, msg.call_duration_s = MessageKind.CALL, "", rng.randint(5, 3600)
            elif roll < 0.02:
                msg.deleted, msg.text = True, ""
            elif roll < 0.04:
                msg.edited, msg.previous_versions = True, [self.sentence()]
            if rng.random() < 0.05:
                msg.reactions = [
                    ParsedReaction(actor_id=rng.choice(people).platform_id, reaction=rng.choice(EMOJI))
                ]
            if self.attachment_rate and rng.random() < self.attachment_rate:
                data = attachment_bytes(conv_no, k)
                msg.attachments = [
                    ParsedAttachment(
                        name=f"scan-{conv_no}-{k}.txt",
                        content_type="text/plain",
                        size=len(data),
                        open=partial(io.BytesIO, data),
                    )
                ]
            yield msg


def attachment_bytes(conv_no: int, k: int) -> bytes:
    """The content of a synthetic attachment: recognisable, so tests can look for leaks."""
    return f"SYNTHETIC-ATTACHMENT conversation {conv_no} message {k} confidential scan".encode()


def write_telegram_export(path: str, total_messages: int, *, chats: int | None = None, seed: int = 11) -> int:
    """Write a Telegram Desktop full export (``result.json``) holding ``total_messages``
    synthetic messages, streamed to disk so a million-message export needs little memory.
    Returns the number of messages written."""
    import json

    gen = Generator(seed=seed)
    written = 0
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('{"about": "synthetic", "personal_information": {"user_id": 1000, "first_name": "Alex", ')
        fh.write('"last_name": "Archivist", "username": "@alex_archivist"}, "chats": {"about": "", "list": [')
        for n, conv in enumerate(gen.conversations(total_messages, conversations=chats)):
            people = {p.platform_id: p for p in conv.participants}
            ids = {pid: (1000 if p.is_owner else 5000 + i) for i, (pid, p) in enumerate(people.items())}
            head = {
                "name": conv.title,
                "type": "private_group" if str(conv.kind) == "group" else "personal_chat",
                "id": 900000 + n,
            }
            fh.write(("," if n else "") + json.dumps(head, ensure_ascii=False)[:-1] + ', "messages": [')
            for k, msg in enumerate(conv.messages):
                sender = people[msg.sender_id or ""]
                item = {
                    "id": k + 1,
                    "type": "message",
                    "date": msg.sent_at.strftime("%Y-%m-%dT%H:%M:%S"),
                    "date_unixtime": str(int(msg.sent_at.timestamp())),
                    "from": sender.display_name,
                    "from_id": f"user{ids[sender.platform_id]}",
                    "text": msg.text or "…",
                }
                fh.write(("," if k else "") + json.dumps(item, ensure_ascii=False))
                written += 1
            fh.write("]}")
        fh.write("]}}")
    return written
