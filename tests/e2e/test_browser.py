"""End-to-end: headless Chromium (Debian's /usr/bin/chromium, driven by Playwright's bundled
driver; no browser download) against pytest-django's live server.

Run ``bin/install-browser`` first; the tests skip when Chromium or Playwright is missing.
Screenshots of the main pages go to ``docs/screenshots/`` when ``DMVAULT_SCREENSHOTS=1``.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compliance.models import AuditEvent
from tests.e2e.conftest import CARD, PASSWORD, THREAD_TITLE

CHROMIUM = os.environ.get("DMVAULT_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

playwright_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is missing: run bin/install-browser", allow_module_level=True)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 1366, "height": 860}, timezone_id="Europe/Berlin", locale="en-GB"
    )
    context.set_default_timeout(15_000)
    p = context.new_page()
    yield p
    context.close()


def shot(page: Any, name: str) -> None:
    if os.environ.get("DMVAULT_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def sign_in(page: Any, base: str, username: str, *, screenshot: str = "") -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    if screenshot:
        shot(page, screenshot)
    page.get_by_role("button", name="Sign in").click()


def declare_purpose(page: Any, matter: str = "CASE-2025-001", *, screenshot: str = "") -> None:
    page.wait_for_url(re.compile(r"/purpose/"))
    page.get_by_label("Matter or case reference").fill(matter)
    page.get_by_label("Reason").fill("Reviewing messages for the internal inquiry")
    if screenshot:
        shot(page, screenshot)
    page.get_by_role("button", name="Declare purpose").click()


def test_officer_signs_in_declares_purpose_searches_and_reads(
    page: Any, live_server: Any, users: Any, demo: Any
) -> None:
    sign_in(page, live_server.url, "officer", screenshot="01-sign-in")
    declare_purpose(page, screenshot="02-purpose")
    page.wait_for_url(f"{live_server.url}/")
    assert "CASE-2025-001" in page.locator(".purpose-chip").inner_text()
    # search with a filter control that adds an operator to the query
    page.get_by_role("link", name="Search").click()
    page.get_by_label("Query", exact=True).fill("harbour")
    page.get_by_label("Platform").select_option("whatsapp")
    assert page.get_by_label("Query", exact=True).input_value() == "harbour platform:whatsapp"
    page.get_by_role("button", name="Search").click()
    page.wait_for_selector("#count")
    assert page.locator("#count").inner_text().startswith("2 messages")
    assert page.locator("ol.hits mark").count() >= 2
    shot(page, "03-search")
    # the card number is redacted in results, the officer sees no reveal button
    page.get_by_label("Query", exact=True).fill("card platform:whatsapp")
    page.get_by_role("button", name="Search").click()
    hit = page.locator("ol.hits li").first
    assert "[CREDIT_CARD]" in hit.inner_text() and CARD not in page.content()
    # open the conversation at that message
    hit.get_by_role("link", name=THREAD_TITLE).click()
    page.wait_for_selector("ol.thread")
    thread = page.locator("ol.thread").inner_text()
    assert "Ana Lima" in thread and "Alex Archivist" in thread
    assert "This message was deleted." in thread and "created the group" in thread
    assert page.locator(".msg.mine").count() >= 1 and page.locator(".msg.theirs").count() >= 1
    assert page.locator(".reactions li").first.inner_text().startswith("👍")
    assert page.get_by_text("edited").count() >= 1
    # times in the browser's zone (Europe/Berlin: 09:02 UTC is 10:02)
    assert "2025-03-04 10:02" in thread
    img = page.locator("img.thumb")
    assert img.count() == 1 and img.evaluate("i => i.naturalWidth") == 1
    assert page.get_by_role("button", name=re.compile("Reveal")).count() == 0
    shot(page, "04-conversation")
    # keyboard: the skip link is the first tab stop, and focus is visible
    page.goto(f"{live_server.url}/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "home-q"
    assert AuditEvent.objects.filter(
        action="conversation.read", actor_name="officer", matter_ref="CASE-2025-001"
    ).exists()


def test_legal_reveals_a_redaction_places_a_hold_and_exports(
    page: Any, live_server: Any, users: Any, demo: Any, settings: Any
) -> None:
    from django_q.conf import Conf

    sign_in(page, live_server.url, "lawyer")
    declare_purpose(page, "M-42")
    page.goto(f"{live_server.url}/conversations/{demo.thread.id}/")
    bubble = page.locator(f"#m-{demo.card_message}")
    assert "[CREDIT_CARD]" in bubble.inner_text()
    bubble.get_by_role("button", name=re.compile("Reveal")).click()
    bubble = page.locator(f"#m-{demo.card_message}")
    assert CARD in bubble.inner_text() and "revealed (audited)" in bubble.inner_text()
    event = AuditEvent.objects.filter(action="message.reveal").get()
    assert (event.actor_name, event.target_id, event.matter_ref) == ("lawyer", str(demo.card_message), "M-42")
    # a matter and a hold
    page.get_by_role("link", name="Matters").click()
    page.get_by_label("Reference").fill("M-42")
    page.get_by_label("Name").fill("Harbour fee dispute")
    page.get_by_label(re.compile("^Search query")).fill("harbour")
    page.get_by_role("button", name="Create matter").click()
    page.get_by_role("button", name="Place legal hold").click()
    assert "on hold" in page.locator("p.ok").inner_text()
    shot(page, "05-matter-hold")
    page.get_by_role("link", name="Timeline chart of this matter").click()
    assert page.locator("svg.chart rect").count() > 0
    # an export, run synchronously (django-q2 sync mode), then downloaded
    old_sync = Conf.SYNC
    Conf.SYNC = True
    try:
        page.goto(f"{live_server.url}/search/?q=harbour")
        page.get_by_role("link", name="Export these results").click()
        assert page.get_by_label("Search query").input_value() == "harbour"
        page.get_by_role("button", name="Start export").click()
    finally:
        Conf.SYNC = old_sync
    page.wait_for_selector("#download")
    assert "done" in page.locator("#status-text").inner_text()
    shot(page, "06-export")
    with page.expect_download() as info:
        page.locator("#download").click()
    path = info.value.path()
    with zipfile.ZipFile(path) as zf:
        assert any(n.endswith(".csv") for n in zf.namelist())
    assert AuditEvent.objects.filter(
        action="export.download", actor_name="lawyer", outcome="allowed"
    ).exists()


def test_admin_dry_run_and_upload(page: Any, live_server: Any, users: Any, demo: Any, tmp_path: Path) -> None:
    from django_q.conf import Conf

    from archive.synthetic import write_telegram_export

    sign_in(page, live_server.url, "admin")
    page.wait_for_url(f"{live_server.url}/")
    shot(page, "07-admin-home")
    page.get_by_role("link", name="Retention").click()
    page.get_by_label("Name").fill("Chats: one year")
    page.get_by_label("Keep for (days)").fill("365")
    page.get_by_role("button", name="Create policy").click()
    page.get_by_role("link", name="Run a dry run").click()
    summary = page.locator("#dry-summary").inner_text()
    assert re.search(r"delete [1-9]\d*", summary), summary
    assert page.locator("svg.chart rect").count() > 0
    shot(page, "08-retention-dry-run")
    # upload an export and watch it finish
    export = tmp_path / "result.json"
    write_telegram_export(str(export), 120, chats=3)
    Conf.SYNC = True
    try:
        page.get_by_role("link", name="Imports").click()
        page.get_by_label(re.compile("^Export file")).set_input_files(str(export))
        page.get_by_role("button", name="Upload and import").click()
    finally:
        Conf.SYNC = False
    page.wait_for_selector("#summary")
    assert "done" in page.locator("#status-text").inner_text()
    assert "messages" in page.locator("#summary").inner_text()
    shot(page, "09-import-done")


def test_auditor_sees_verified_chain_and_outsiders_are_refused(
    page: Any, live_server: Any, users: Any, demo: Any
) -> None:
    # anonymous: sent to sign in
    page.goto(f"{live_server.url}/search/?q=harbour")
    page.wait_for_url(re.compile(r"/login/\?next="))
    # wrong password
    page.get_by_label("Username").fill("officer")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert "Invalid username or password" in page.get_by_role("alert").inner_text()
    # the auditor may read the audit log, nothing else
    sign_in(page, live_server.url, "auditor")
    page.get_by_role("link", name="Audit log", exact=True).click()
    assert "Chain verified" in page.locator("#chain-status").inner_text()
    assert page.locator("table.audit tbody tr").count() > 3
    shot(page, "10-audit-log")
    response = page.goto(f"{live_server.url}/search/?q=harbour")
    assert response is not None and response.status == 403
    assert "may not search" in page.get_by_role("alert").inner_text()
    assert not page.get_by_role("link", name="Search", exact=True).count()
    refusal = AuditEvent.objects.filter(actor_name="auditor", outcome="denied").order_by("-seq").first()
    assert refusal is not None and refusal.action == "search.query"


# Checks a page against the parts of WCAG 2.1 AA a script can decide: a language and a title,
# one h1, a name for every form field, link, button and image (charts: role=img and a title),
# and text contrast of at least 4.5:1 (3:1 for large text) against the composited background.
A11Y_AUDIT = """() => {
  const problems = [];
  const shown = e => { const r = e.getBoundingClientRect(), s = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; };
  const what = e => e.outerHTML.slice(0, 100);
  const byIds = ids => ids.split(/\\s+/).map(i => (document.getElementById(i) || {}).textContent || '').join(' ');
  const fieldName = e => (e.getAttribute('aria-label') || byIds(e.getAttribute('aria-labelledby') || '')
    || [...(e.labels || [])].map(l => l.textContent).join(' ') || e.getAttribute('title') || '').trim();
  const controlName = e => (e.getAttribute('aria-label') || e.textContent || e.getAttribute('title') || e.value
    || [...e.querySelectorAll('img[alt]')].map(i => i.alt).join(' ') || '').trim();
  if (!document.documentElement.lang) problems.push('html without lang');
  if (!document.title.trim()) problems.push('empty title');
  const h1 = document.querySelectorAll('h1').length;
  if (h1 !== 1) problems.push(`${h1} h1 elements`);
  for (const e of document.querySelectorAll('input, select, textarea')) {
    if (['hidden', 'submit', 'button', 'reset'].includes(e.type)) continue;
    if (!fieldName(e)) problems.push('field without a label: ' + what(e));
  }
  for (const e of document.querySelectorAll('a[href], button, input[type=submit]')) {
    if (shown(e) && !controlName(e)) problems.push('control without a name: ' + what(e));
  }
  for (const e of document.querySelectorAll('img')) if (!e.hasAttribute('alt')) problems.push('img without alt: ' + what(e));
  for (const e of document.querySelectorAll('svg')) {
    if (e.closest('[aria-hidden=true]')) continue;
    if (e.getAttribute('role') !== 'img' || !(e.getAttribute('aria-label') || e.querySelector('title')))
      problems.push('svg without role=img and a name: ' + what(e));
  }
  const rgba = c => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (top, [r, g, b]) => [0, 1, 2].map(i => top[i] * top[3] + [r, g, b][i] * (1 - top[3]));
  const background = e => { const layers = [];
    for (let x = e; x; x = x.parentElement) { const c = rgba(getComputedStyle(x).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; } }
    return layers.reverse().reduce((under, c) => over(c, under), [255, 255, 255]); };
  const lum = rgb => { const [r, g, b] = rgb.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const e = n.parentElement;
    if (!n.textContent.trim() || !e || seen.has(e) || e.closest('svg, :disabled, .skip') || !shown(e)) continue;
    seen.add(e);
    const s = getComputedStyle(e), bg = background(e), fg = over(rgba(s.color), bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a), ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(s.fontSize), large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) problems.push(`contrast ${ratio.toFixed(2)}: ${what(e)}`);
  }
  return problems;
}"""


def audit_pages(page: Any, base: str, paths: list[str]) -> dict[str, list[str]]:
    found = {}
    for path in paths:
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status == 200, path
        assert page.url == f"{base}{path}", (path, page.url)  # the page itself, not a prompt
        problems = page.evaluate(A11Y_AUDIT)
        if problems:
            found[path] = problems
    return found


def test_every_main_page_passes_the_accessibility_audit(
    page: Any, live_server: Any, users: Any, demo: Any
) -> None:
    base = live_server.url
    page.goto(f"{base}/login/")
    assert page.evaluate(A11Y_AUDIT) == []
    # the audit finds what it looks for: faint text, an unlabelled field, a nameless chart
    page.evaluate(
        """() => { const main = document.querySelector('main');
        main.insertAdjacentHTML('beforeend', '<p id=faint>faint</p><input name=q><svg width=9 height=9></svg>');
        document.getElementById('faint').style.color = '#aaa'; }"""  # CSSOM: the CSP forbids style=""
    )
    found = page.evaluate(A11Y_AUDIT)
    assert [p.split(":")[0] for p in found] == [
        "field without a label",
        "svg without role=img and a name",
        "contrast 2.15",
    ], found
    sign_in(page, base, "lawyer")
    declare_purpose(page)
    page.wait_for_url(f"{base}/")
    found = audit_pages(
        page,
        base,
        [
            "/",
            "/search/?q=harbour",
            "/timeline/search/?q=harbour",
            f"/conversations/{demo.thread.id}/",
            "/matters/",
            "/exports/",
        ],
    )
    page.context.clear_cookies()
    sign_in(page, base, "admin")
    page.wait_for_url(f"{base}/")
    found |= audit_pages(
        page,
        base,
        [
            "/retention/",
            "/retention/dry-run/",
            "/imports/",
            f"/imports/{demo.source.id}/",
            "/users/",
            "/subjects/",
            f"/subjects/{demo.owner.id}/",
            f"/timeline/subject/?id={demo.owner.id}",
        ],
    )
    page.context.clear_cookies()
    sign_in(page, base, "auditor")
    page.wait_for_url(f"{base}/")
    found |= audit_pages(page, base, ["/audit/"])
    assert found == {}, found
