"""Bytes -> (MIME type, readable text, metadata, hash, quality): the CPU part of content processing.

Everything here is synchronous and may take a while on a big PDF or page: callers run it with
``asyncio.to_thread``. The MIME type comes from the bytes, never from what the sender claimed:
binary formats by their signature (``puremagic``), text formats by sniffing the decoded text.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from server.services.errors import InvalidInput

HTML = "text/html"
MARKDOWN = "text/markdown"
JSON_TYPE = "application/json"
PLAIN = "text/plain"
PDF = "application/pdf"
XML = "application/xml"

# Signatures puremagic reports for text that our own sniffing judges better.
_TEXTUAL = {HTML, JSON_TYPE, XML, PLAIN, "text/xml"}
# Elements that are never the readable part of a page.
_BOILERPLATE = "script, style, noscript, template, svg, nav, header, footer, aside, form, iframe, button"
# Elements that end a line of readable text (inline ones such as <em> and <a> do not).
_BLOCKS = (
    "p, div, li, h1, h2, h3, h4, h5, h6, br, tr, blockquote, pre, section, article, ul, ol, table, dd, dt"
)
_HTML_SNIFF = re.compile(
    rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.IGNORECASE | re.DOTALL
)
_HTML_TAGS = re.compile(r"</?(p|div|span|a|br|h[1-6]|ul|li|table|article|section)\b[^>]*>", re.IGNORECASE)
_MD_SIGNS = (
    re.compile(r"^#{1,6} \S", re.MULTILINE),  # ATX heading
    re.compile(r"^\s*[-*+] \S", re.MULTILINE),  # bullet list
    re.compile(r"^\s*\d+\. \S", re.MULTILINE),  # numbered list
    re.compile(r"\[[^\]]+\]\([^)]+\)"),  # link
    re.compile(r"^```", re.MULTILINE),  # code fence
    re.compile(r"(\*\*|__)[^*_\n]+\1"),  # strong
    re.compile(r"^> \S", re.MULTILINE),  # quote
)
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Extracted:
    """What one body of content turned out to be."""

    mime_type: str
    text: str
    title: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    content_hash: str = ""
    quality_score: float = 0.0
    size_bytes: int = 0


def _decode(body: bytes) -> str | None:
    """The body as text, or ``None`` when it is binary."""
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        return body.decode("utf-16")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        if b"\x00" in body:
            return None
        text = body.decode("cp1252", errors="replace")
    controls = sum(1 for char in text[:4096] if ord(char) < 32 and char not in "\r\n\t\f")
    return None if controls > len(text[:4096]) * 0.01 else text


def detect_mime(body: bytes) -> tuple[str, str | None]:
    """The MIME type the bytes show, and the decoded text when they are text."""
    import puremagic  # lazy: it loads its signature table

    signature: str | None = None
    try:
        signature = puremagic.from_string(body, mime=True) or None
    except (puremagic.PureError, ValueError):
        signature = None
    if signature and signature not in _TEXTUAL and not signature.startswith("text/"):
        return signature, None
    text = _decode(body)
    if text is None:
        return signature or "application/octet-stream", None
    return sniff_text(text), text


def sniff_text(text: str) -> str:
    """HTML, JSON, XML, Markdown or plain text, judged from the text itself."""
    head = text.lstrip()[:2048]
    if head[:1] in "{[":
        try:
            json.loads(text)
        except ValueError:
            pass
        else:
            return JSON_TYPE
    if _HTML_SNIFF.match(head.encode()) or len(_HTML_TAGS.findall(head)) >= 3:
        return HTML
    if head.startswith("<?xml"):
        return XML
    if sum(1 for sign in _MD_SIGNS if sign.search(text[:20000])) >= 2:
        return MARKDOWN
    return PLAIN


def normalise(text: str) -> str:
    """What the hash is taken of: NFKC, whitespace runs as one space, trimmed."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def content_hash(text: str) -> str:
    """sha256 of the normalised text: the same words with other spacing are the same item."""
    return hashlib.sha256(normalise(text).encode()).hexdigest()


def _html_text(html: str) -> tuple[str, str | None, dict[str, Any]]:
    from selectolax.lexbor import LexborHTMLParser  # lazy: kept off the start-up path

    tree = LexborHTMLParser(html)
    meta: dict[str, Any] = {}
    title_node = tree.css_first("title")
    og_title = tree.css_first('meta[property="og:title"]')
    title = (og_title.attributes.get("content") if og_title else None) or (
        title_node.text(strip=True) if title_node else None
    )
    description = tree.css_first('meta[name="description"]')
    if description and description.attributes.get("content"):
        meta["description"] = description.attributes["content"]
    html_node = tree.css_first("html")
    if html_node and html_node.attributes.get("lang"):
        meta["lang"] = html_node.attributes["lang"]
    for node in tree.css(_BOILERPLATE):
        node.decompose()
    # The article or main part where the page marks one, else the whole body.
    for node in tree.css(_BLOCKS):
        node.insert_after("\n")
    root = tree.css_first("article") or tree.css_first("main") or tree.body or tree.root
    text = root.text(separator="", strip=False) if root is not None else ""
    lines = [_WHITESPACE.sub(" ", line).strip() for line in text.splitlines()]
    if not title:
        heading = tree.css_first("h1")
        title = heading.text(strip=True) if heading else None
    return "\n".join(line for line in lines if line), title or None, meta


