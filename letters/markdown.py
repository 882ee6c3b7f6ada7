"""Markdown to safe HTML: markdown-it-py (raw HTML off), then nh3 with an allow-list.

Two independent layers: the parser never passes raw HTML through, and the
sanitizer removes anything outside a short list of tags, attributes and URL
schemes, whatever the parser produced. Images are not rendered at all: a
letter must never make its readers' browsers contact another host.
"""

from __future__ import annotations

import html

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "a",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "strong",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "noopener noreferrer nofollow"

_parser = (
    MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    .enable(["table", "strikethrough"])
    .disable("image")
)


def sanitize_html(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel=LINK_REL,
        strip_comments=True,
    )


def render_markdown(text: str) -> SafeString:
    """Render a letter's Markdown into HTML that is safe to embed in a page."""
    return mark_safe(sanitize_html(_parser.render(text or "")))  # noqa: S308 - sanitized by nh3


def markdown_to_text(text: str) -> str:
    """The plain text of rendered Markdown (no markup at all), for places that
    show text, not HTML (a receipt's list of updates)."""
    rendered = sanitize_html(_parser.render(text or ""))
    return html.unescape(nh3.clean(rendered, tags=set())).strip()
