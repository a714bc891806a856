"""Bundle text in Markdown: md_escape and md_code, checked by a real CommonMark renderer."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from skbundle.report.markdown import md_code, md_escape

# CommonMark with raw HTML on (the preset's default, as in most viewers) plus GFM tables.
COMMONMARK = MarkdownIt("commonmark").enable("table")


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("<script>alert(1)</script>", r"\<script\>alert\(1\)\</script\>"),
        ("<img src=x onerror=alert(1)>", r"\<img src=x onerror=alert\(1\)\>"),
        ("](javascript:alert(1))", r"\]\(javascript:alert\(1\)\)"),
        ("a | col", r"a \| col"),
        ("two\nlines\r\nthree", "two lines three"),
        ("# heading", r"\# heading"),
        ("- item", r"\- item"),
        ("+ item", r"\+ item"),
        ("=== setext", r"\=== setext"),
        ("12. ordered", r"12\. ordered"),
        ("1.9.1 is a version", "1.9.1 is a version"),
        ("**bold** _it_ `code` ~~del~~", r"\*\*bold\*\* \_it\_ \`code\` \~\~del\~\~"),
        ("&lt; entity", r"\&lt; entity"),
        (r"back\slash", r"back\\slash"),
        ("breast-cancer 1.0.0", "breast-cancer 1.0.0"),
        ("2026-12-01T09:11:25+00:00", "2026-12-01T09:11:25+00:00"),
        (42, "42"),
    ],
    ids=[
        "script",
        "img-onerror",
        "javascript-link",
        "table-pipe",
        "line-breaks",
        "heading",
        "bullet",
        "plus-bullet",
        "setext",
        "ordered",
        "version-first",
        "emphasis-code-strike",
        "entity",
        "backslash",
        "name-version-readable",
        "timestamp-readable",
        "not-a-string",
    ],
)
def test_md_escape(text: object, escaped: str) -> None:
    assert md_escape(text) == escaped


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "x](javascript:alert(1))",
        "[click](javascript:alert(1))",
        "<a href='javascript:alert(1)'>x</a>",
        "*a* `b` | c\n\n<div>",
    ],
    ids=["script", "img", "link-breakout", "link", "raw-anchor", "mixed"],
)
def test_escaped_text_renders_as_exactly_that_text(text: str) -> None:
    """In a paragraph and in a table cell, the viewer shows the characters, makes no markup."""
    flat = " ".join(text.split())
    paragraph = COMMONMARK.render(f"Description: {md_escape(text)}")
    assert paragraph == f"<p>Description: {_html_text(flat)}</p>\n"
    table = COMMONMARK.render(f"| name | value |\n| --- | --- |\n| {md_escape(text)} | 1 |\n")
    assert f"<td>{_html_text(flat)}</td>\n<td>1</td>" in table


@pytest.mark.parametrize(
    "text",
    ["# heading", "- item", "+ item", "1. item", "3) item", "---", "> quote", "    code"],
    ids=["heading", "bullet", "plus", "ordered", "ordered-paren", "rule", "quote", "indent"],
)
def test_a_value_that_starts_a_line_starts_no_block(text: str) -> None:
    """The description is a line of its own: whatever it starts with, it stays a paragraph."""
    assert COMMONMARK.render(md_escape(text)) == f"<p>{_html_text(text.strip())}</p>\n"


def _html_text(text: str) -> str:
    """How markdown-it writes literal text into HTML."""
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("StandardScaler()", "`StandardScaler()`"),
        ("a`b", "``a`b``"),
        ("`x`", "`` `x` ``"),
        ("<script>alert(1)</script>", "`<script>alert(1)</script>`"),
        ("two\nlines", "`two lines`"),
    ],
    ids=["plain", "inner-backtick", "edge-backticks", "html-is-literal", "line-break"],
)
def test_md_code(text: str, span: str) -> None:
    assert md_code(text) == span
    rendered = COMMONMARK.render(md_code(text))
    assert rendered == f"<p><code>{_html_text(' '.join(text.split()))}</code></p>\n"
