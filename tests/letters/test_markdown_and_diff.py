"""Hostile Markdown renders safely; word diffs mark insertions and deletions."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from letters.diff import render_diff, revision_diff, word_diff
from letters.markdown import render_markdown

HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](<javascript:alert(1)>)",
    "[click](&#106;avascript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[ref]\n\n[ref]: javascript:alert(1)",
    '<div style="background:url(javascript:alert(1))" onclick="x()">hi</div>',
    "<iframe src=https://evil.example></iframe>",
    "![tracker](https://evil.example/pixel.png)",
    '<svg onload="alert(1)"></svg>',
    "<style>body{display:none}</style>",
    '**bold**<a href="https://ok.example" onmouseover="x()">x</a>',
    "`<script>`",
    "<!-- <script>alert(1)</script> -->",
]


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attributes, self.hrefs = set(), set(), []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            self.attributes.add(name)
            if name == "href":
                self.hrefs.append(value)


def _parse(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_markdown_is_neutralized(source):
    html = str(render_markdown(source))
    parsed = _parse(html)
    assert parsed.tags <= {"p", "a", "strong", "em", "code", "pre"}, html
    assert parsed.attributes <= {"href", "rel", "title"}, html
    for href in parsed.hrefs:
        assert href.startswith(("https://", "http://", "mailto:")), html
    assert "<script" not in html.lower()


def test_safe_markdown_renders_with_safe_links():
    html = str(
        render_markdown(
            "# Title\n\nSome *emphasis* and **strength**.\n\n"
            "- one\n- two\n\n1. first\n\n> quoted\n\n"
            '[our site](https://example.org/about "About") and <https://example.org/x>\n\n'
            "| a | b |\n|---|---|\n| 1 | 2 |"
        )
    )
    assert "<h1>Title</h1>" in html
    assert "<em>emphasis</em>" in html and "<strong>strength</strong>" in html
    assert "<li>one</li>" in html and "<blockquote>" in html and "<table>" in html
    assert (
        '<a href="https://example.org/about" title="About" rel="noopener noreferrer nofollow">'
        "our site</a>"
    ) in html
    assert html.count('rel="noopener noreferrer nofollow"') == 2


def test_raw_html_is_shown_as_text():
    html = str(render_markdown("<b>not bold</b>"))
    assert "&lt;b&gt;not bold&lt;/b&gt;" in html


def test_huge_input_renders_without_trouble():
    nested = "> " * 5000 + "deep"
    brackets = "[" * 20000 + "x" + "]" * 20000
    stars = "*a " * 20000
    for source in (nested, brackets, stars):
        html = str(render_markdown(source))
        assert "<script" not in html


def test_word_diff_marks_words():
    chunks = word_diff("We ask you to stop now.", "We demand you stop now, please.")
    html = str(render_diff(chunks))
    assert '<del class="diff-del">ask</del>' in html
    assert '<ins class="diff-ins">demand</ins>' in html
    assert '<del class="diff-del">to </del>' in html
    assert "now, please." in html.replace('<ins class="diff-ins">', "").replace("</ins>", "")
    # Applying the chunks gives back both texts.
    assert "".join(c.text for c in chunks if c.op != "insert") == "We ask you to stop now."
    assert "".join(c.text for c in chunks if c.op != "delete") == "We demand you stop now, please."


def test_diff_escapes_html():
    html = str(render_diff(word_diff("a", "<script>x</script>")))
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_revision_diff_covers_every_field():
    class Text:
        def __init__(self, title, summary, body, demands):
            self.title, self.summary, self.body, self.demands = title, summary, body, demands

    diff = revision_diff(Text("T", "S", "B one", ["x"]), Text("T2", "S", "B two", ["x", "y"]))
    assert '<ins class="diff-ins">T2</ins>' in diff["title"]
    assert "diff" not in diff["summary"]
    assert '<del class="diff-del">one</del>' in diff["body"]
    assert '<ins class="diff-ins">' in diff["demands"] and "2. y" in diff["demands"]


def test_sanitizer_alone_removes_what_a_parser_might_let_through():
    from letters.markdown import sanitize_html

    html = sanitize_html(
        '<p onclick="x()">a<script>alert(1)</script><a href="javascript:alert(1)">b</a>'
        '<a href="https://ok.example" target="_blank">c</a><img src="https://evil.example/p">'
        '<span style="color:red">d</span></p>'
    )
    parsed = _parse(html)
    assert parsed.tags == {"p", "a"}
    assert parsed.attributes <= {"href", "rel"}
    assert parsed.hrefs == ["https://ok.example"]
    assert "alert" not in html
    assert 'rel="noopener noreferrer nofollow"' in html
