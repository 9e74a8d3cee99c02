"""Malicious-input detection: known attack payloads are caught, and ordinary prose that talks about
SQL, paths and HTML is not (zero false positives on the corpus below)."""

from __future__ import annotations

import pytest

from server.services.threats import MAX_NESTING, scan, scan_query, scan_text

BENIGN = [
    # SQL, in words and in examples people write in notes and prompts.
    "Select the best three candidates from the list and explain why.",
    "Use a JOIN to combine the orders and customers tables, then GROUP BY region.",
    "The query SELECT name FROM users WHERE id = 42 returns one row.",
    "Drop me a line when the report is ready; I'll update the table afterwards.",
    "We should delete old rows or archive them, and update the index nightly.",
    "Did you try 'ORDER BY created_at DESC' to get the newest first?",
    "The UNION of both sets is what we want, not the intersection.",
    "Insert a summary at the top, then truncate anything longer than 500 words.",
    "He said 'or else' and left the room; nobody knew what he meant.",
    "Rate it 1-5, where 1=poor and 5=excellent.",
    "Postgres uses -- for comments and MySQL also accepts # at the start of a line.",
    "SQL injection is when an attacker closes a string literal and appends their own query.",
    "The sleep schedule: 23:00 to 07:00, and a benchmark run every Sunday.",
    # Paths.
    "The config lives in /etc/nginx/nginx.conf and logs go to /var/log/nginx/.",
    "Run it from ../build and the output lands in ../dist/app.",
    "Relative imports like ../../utils/helpers.ts are fine in this project.",
    "On Windows the file is at C:\\Users\\alice\\Documents\\report.docx.",
    "The /etc/passwd file lists accounts; never edit it by hand.",
    "Copy ./data/*.csv into the archive folder.",
    "Progress: 100% done, 0% errors.",
    # HTML and scripts, mentioned rather than injected.
    "Put the tracking code in a <script> tag just before </body>.",
    "Use <b>bold</b> and <i>italic</i> sparingly in the newsletter.",
    "JavaScript: The Good Parts is a short book worth reading.",
    "The onclick handler should debounce the button.",
    "An <img> element needs an alt attribute for accessibility.",
    'Links look like <a href="https://example.com">this</a>.',
    "Write a function that alerts the user when the upload finishes.",
    "The iframe approach was rejected in the design review.",
    # Everyday text with quotes and punctuation.
    'She said "yes" and the meeting was moved to 3 pm; bring the Q3 numbers.',
    "It's the customer's call -- we can't decide for them.",
    "Email: alice@example.com, phone: +1 555 0100, ref #4471.",
    'Summarize: "Revenue grew 12% year over year, driven by the EU market."',
    "x = 1; y = 2; print(x + y)",
    "if (a == b || c != d) { return; }",
]

ATTACKS: list[tuple[str, str]] = [
    ("x' OR '1'='1", "SQL injection"),
    ("admin'--", "SQL injection"),
    ("1'; DROP TABLE users; --", "SQL injection"),
    ("' UNION SELECT password FROM users --", "SQL injection"),
    ("1' AND SLEEP(5)--", "SQL injection"),
    ("../../../etc/passwd", "path traversal"),
    ("..\\..\\windows\\system32\\config", "path traversal"),
    ("%2e%2e%2f%2e%2e%2fetc%2fpasswd", "path traversal"),
    ("file.txt%00.png", "path traversal"),
    ("<script>alert(1)</script>", "script injection"),
    ("<script src=https://evil.example/x.js></script>", "script injection"),
    ('<img src=x onerror="alert(document.cookie)">', "script injection"),
    ('<a href="javascript:alert(1)">click</a>', "script injection"),
    ("javascript:alert(document.domain)", "script injection"),
    ('<iframe src="https://evil.example"></iframe>', "script injection"),
]


@pytest.mark.parametrize("text", BENIGN)
def test_ordinary_prose_is_not_flagged(text: str) -> None:
    assert scan_text(text) is None


@pytest.mark.parametrize(("payload", "kind"), ATTACKS)
def test_attack_payloads_are_caught(payload: str, kind: str) -> None:
    assert scan_text(payload) == kind


def test_findings_name_the_field_and_never_the_content() -> None:
    finding = scan({"input": {"messages": [{"content": "hi"}, {"content": "x' OR '1'='1"}]}})
    assert finding is not None
    assert finding.field == "body.input.messages[1].content"
    assert finding.describe() == "SQL injection pattern in 'body.input.messages[1].content'"


def test_passwords_and_secret_values_are_opaque() -> None:
    assert scan({"secret_key": "k", "secret_value": "x' OR '1'='1"}) is None
    assert scan({"username": "bob", "password": "<script>alert(1)</script>"}) is None


def test_nesting_deeper_than_any_real_request_is_flagged() -> None:
    deep: object = "leaf"
    for _ in range(MAX_NESTING + 2):
        deep = {"a": deep}
    finding = scan(deep)
    assert finding is not None
    assert finding.kind == "oversized nesting"
    shallow: object = "leaf"
    for _ in range(10):
        shallow = [shallow]
    assert scan(shallow) is None


def test_query_strings() -> None:
    assert scan_query({"search": "quarterly report", "limit": "10"}) is None
    finding = scan_query({"search": "<script>alert(1)</script>"})
    assert finding is not None
    assert finding.field == "query.search"
