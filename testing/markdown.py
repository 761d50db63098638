"""Reading the docs' Markdown as a renderer would: which lines are inside fenced code blocks."""

from __future__ import annotations

import re
from collections.abc import Iterator

# A Markdown code fence: up to three spaces, then three or more backticks or tildes.
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def markdown_lines(text: str) -> Iterator[tuple[str, bool]]:
    """Each line of a Markdown text but the fences themselves, and whether it is inside a fenced
    code block (a fence closes with the same character, at least as long as the one that opened
    it)."""
    fence = ""
    for line in text.splitlines():
        match = FENCE.match(line)
        if fence:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = ""
            else:
                yield line, True
        elif match:
            fence = match.group(1)
        else:
            yield line, False
