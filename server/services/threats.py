"""Malicious-input detection: SQL injection, path traversal, script injection, oversized nesting.

The patterns look for the *shape of an attack*, not for words: a sentence about SQL, a path in a
README or a mention of a <script> tag is ordinary prose and passes (tests/server/test_threats.py
holds a corpus of such texts). What is flagged is a quote that breaks out into SQL, a climb out of
a folder towards a system file or in URL-encoded form, executable markup, or JSON nested deeper
than any real request needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_NESTING = 32
# Fields whose values are opaque by design (passwords, secret values): never scanned, never quoted.
OPAQUE_FIELDS = frozenset({"password", "current_password", "new_password", "secret_value", "value", "token"})

_SQL = [
    # A quote closing a string literal, then a tautology: ' OR '1'='1, " or 1=1 --, ' or 'a'='a
    re.compile(r"['\"]\s*\)?\s*\bor\b\s+(['\"]?)(\w+)\1\s*=\s*\1\2\b", re.I),
    re.compile(r"['\"]\s*\)?\s*\bor\b\s+(?:true|1)\s*(?:--|#|/\*|$)", re.I),
    # A quote closing a literal, then a second statement: '; DROP TABLE users
    re.compile(
        r"['\"]\s*\)?\s*;\s*(?:drop|delete|insert|update|truncate|alter|create|exec(?:ute)?|shutdown)\b", re.I
    ),
    # A quote closing a literal, then UNION SELECT
    re.compile(r"['\"]\s*\)?\s*\bunion\b\s+(?:all\s+)?\bselect\b", re.I),
    # A literal closed and the rest of the query commented out: admin'--
    re.compile(r"\w['\"]\s*\)?\s*(?:--|#|/\*)\s*$", re.M),
    # Time-based probes
    re.compile(r"\b(?:sleep|pg_sleep|benchmark)\s*\(\s*\d+\s*(?:,|\))|\bwaitfor\s+delay\s+'", re.I),
]
_TRAVERSAL = [
    # Climbing out towards well-known system files.
    re.compile(
        r"(?:\.\.[/\\]){1,}(?:[\w.-]+[/\\])*(?:etc[/\\](?:passwd|shadow|hosts|sudoers)|"
        r"windows[/\\]system32|boot\.ini|proc[/\\]self)",
        re.I,
    ),
    # URL-encoded or mixed-encoding climbs: %2e%2e%2f, ..%2f, %2e%2e/, ..%5c, %252e%252e
    re.compile(r"(?:%2e|%252e)(?:%2e|%252e|\.)(?:%2f|%5c|%252f|/|\\)|\.\.(?:%2f|%5c|%252f|%c0%af)", re.I),
    # Five or more climbs in a row: no real relative path needs that.
    re.compile(r"(?:\.\.[/\\]){5,}"),
    # A NUL byte cutting a path short.
    re.compile(r"%00|\x00"),
]
_SCRIPT = [
    # A script element with content or a source.
    re.compile(r"<\s*script\b[^>]*>[^<]*\S[^<]*<\s*/\s*script\s*>|<\s*script\b[^>]*\bsrc\s*=", re.I),
    # An event-handler attribute inside a tag: <img src=x onerror=alert(1)>
    re.compile(r"<\s*[a-z][\w-]*\b[^>]*\s(?:on[a-z]{3,})\s*=\s*['\"]?[^'\">\s]+", re.I),
    # A javascript: URL in an attribute, or a value that is nothing but one.
    re.compile(r"(?:href|src|action|formaction)\s*=\s*['\"]?\s*javascript\s*:", re.I),
    re.compile(r"^\s*javascript\s*:\s*[\w$.]+\s*\(", re.I),
    # Embedded frames and objects pointing elsewhere.
    re.compile(r"<\s*(?:iframe|object|embed)\b[^>]*\b(?:src|data)\s*=", re.I),
]
KINDS = (("SQL injection", _SQL), ("path traversal", _TRAVERSAL), ("script injection", _SCRIPT))


@dataclass(frozen=True, slots=True)
class Finding:
    """What was found and where (a dotted path to the field); never the content itself."""

    kind: str
    field: str

    def describe(self) -> str:
        return f"{self.kind} pattern in '{self.field}'"


def scan_text(text: str) -> str | None:
    """The kind of attack ``text`` looks like, or ``None``."""
    for kind, patterns in KINDS:
        if any(pattern.search(text) for pattern in patterns):
            return kind
    return None


def scan(value: Any, where: str = "body", depth: int = 0) -> Finding | None:
    """The first suspicious string (or nesting) in a decoded JSON value, with its field path."""
    if depth > MAX_NESTING:
        return Finding("oversized nesting", where)
    if isinstance(value, str):
        kind = scan_text(value)
        return Finding(kind, where) if kind else None
    if isinstance(value, dict):
        for key, item in value.items():
            if str(key).lower() in OPAQUE_FIELDS:
                continue
            found = scan(item, f"{where}.{key}", depth + 1) or (
                Finding(kind, f"{where}.{key}") if (kind := scan_text(str(key))) else None
            )
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if not isinstance(item, str | dict | list):
                continue  # numbers, booleans, null: nothing to inject (and no path built per vector float)
            found = scan(item, f"{where}[{index}]", depth + 1)
            if found:
                return found
    return None


def scan_query(query: dict[str, str] | Any) -> Finding | None:
    """The first suspicious query-string parameter."""
    for key, item in query.items():
        if str(key).lower() in OPAQUE_FIELDS:
            continue
        kind = scan_text(str(item)) or scan_text(str(key))
        if kind:
            return Finding(kind, f"query.{key}")
    return None
