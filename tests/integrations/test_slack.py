"""Slack's v0 request signature and the button payload, checked against
Slack's published example and Slack's own SDK."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import Clock, SignatureVerifier

from app.integrations import slack

# Slack's documented example ("Verifying requests from Slack").
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TIMESTAMP = "1531420618"
BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
EXPECTED = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
THEN = datetime.fromtimestamp(int(TIMESTAMP), UTC)


class _Then(Clock):
    def now(self) -> float:
        return float(TIMESTAMP)


def test_the_signature_is_slacks() -> None:
    assert slack.signature(SECRET, TIMESTAMP, BODY) == EXPECTED
    assert SignatureVerifier(SECRET, clock=_Then()).is_valid(BODY, TIMESTAMP, EXPECTED)


def test_verify_names_every_channel_whose_secret_signed() -> None:
    headers = {slack.TIMESTAMP_HEADER: TIMESTAMP, slack.SIGNATURE_HEADER: EXPECTED}
    secrets = {"a": SECRET, "b": "other", "c": SECRET}
    assert slack.verify(headers, BODY, secrets, now=THEN) == (EXPECTED, ["a", "c"])


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "required"),
        ({slack.TIMESTAMP_HEADER: "soon", slack.SIGNATURE_HEADER: EXPECTED}, "Unix seconds"),
        ({slack.TIMESTAMP_HEADER: "1531420000", slack.SIGNATURE_HEADER: EXPECTED}, "five minutes"),
        ({slack.TIMESTAMP_HEADER: TIMESTAMP, slack.SIGNATURE_HEADER: "v0=" + "0" * 64}, "matches no"),
        ({slack.TIMESTAMP_HEADER: TIMESTAMP, slack.SIGNATURE_HEADER: "v0=é"}, "matches no"),
    ],
)
def test_verify_refuses(headers: dict[str, str], why: str) -> None:
    with pytest.raises(slack.SignatureRefused, match=why) as caught:
        slack.verify(headers, BODY, {"a": SECRET}, now=THEN)
    assert caught.value.status_code == 401


def _form(payload: object) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_parse_a_click() -> None:
    alert_id = "0b6f9c52-5d8e-4c51-9a3e-2a9d1f1c7e01"
    body = _form(
        {
            "type": "block_actions",
            "user": {"id": "U1", "name": "ann"},
            "actions": [{"action_id": "alert_resolve", "value": alert_id}],
        }
    )
    click = slack.parse(body)
    assert click is not None
    assert (click.action_id, str(click.alert_id), click.user) == ("alert_resolve", alert_id, "ann")
    assert slack.parse(_form({"type": "view_submission"})) is None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"payload=%7B",
        _form([1]),
        _form({"type": "block_actions", "user": {"id": "U1"}, "actions": []}),
        _form({"type": "block_actions", "user": {"id": "U1"}, "actions": [{"value": "not-an-id"}]}),
        _form({"type": "block_actions", "actions": [{"value": "0b6f9c52-5d8e-4c51-9a3e-2a9d1f1c7e01"}]}),
    ],
)
def test_parse_refuses_what_is_not_a_click(body: bytes) -> None:
    with pytest.raises(slack.BadPayload):
        slack.parse(body)