def _markdown_text(markdown: str) -> tuple[str, str | None, dict[str, Any]]:
    from markdown_it import MarkdownIt  # lazy: kept off the start-up path

    html = MarkdownIt("commonmark").render(markdown)
    text, title, _ = _html_text(f"<html><body>{html}</body></html>")
    return text, title, {}


def _json_leaves(value: Any, path: str, out: list[str]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _json_leaves(inner, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            _json_leaves(inner, f"{path}[{index}]", out)
    elif value is not None:
        out.append(f"{path}: {value}" if path else str(value))


def _json_text(raw: str) -> tuple[str, str | None, dict[str, Any]]:
    value = json.loads(raw)
    lines: list[str] = []
    _json_leaves(value, "", lines)
    meta: dict[str, Any] = {"json_type": type(value).__name__}
    title = None
    if isinstance(value, dict):
        meta["keys"] = [str(key) for key in list(value)[:50]]
        for key in ("title", "name", "subject"):
            if isinstance(value.get(key), str):
                title = value[key]
                break
    return "\n".join(lines), title, meta


def _pdf_text(body: bytes) -> tuple[str, str | None, dict[str, Any]]:
    from pypdf import PdfReader  # lazy: only PDFs pay for it
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(body))
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"The PDF cannot be read: {exc}") from exc
    meta: dict[str, Any] = {"pages": len(pages)}
    title = None
    if info is not None:
        title = str(info.title) if info.title else None
        if info.author:
            meta["author"] = str(info.author)
    return "\n\n".join(page.strip() for page in pages if page.strip()), title, meta


def quality(text: str, *, raw_chars: int) -> tuple[float, dict[str, float]]:
    """A 0-1 score of how useful the text is to read and search, with its parts.

    - length (35 %): up to 150 words scores in proportion; a title alone is worth little;
    - text ratio (25 %): readable characters over the characters of the source (HTML with little
      text among much markup is usually navigation or an app shell);
    - letters (20 %): the share of letters among non-space characters (tables of numbers,
      base64 and garbled extraction score low);
    - variety (20 %): distinct lines over all lines (repeated boilerplate scores low).

    No language detection: that needs a model or word lists, and the ``language`` operation asks
    the model when it matters.
    """
    words = len(text.split())
    compact = [char for char in text if not char.isspace()]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    parts = {
        "length": min(1.0, words / 150),
        "text_ratio": min(1.0, len(text) / raw_chars) if raw_chars else 0.0,
        "letters": sum(char.isalpha() for char in compact) / len(compact) if compact else 0.0,
        "variety": len(set(lines)) / len(lines) if lines else 0.0,
    }
    score = (
        0.35 * parts["length"] + 0.25 * parts["text_ratio"] + 0.2 * parts["letters"] + 0.2 * parts["variety"]
    )
    return round(score, 3), {name: round(value, 3) for name, value in parts.items()}


def extract(body: bytes, *, claimed_mime: str | None = None, max_bytes: int) -> Extracted:
    """Detect, extract, hash and score ``body``; ``InvalidInput`` when it is too big or has no text."""
    if len(body) > max_bytes:
        raise InvalidInput(
            f"Content of {len(body)} bytes is over the limit of {max_bytes} bytes "
            "(AGENTIC_CONTENT_MAX_ITEM_BYTES)"
        )
    mime, decoded = detect_mime(body)
    if mime == PDF:
        text, title, meta = _pdf_text(body)
    elif decoded is None:
        raise InvalidInput(f"Content detected as {mime} has no text this app can extract")
    elif mime == HTML:
        text, title, meta = _html_text(decoded)
    elif mime == MARKDOWN:
        text, title, meta = _markdown_text(decoded)
    elif mime == JSON_TYPE:
        text, title, meta = _json_text(decoded)
    else:
        text, title, meta = decoded.strip(), None, {}
    if not normalise(text):
        raise InvalidInput(f"Content detected as {mime} holds no text")
    if claimed_mime and claimed_mime.split(";")[0].strip().lower() != mime:
        meta["claimed_mime_type"] = claimed_mime
    score, parts = quality(text, raw_chars=len(decoded) if decoded is not None else len(text))
    meta["quality"] = parts
    meta["words"] = len(text.split())
    return Extracted(
        mime_type=mime,
        text=text,
        title=title,
        metadata=meta,
        content_hash=content_hash(text),
        quality_score=score,
        size_bytes=len(body),
    )
