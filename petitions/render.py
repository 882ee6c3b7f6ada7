"""HTML -> PDF with WeasyPrint: the petition and the invite-code sheet.

Layout choices are driven by measurements (docs/benchmarks.md): the
signatory list is a few hundred paragraphs of ~150 names each, separated by
middle dots, in two CSS columns at 6.5 pt. A `<table>` or one element per name
multiplies WeasyPrint's boxes and line-breaking work (20,000 rows as a table:
~75-90 s and ~1 GB); dense paragraphs keep it to seconds.

WeasyPrint never fetches anything: the URL fetcher only allows `data:`.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import qrcode
import qrcode.image.svg
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

NAMES_PER_PARAGRAPH = 150
NAMES_PER_PAGE_ESTIMATE = 1100  # for the progress bar only
SEPARATOR = " · "
CSS_PATH = Path(__file__).with_name("pdf.css")
PAPER_CSS = {"A4": "A4", "letter": "letter"}


class RenderCancelled(Exception):
    """The progress callback asked to stop."""


@dataclass
class PetitionDocument:
    """Everything the petition PDF shows (plain data: no database access)."""

    title: str
    summary: str
    body_html: str  # sanitized HTML of the letter's Markdown
    demands: list[str]
    text_hash: str
    opened_at: dt.datetime | None
    closed_at: dt.datetime | None
    made_at: dt.datetime
    campaign_name: str
    employer_name: str
    goal: int
    tokens_issued: int
    manifest: object  # petitions.manifest.Manifest
    issuer_key_id: str
    openpgp_fingerprint: str
    verify_url: str
    export_id: str
    paper: str = "A4"
    # The export's own public page (receipt check, manifest, signature files).
    export_url: str = ""
    # The names the files get once downloaded (petitions.services.export_file_name):
    # pdf, pdf_asc, manifest, manifest_asc, key.
    file_names: dict[str, str] = field(default_factory=dict)
    # A format 2 export: the command that audits the log it binds (the
    # checkpoint and the verifier key are the manifest's).
    log_audit_command: str = ""


def _css_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def page_css(paper: str, left: str = "") -> str:
    """@page rule: paper size and a translated "Page X of Y" footer."""
    template = _("Page {page} of {pages}")
    parts = re.split(r"(\{page\}|\{pages\})", template)
    counters = {"{page}": "counter(page)", "{pages}": "counter(pages)"}
    content = " ".join(counters.get(part) or _css_string(part) for part in parts if part)
    size = PAPER_CSS.get(paper, "A4")
    footer_font = 'font: 7pt "DejaVu Sans", sans-serif; color: #444;'
    return (
        f"@page {{ size: {size}; margin: 14mm 12mm 16mm 12mm;"
        f" @bottom-right {{ content: {content}; {footer_font} }}"
        f" @bottom-left {{ content: {_css_string(left)}; {footer_font} }} }}"
    )


def stylesheet(paper: str, left: str = "") -> str:
    return page_css(paper, left) + "\n" + CSS_PATH.read_text(encoding="utf-8")


def names_html(names: list[str]) -> str:
    """Dense paragraphs of escaped names (no element per name)."""
    escape = html.escape
    return "".join(
        "<p>" + SEPARATOR.join(escape(n) for n in names[i : i + NAMES_PER_PARAGRAPH]) + "</p>"
        for i in range(0, len(names), NAMES_PER_PARAGRAPH)
    )


def signatory_lists(manifest) -> tuple[list[str], list[str]]:
    """Shown public names first (sorted), then the pseudonyms of the others."""
    named = sorted((e.name for e in manifest.entries if e.name), key=lambda s: (s.casefold(), s))
    # A pseudonym the organizers hid is "" in the manifest: not listed.
    pseudonyms = sorted(
        (e.pseudonym for e in manifest.entries if not e.name and e.pseudonym),
        key=lambda s: (s.casefold(), s),
    )
    return named, pseudonyms


def chart_svg(hours: list[tuple[dt.datetime, int]], *, width=600, height=200) -> str:
    """Cumulative signatures over time as an SVG line chart (server-side)."""
    label = html.escape(_("Signatures over time"))
    if not hours:
        return ""
    left, right, top, bottom = 48, 10, 10, 28
    first, last = hours[0][0], hours[-1][0]
    span = max((last - first).total_seconds(), 3600.0)
    total = sum(n for _, n in hours)
    points = [(first, 0)]
    running = 0
    for when, n in hours:
        running += n
        points.append((when, running))
    # At most ~300 points: keep the last point of each bucket.
    if len(points) > 300:
        step = len(points) / 300
        points = [points[int(i * step)] for i in range(300)] + [points[-1]]
    plot_w, plot_h = width - left - right, height - top - bottom

    def xy(when, n):
        x = left + plot_w * (when - first).total_seconds() / span
        y = top + plot_h * (1 - n / total)
        return f"{x:.1f},{y:.1f}"

    polyline = " ".join(xy(w, n) for w, n in points)
    fmt = "%Y-%m-%d %H:00"
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" '
        f'role="img" aria-label="{label}">'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#888" '
        f'stroke-width="1"/>'
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        f'stroke="#888" stroke-width="1"/>'
        f'<polyline points="{polyline}" fill="none" stroke="#1a5fb4" stroke-width="2"/>'
        f'<text x="{left - 4}" y="{top + 8}" font-size="10" text-anchor="end">{total}</text>'
        f'<text x="{left - 4}" y="{top + plot_h}" font-size="10" text-anchor="end">0</text>'
        f'<text x="{left}" y="{height - 8}" font-size="10">{first.strftime(fmt)} UTC</text>'
        f'<text x="{left + plot_w}" y="{height - 8}" font-size="10" text-anchor="end">'
        f"{last.strftime(fmt)} UTC</text></svg>"
    )


class _ProgressHandler(logging.Handler):
    """Turns WeasyPrint's "Creating layout - Page N" log lines into progress."""

    pattern = re.compile(r"Page (\d+)")

    def __init__(self, callback, estimated_pages: int, start: int, end: int):
        super().__init__(level=logging.INFO)
        self.callback = callback
        self.estimated = max(1, estimated_pages)
        self.start, self.end = start, end
        self.error: BaseException | None = None

    def emit(self, record):
        message = record.getMessage()
        if "Creating layout" not in message:
            return
        match = self.pattern.search(message)
        if not match:
            return
        page = int(match.group(1))
        fraction = min(1.0, page / self.estimated)
        self.callback(self.start + int((self.end - self.start) * fraction))


