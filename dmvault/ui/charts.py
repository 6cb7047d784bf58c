"""Server-rendered SVG charts (no JavaScript, no network): message volume over time per platform,
and horizontal bars for counts (the retention dry run). Only numbers, platform names and month
labels ever reach a chart; every text is escaped. Colours pass WCAG AA against white, and each
chart carries a title, a description and a data table beside it for screen readers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date

from django.db.models import Count
from django.db.models.functions import TruncMonth
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from archive.models import Message
from archive.search.service import SearchScope

# Okabe-Ito-like palette, darkened for contrast on white (>= 4.5:1 for the legend text).
PALETTE = ["#0b5cad", "#b34700", "#11755a", "#8a2f8a", "#8a6d00", "#c0362c", "#3d5a80", "#5c5c5c", "#1f7a8c"]


def monthly_volume(
    *,
    conversation_ids: Iterable[int] | None = None,
    message_ids: Iterable[int] | None = None,
    within: SearchScope | None = None,
) -> dict[str, dict[date, int]]:
    """{platform: {month: count}} for the messages in scope (one GROUP BY query); ``within``: only
    those of a reader's review scope (``accounts.scope``)."""
    qs = Message.objects.all() if within is None else Message.objects.filter(within.message_q())
    if conversation_ids is not None:
        qs = qs.filter(conversation_id__in=list(conversation_ids))
    if message_ids is not None:
        qs = qs.filter(id__in=list(message_ids))
    rows = (
        qs.annotate(month=TruncMonth("sent_at"))
        .values("month", "conversation__platform")
        .annotate(n=Count("id"))
        .order_by("month")
    )
    out: dict[str, dict[date, int]] = defaultdict(dict)
    for row in rows:
        month = row["month"]
        if month is None:
            continue
        day = month.date() if hasattr(month, "date") else month
        out[row["conversation__platform"]][day] = row["n"]
    return dict(out)


def _months(first: date, last: date) -> list[date]:
    out = []
    y, m = first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append(date(y, m, 1))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def timeline_svg(
    series: dict[str, dict[date, int]], *, title: str, width: int = 760, height: int = 260
) -> SafeString:
    """Stacked monthly bars, one colour per platform, with a legend."""
    if not series or not any(series.values()):
        return mark_safe('<p class="empty">No messages in this scope.</p>')
    all_months = sorted({m for per in series.values() for m in per})
    months = _months(all_months[0], all_months[-1])
    platforms = sorted(series, key=lambda p: -sum(series[p].values()))
    totals = [sum(series[p].get(m, 0) for p in platforms) for m in months]
    peak = max(totals) or 1
    left, right, top, bottom = 48, 12, 16, 60
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / len(months)
    bar_w = max(1.0, step * 0.8)
    parts = [
        f'<svg class="chart" role="img" aria-labelledby="t-{id(series)} d-{id(series)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" preserveAspectRatio="xMinYMin meet" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="t-{id(series)}">{escape(title)}</title>',
        f'<desc id="d-{id(series)}">Messages per month, {len(months)} months, peak {peak}, '
        f"{sum(totals)} messages in all.</desc>",
    ]
    # grid + y labels
    for frac in (0, 0.5, 1):
        y = top + plot_h - frac * plot_h
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d4da"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#333">'
            f"{round(peak * frac)}</text>"
        )
    colour = {p: PALETTE[i % len(PALETTE)] for i, p in enumerate(platforms)}
    label_every = max(1, len(months) // 12)
    for i, month in enumerate(months):
        x = left + i * step + (step - bar_w) / 2
        y = top + plot_h
        for p in platforms:
            n = series[p].get(month, 0)
            if not n:
                continue
            h = n / peak * plot_h
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{colour[p]}">'
                f"<title>{escape(p)} {month:%Y-%m}: {n}</title></rect>"
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{left + i * step + step / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle" '
                f'font-size="10" fill="#333">{month:%Y-%m}</text>'
            )
    lx = left
    for p in platforms:
        parts.append(f'<rect x="{lx}" y="{height - 22}" width="12" height="12" fill="{colour[p]}"/>')
        parts.append(
            f'<text x="{lx + 16}" y="{height - 12}" font-size="12" fill="#222">{escape(p)} '
            f"({sum(series[p].values())})</text>"
        )
        lx += 24 + 8 * (len(p) + len(str(sum(series[p].values()))) + 3)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every dynamic text above is escaped


def bars_svg(
    rows: Sequence[tuple[str, Sequence[tuple[str, int]]]], *, title: str, width: int = 620
) -> SafeString:
    """Horizontal stacked bars: rows of (label, [(part, count), ...]), e.g. a dry run's
    delete/redact/blocked counts per platform."""
    rows = [r for r in rows if sum(n for _, n in r[1])]
    if not rows:
        return mark_safe('<p class="empty">Nothing would change.</p>')
    parts_names: list[str] = []
    for _, segs in rows:
        for name, _n in segs:
            if name not in parts_names:
                parts_names.append(name)
    colour = {
        "delete": "#c0362c",
        "redact": "#8a6d00",
        "held": "#0b5cad",
        "locked": "#8a2f8a",
    }
    peak = max(sum(n for _, n in segs) for _, segs in rows) or 1
    row_h, left, right, top = 26, 150, 60, 10
    height = top + row_h * len(rows) + 34
    plot_w = width - left - right
    cid = f"b{id(rows)}"
    out = [
        f'<svg class="chart" role="img" aria-labelledby="t-{cid}" viewBox="0 0 {width} {height}" '
        f'width="{width}" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="t-{cid}">{escape(title)}</title>',
    ]
    for i, (label, segs) in enumerate(rows):
        y = top + i * row_h
        out.append(
            f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" font-size="12" fill="#222">{escape(label)}</text>'
        )
        x = float(left)
        for name, n in segs:
            if not n:
                continue
            w = n / peak * plot_w
            fill = colour.get(name, PALETTE[parts_names.index(name) % len(PALETTE)])
            out.append(
                f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" fill="{fill}">'
                f"<title>{escape(label)}: {n} {escape(name)}</title></rect>"
            )
            x += w
        out.append(
            f'<text x="{x + 6:.1f}" y="{y + 16}" font-size="12" fill="#222">{sum(n for _, n in segs)}</text>'
        )
    lx, ly = left, height - 14
    for name in parts_names:
        fill = colour.get(name, PALETTE[parts_names.index(name) % len(PALETTE)])
        out.append(f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" fill="{fill}"/>')
        out.append(f'<text x="{lx + 16}" y="{ly}" font-size="12" fill="#222">{escape(name)}</text>')
        lx += 30 + 8 * len(name)
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - every dynamic text above is escaped
