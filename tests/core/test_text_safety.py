"""printable: nothing a terminal would act on survives, and nothing is silently lost."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.text_safety import json_safe, printable

_ACTIVE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\x1b[2Jb", "a\\x1b[2Jb"),
        ("t\x1b]0;title\x07x", "t\\x1b]0;title\\x07x"),
        ("name\nforged line", "name\\nforged line"),
        ("report\roverwrite", "report\\roverwrite"),
        ("invoice\u202etxt.exe", "invoice\\u202etxt.exe"),
        ("c1\x9b31m", "c1\\x9b31m"),
        ("café — ok 😀 tab\there", "café — ok 😀 tab\\there"),
    ],
)
def test_printable_escapes_what_a_terminal_acts_on(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_multiline_keeps_lines_and_tabs_only() -> None:
    assert printable("one\n\ttwo\r\x1b[1m", multiline=True) == "one\n\ttwo\\r\\x1b[1m"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_nothing_active_survives_and_json_stays_the_same_value(text: str) -> None:
    assert not _ACTIVE.search(printable(text))
    assert "\n" not in printable(text)
    dumped = json_safe(json.dumps({"t": text}, ensure_ascii=False))
    assert not _ACTIVE.search(dumped)
    assert json.loads(dumped) == {"t": text}
