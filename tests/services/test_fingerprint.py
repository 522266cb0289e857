"""A fingerprint is the SHA-256 of the same bytes it always was: the json
module's canonical form of the identity, now written by orjson. Stored
alerts keep their identity across the change only if the bytes are equal for
every string a submission can carry."""

from __future__ import annotations

import hashlib
import json

from hypothesis import given
from hypothesis import strategies as st

from app.services.dedup import canonical, fingerprint

# Every code point a str from a JSON body can hold (no lone surrogates).
text = st.text(st.characters(exclude_categories=("Cs",)))


def _reference(alert_type: str, source: str, labels: dict[str, str]) -> bytes:
    identity = {"alert_type": alert_type, "source": source, "labels": labels}
    return json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def test_every_character_is_written_as_the_json_module_writes_it() -> None:
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(chars), 256):
        chunk = "".join(chars[start : start + 256])
        labels = {chunk: chunk[::-1], chunk[:3]: "", "": chunk[-5:]}
        assert canonical(alert_type=chunk, source=chunk[::2], labels=labels) == _reference(
            chunk, chunk[::2], labels
        ), hex(ord(chunk[0]))


@given(text, text, st.dictionaries(text, text, max_size=8))
def test_any_identity_gives_the_bytes_and_the_fingerprint_it_always_gave(
    alert_type: str, source: str, labels: dict[str, str]
) -> None:
    expected = _reference(alert_type, source, labels)
    assert canonical(alert_type=alert_type, source=source, labels=labels) == expected
    assert (
        fingerprint(alert_type=alert_type, source=source, labels=labels)
        == hashlib.sha256(expected).hexdigest()
    )


def test_a_known_fingerprint_is_unchanged() -> None:
    # Computed by the json module before the change.
    assert (
        fingerprint(alert_type="disk_full", source="db-1", labels={"mount": "/data", "zone": "é"})
        == hashlib.sha256(
            b'{"alert_type":"disk_full","labels":{"mount":"/data","zone":"\xc3\xa9"},"source":"db-1"}'
        ).hexdigest()
    )


def test_a_lone_surrogate_fails_as_it_always_did() -> None:
    try:
        _reference("t", "\ud800", {})
    except UnicodeEncodeError as expected:
        reference_error = type(expected)
    try:
        canonical(alert_type="t", source="\ud800", labels={})
    except UnicodeEncodeError as found:
        assert type(found) is reference_error
    else:
        raise AssertionError("a lone surrogate was encoded")
