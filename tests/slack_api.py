"""A stand-in for Slack's Web API on 127.0.0.1: chat.postMessage and
chat.update, checked as Slack documents them and answered as Slack does.

Every call must be a POST of JSON (`application/json`, charset allowed) with
`Authorization: Bearer <bot token>`; Slack answers HTTP 200 with
`{"ok": true, ...}` or `{"ok": false, "error": "<code>"}` (not_authed,
invalid_auth, channel_not_found, message_not_found, no_text,
invalid_blocks...), and a rate limit with HTTP 429, `Retry-After` and
`{"ok": false, "error": "ratelimited"}`. chat.update needs the channel's id
(a name is refused, as Slack does), and answers with the same ts.
Whatever does not match Slack's shape is also noted in `problems`, which a
test asserts is empty.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.peers import HttpReceiver, Received, Reply

TOKEN = "xoxb-1234567890-0987654321-SeCrEtToKeN"
CHANNEL_ID = "C0ALERTS01"
CHANNEL_NAME = "#alerts"
BLOCK_TYPES = {"header", "section", "actions", "context", "divider"}


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    attachments: list[dict[str, Any]]
    thread_ts: str | None = None
    reply_broadcast: bool = False
    versions: int = 1  # 1 + the updates it had

    def blocks(self) -> list[dict[str, Any]]:
        return [block for a in self.attachments for block in a.get("blocks", [])]

    def facts(self) -> dict[str, str]:
        """The section fields, label -> value, as a person reads them."""
        shown = {}
        for block in self.blocks():
            for f in block.get("fields", []):
                label, _, value = f["text"].partition("\n")
                shown[label.strip("*")] = value
        return shown

    def header(self) -> str:
        return next(b["text"]["text"] for b in self.blocks() if b["type"] == "header")

    def buttons(self) -> dict[str, str]:
        """action_id -> value of the buttons shown."""
        return {
            e["action_id"]: e["value"] for b in self.blocks() if b["type"] == "actions" for e in b["elements"]
        }


@dataclass
class SlackApi:
    token: str = TOKEN
    # Names and ids the workspace knows, each to its channel id.
    channels: dict[str, str] = field(
        default_factory=lambda: {CHANNEL_NAME: CHANNEL_ID, CHANNEL_ID: CHANNEL_ID}
    )
    messages: dict[str, Message] = field(default_factory=dict)  # top-level, by ts
    replies: list[Message] = field(default_factory=list)  # in threads, in order
    calls: list[str] = field(default_factory=list)  # method names, in order
    problems: list[str] = field(default_factory=list)
    _queued: list[Reply] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(100))

    def __post_init__(self) -> None:
        self.receiver = HttpReceiver(self.respond)
        self.url = f"{self.receiver.url}/api"

    def close(self) -> None:
        self.receiver.close()

    # --- what a test does to Slack ---------------------------------------------

    def fail_next(self, error: str, *, status: int = 200, retry_after: str | None = None) -> None:
        """Answer the next call with this error, as Slack would."""
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        body = json.dumps({"ok": False, "error": error}).encode()
        self._queued.append(Reply(status, headers, body))

    def delete(self, ts: str) -> None:
        """Someone deleted the message in Slack."""
        del self.messages[ts]

    def only_message(self) -> Message:
        [message] = self.messages.values()
        return message

    # --- Slack's side ------------------------------------------------------------

    def respond(self, request: Received) -> Reply:
        with self._lock:
            if self._queued:
                return self._queued.pop(0)
            return self._answer(request)

    def _answer(self, request: Received) -> Reply:
        method = request.path.removeprefix("/api/")
        self.calls.append(method)
        if request.method != "POST" or method not in ("chat.postMessage", "chat.update"):
            self.problems.append(f"unexpected {request.method} {request.path}")
            return _reply({"ok": False, "error": "unknown_method"}, status=404)
        auth = request.headers.get("authorization")
        if auth is None:
            return self._refuse("not_authed", "no Authorization header")
        if auth != f"Bearer {self.token}":
            return self._refuse("invalid_auth", "wrong Authorization header")
        if not request.headers.get("content-type", "").startswith("application/json"):
            return self._refuse("invalid_form_data", "not JSON")
        try:
            body = json.loads(request.body)
        except ValueError:
            return self._refuse("invalid_json", "a body that is not JSON")
        if not isinstance(body, dict):
            return self._refuse("json_not_object", "a body that is not an object")
        shape = self._check_shape(body)
        if shape:
            return self._refuse(shape, f"{method}: {shape}")
        if method == "chat.postMessage":
            return self._post(body)
        return self._update(body)

    def _refuse(self, error: str, problem: str) -> Reply:
        self.problems.append(problem)
        return _reply({"ok": False, "error": error})

    def _check_shape(self, body: dict[str, Any]) -> str | None:
        if not isinstance(body.get("channel"), str):
            return "channel_not_found"
        if not body.get("text") and not body.get("attachments") and not body.get("blocks"):
            return "no_text"
        attachments = body.get("attachments", [])
        if not isinstance(attachments, list) or len(attachments) > 100:
            return "invalid_attachments"
        for attachment in attachments:
            for block in attachment.get("blocks", []):
                if block.get("type") not in BLOCK_TYPES:
                    return "invalid_blocks"
                if block["type"] == "header" and len(block["text"]["text"]) > 150:
                    return "invalid_blocks"
                if block["type"] == "actions":
                    for element in block.get("elements", []):
                        if element.get("type") != "button" or not element.get("action_id"):
                            return "invalid_blocks"
                        if (
                            element["text"].get("type") != "plain_text"
                            or len(element.get("value", "")) > 2000
                        ):
                            return "invalid_blocks"
        return None

    def _post(self, body: dict[str, Any]) -> Reply:
        channel = self.channels.get(body["channel"])
        if channel is None:
            return _reply({"ok": False, "error": "channel_not_found"})
        thread_ts = body.get("thread_ts")
        if thread_ts is not None and thread_ts not in self.messages:
            return _reply({"ok": False, "error": "thread_not_found"})
        ts = f"1767600000.{next(self._ts):06d}"
        message = Message(
            channel=channel,
            ts=ts,
            text=body.get("text", ""),
            attachments=body.get("attachments", []),
            thread_ts=thread_ts,
            reply_broadcast=bool(body.get("reply_broadcast")),
        )
        if thread_ts is None:
            self.messages[ts] = message
        else:
            self.replies.append(message)
        return _reply({"ok": True, "channel": channel, "ts": ts, "message": {"text": message.text}})

    def _update(self, body: dict[str, Any]) -> Reply:
        if body["channel"] not in self.channels.values():  # chat.update takes ids only
            return _reply({"ok": False, "error": "channel_not_found"})
        message = self.messages.get(str(body.get("ts")))
        if message is None or message.channel != body["channel"]:
            return _reply({"ok": False, "error": "message_not_found"})
        message.text = body.get("text", message.text)
        message.attachments = body.get("attachments", message.attachments)
        message.versions += 1
        return _reply({"ok": True, "channel": message.channel, "ts": message.ts, "text": message.text})


def _reply(answer: dict[str, Any], *, status: int = 200) -> Reply:
    return Reply(status, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(answer).encode())
