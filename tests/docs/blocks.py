"""The fenced code blocks of the README and of docs/, as the doc tests read them.

Every block carries a language tag, and the tag says what a test does with it:

    sh        shell commands, run with bash against a live service
    sh-norun  shell commands that cannot run on a test machine; the line before
              the fence is `<!-- norun: why -->`
    python    run with Python against a live service
    toml      a configuration file, loaded by the app's own settings loader
    yaml      an Alertmanager configuration, parsed (and `amtool check-config`ed)
    json      the answer of the `sh` block just above it (compared on its stable
              fields), or on its own a documented shape: it must parse
    text      illustration only (a file layout)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
TAGS = ("sh", "sh-norun", "python", "toml", "yaml", "json", "text")
# What the documentation calls the service; the tests put the live address in its place.
DOC_URL = "http://127.0.0.1:8000"

_FENCE = re.compile(r"^```(\S*)\s*$")
_NORUN = re.compile(r"^<!-- norun: (\S.*\S) -->$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    tag: str
    text: str
    comment: str  # the non-blank line just before the fence
    follows: Block | None  # the block just above, when only blank lines separate them

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def norun_reason(self) -> str | None:
        found = _NORUN.match(self.comment)
        return found.group(1) if found else None


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    last_end = -10  # index of the closing fence of the previous block
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        start = i
        i += 1
        body = []
        while i < len(lines) and lines[i].rstrip() != "```":
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise AssertionError(f"{path.name}:{start + 1}: code block never closed")
        before = [line for line in lines[:start] if line.strip()]
        adjacent = found and all(not line.strip() for line in lines[last_end + 1 : start])
        found.append(
            Block(
                path=path,
                line=start + 1,
                tag=opening.group(1),
                text="\n".join(body) + "\n",
                comment=before[-1].strip() if before else "",
                follows=found[-1] if adjacent else None,
            )
        )
        last_end = i
        i += 1
    return found


def all_blocks() -> list[Block]:
    return [block for path in doc_files() for block in blocks(path)]


def block_containing(path: Path, tag: str, needle: str) -> Block:
    matches = [b for b in blocks(path) if b.tag == tag and needle in b.text]
    assert len(matches) == 1, f"{path.name}: {len(matches)} {tag} blocks contain {needle!r}"
    return matches[0]
