"""Word-level differences between two texts, rendered as <ins>/<del>."""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_TOKENS = re.compile(r"\s+|[^\s]+")


@dataclass(frozen=True)
class Chunk:
    op: str  # "equal", "insert" or "delete"
    text: str


def word_diff(old: str, new: str) -> list[Chunk]:
    """Chunks that turn `old` into `new`, word by word (whitespace kept)."""
    a = _TOKENS.findall(old or "")
    b = _TOKENS.findall(new or "")
    chunks: list[Chunk] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            chunks.append(Chunk("equal", "".join(a[i1:i2])))
            continue
        if tag in ("delete", "replace"):
            chunks.append(Chunk("delete", "".join(a[i1:i2])))
        if tag in ("insert", "replace"):
            chunks.append(Chunk("insert", "".join(b[j1:j2])))
    return chunks


def render_diff(chunks: list[Chunk]) -> SafeString:
    parts = []
    for chunk in chunks:
        text = escape(chunk.text)
        if chunk.op == "insert":
            parts.append(f'<ins class="diff-ins">{text}</ins>')
        elif chunk.op == "delete":
            parts.append(f'<del class="diff-del">{text}</del>')
        else:
            parts.append(text)
    return mark_safe("".join(parts))  # noqa: S308 - every piece is escaped


def demands_text(demands: list[str]) -> str:
    return "\n".join(f"{number}. {demand}" for number, demand in enumerate(demands, 1))


def revision_diff(old, new) -> dict[str, SafeString]:
    """Field-by-field word diff of two revisions (or anything with the text fields)."""
    return {
        "title": render_diff(word_diff(old.title, new.title)),
        "summary": render_diff(word_diff(old.summary, new.summary)),
        "body": render_diff(word_diff(old.body, new.body)),
        "demands": render_diff(word_diff(demands_text(old.demands), demands_text(new.demands))),
    }


def has_changes(old, new) -> bool:
    return (old.title, old.summary, old.body, list(old.demands)) != (
        new.title,
        new.summary,
        new.body,
        list(new.demands),
    )