def html_to_pdf(
    document_html: str,
    css: str,
    *,
    progress: Callable[[int], None] | None = None,
    estimated_pages: int = 10,
    span: tuple[int, int] = (0, 100),
) -> tuple[bytes, int]:
    """Render HTML + CSS to PDF bytes; returns (pdf, number of pages).

    `progress(percent)` is called while pages are laid out (mapped onto
    `span`); it may raise RenderCancelled to stop.
    """
    # Imported on first use, not with this module: importing WeasyPrint takes
    # ~0.7 s and ~40 MB, which every web process would pay at start-up.
    from weasyprint import CSS, HTML, URLFetcher
    from weasyprint.logger import PROGRESS_LOGGER

    handler = None
    if progress is not None:
        handler = _ProgressHandler(
            progress, estimated_pages, span[0], span[0] + int((span[1] - span[0]) * 0.85)
        )
        PROGRESS_LOGGER.addHandler(handler)
    old_level, old_propagate = PROGRESS_LOGGER.level, PROGRESS_LOGGER.propagate
    # Progress lines go to our handler only, never to the application log.
    PROGRESS_LOGGER.setLevel(logging.INFO if handler else logging.WARNING)
    PROGRESS_LOGGER.propagate = False
    try:
        fetcher = URLFetcher(allowed_protocols={"data"}, timeout=1)
        document = HTML(string=document_html, url_fetcher=fetcher, base_url="data:,").render(
            stylesheets=[CSS(string=css, url_fetcher=fetcher)]
        )
        pages = len(document.pages)
        if progress is not None:
            progress(span[0] + int((span[1] - span[0]) * 0.9))
        pdf = document.write_pdf()
    finally:
        if handler is not None:
            PROGRESS_LOGGER.removeHandler(handler)
        PROGRESS_LOGGER.setLevel(old_level)
        PROGRESS_LOGGER.propagate = old_propagate
    return pdf, pages


def petition_html(doc: PetitionDocument) -> str:
    named, pseudonyms = signatory_lists(doc.manifest)
    context = {
        "doc": doc,
        "count": doc.manifest.count,
        "percent": min(100, (100 * doc.manifest.count) // doc.goal) if doc.goal else 0,
        "k": doc.manifest.k,
        "departments": doc.manifest.departments,
        "locations": doc.manifest.locations,
        "chart": mark_safe(chart_svg(doc.manifest.hours)),  # noqa: S308 - built from numbers/escaped
        "named_count": len(named),
        "pseudonym_count": len(pseudonyms),
        "hidden_text": doc.manifest.hidden_text,
        "named_html": mark_safe(names_html(named)),  # noqa: S308 - escaped in names_html
        "pseudonyms_html": mark_safe(names_html(pseudonyms)),  # noqa: S308 - escaped
        "body_html": mark_safe(doc.body_html),  # noqa: S308 - sanitized by letters.markdown
        # Unbreakable, so that a file name reads (and copies) as one word.
        "files": {
            role: format_html('<span class="file">{}</span>', name)
            for role, name in doc.file_names.items()
        },
        "fingerprint_grouped": " ".join(
            doc.openpgp_fingerprint[i : i + 4] for i in range(0, len(doc.openpgp_fingerprint), 4)
        ),
    }
    return render_to_string("petitions/petition_pdf.html", context)


def render_petition(doc: PetitionDocument, *, progress=None, span=(0, 100)) -> tuple[bytes, int]:
    estimated = 3 + doc.manifest.count // NAMES_PER_PAGE_ESTIMATE
    footer_left = f"{doc.title[:60]} · {doc.manifest.count}"
    return html_to_pdf(
        petition_html(doc),
        stylesheet(doc.paper, footer_left),
        progress=progress,
        estimated_pages=estimated,
        span=span,
    )


def qr_svg(data: str) -> str:
    """An SVG QR code (inline markup, no external image)."""
    image = qrcode.make(
        data,
        image_factory=qrcode.image.svg.SvgPathImage,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=10,
        border=2,
    )
    markup = image.to_string(encoding="unicode")
    return re.sub(r"^<\?xml[^>]*\?>", "", markup).strip()


def render_invite_sheet(
    *,
    codes: list[str],
    url_prefix: str,
    campaign_name: str,
    letter_title: str,
    batch: str,
    paper: str = "A4",
) -> tuple[bytes, int]:
    cards = [
        {
            "code": code,
            "url": f"{url_prefix}#invite={code}",
            "qr": mark_safe(qr_svg(f"{url_prefix}#invite={code}")),  # noqa: S308 - our SVG
        }
        for code in codes
    ]
    document_html = render_to_string(
        "petitions/invite_sheet_pdf.html",
        {
            "cards": cards,
            "campaign_name": campaign_name,
            "letter_title": letter_title,
            "batch": batch,
        },
    )
    return html_to_pdf(document_html, stylesheet(paper, campaign_name[:60]))
