"""The README and docs/ state what the code does: the fields of POST /alerts,
the severity words, the settings, and links that lead somewhere."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

from app.schemas import AlertCreate
from app.settings import SEVERITIES, SEVERITY_ALIASES, ChannelConfig, Settings
from tests.docs.blocks import DOCS, ROOT, doc_files

README = (ROOT / "README.md").read_text(encoding="utf-8")
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _table_after(text: str, header: str) -> list[list[str]]:
    """The rows of the markdown table whose header line starts with `header`."""
    lines = text[text.index(header) :].splitlines()
    rows = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def _names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_readme_fits_on_two_screens() -> None:
    # Two screens of the quick start, the first alert and the on-call example: the rest is in docs/.
    assert len(README.splitlines()) <= 150


def test_severity_table_is_the_alias_table() -> None:
    rows = _table_after((DOCS / "api.md").read_text(encoding="utf-8"), "| severity | also accepted |")
    documented = {alias: _names(row[0])[0] for row in rows for alias in _names(row[1])}
    assert [_names(row[0])[0] for row in rows] == list(SEVERITIES)
    aliases = {word: canonical for word, canonical in SEVERITY_ALIASES.items() if word != canonical}
    assert documented == aliases


def test_readme_field_table_is_the_submission_schema() -> None:
    rows = _table_after(README, "| field |")
    documented = {_names(row[0])[0]: row[1] for row in rows}
    fields = AlertCreate.model_fields
    assert list(documented) == list(fields)
    for name, info in fields.items():
        assert documented[name] == ("required" if info.is_required() else "optional"), name


def test_every_setting_is_documented_and_every_documented_setting_exists() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    documented = {name for row in _table_after(text, "| setting |") for name in _names(row[0])}
    assert documented == set(Settings.model_fields), (
        f"undocumented: {sorted(set(Settings.model_fields) - documented)}; "
        f"no such setting: {sorted(documented - set(Settings.model_fields))}"
    )


def _slug(heading: str) -> str:
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return {_slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: p.name if p.parent == ROOT else f"docs/{p.name}")
def test_links_lead_somewhere(path: Path) -> None:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    for target in _LINK.findall(text):
        if target.startswith(("http://", "https://")):
            continue
        file, _, anchor = target.partition("#")
        where = (path.parent / file).resolve() if file else path
        assert where.exists(), f"{path.name}: {target} leads nowhere"
        if anchor:
            assert anchor in _anchors(where), f"{path.name}: no heading for #{anchor} in {where.name}"


def test_every_doc_page_is_in_the_index() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    for page in DOCS.glob("*.md"):
        if page.name != "README.md":
            assert f"]({page.name})" in index, page.name


def test_every_channel_key_is_documented_for_its_type() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    documented = {_names(row[0])[0]: set(_names(row[1])) for row in _table_after(text, "| type | keys |")}
    union = get_args(ChannelConfig)[0]  # Annotated[A | B | ..., Field(discriminator=...)]
    for config in get_args(union):
        [kind] = get_args(config.model_fields["type"].annotation)
        missing = set(config.model_fields) - {"type"} - documented.get(kind, set())
        assert not missing, f"{kind}: undocumented {sorted(missing)}"
