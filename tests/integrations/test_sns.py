"""Amazon SNS: CloudWatch alarms and subscription confirmations, signed as
SNS signs them.

Messages are shaped as AWS documents them; each is signed here with a key of
our own whose self-signed certificate a real HTTP server on 127.0.0.1 serves
(allow-listed in the settings, as a private endpoint would be).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from tests.conftest import FakeClock, Service, ServiceFactory
from tests.peers import HttpReceiver

URL = "/integrations/sns"
TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"
KEY = "sns-key-for-the-default-team-0123456789"
PAYMENTS_KEY = "sns-key-for-the-payments-team-0123456789"
ALARM_ARN = "arn:aws:cloudwatch:us-west-2:123456789012:alarm:HighCPU"


def hashed(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


KEYS = [
    {"name": "aws", "hash": hashed(KEY), "scopes": ["alerts:write"]},
    {"name": "aws-payments", "hash": hashed(PAYMENTS_KEY), "scopes": ["alerts:write"], "team": "payments"},
    {
        "name": "reader",
        "hash": hashed("sns-reader-key-0123456789"),
        "scopes": ["read", "alerts:manage"],
        "team": "*",
    },
]


def basic(key: str, user: str = "x") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()}


# --- signing as SNS does ------------------------------------------------------------

_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}  # fmt: skip


class Signer:
    """A key and its self-signed certificate, served over HTTP on 127.0.0.1."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.us-west-2.amazonaws.com")])
        self.pem = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(2040, 1, 1, tzinfo=dt.UTC))
            .sign(self.key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM)
        )
        self.server = HttpReceiver()
        self.server.answer(200, body=self.pem, headers={"Content-Type": "application/x-pem-file"})
        self.cert_url = f"{self.server.url}/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"

    def sign(self, message: dict[str, Any], version: str = "1") -> dict[str, Any]:
        signed = "".join(f"{k}\n{message[k]}\n" for k in _SIGNED[message["Type"]] if k in message)
        digest = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(signed.encode(), padding.PKCS1v15(), digest)
        message.setdefault("SigningCertURL", self.cert_url)
        message.update(SignatureVersion=version, Signature=base64.b64encode(signature).decode())
        return message


_shared: Signer | None = None
_shared_lock = threading.Lock()


def shared_signer() -> Signer:
    """One signer for the whole run (a key takes a while to make)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Signer()
        return _shared


def stamp(now: dt.datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def notification(now: dt.datetime, message: str, subject: str | None = "My First Message") -> dict[str, Any]:
    body = {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Subject": subject,
        "Message": message,
        "Timestamp": stamp(now),
        "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn="
        f"{TOPIC}:c9135db0-26c4-47ec-8998-413945fb5a96",
    }
    return {k: v for k, v in body.items() if v is not None}


def confirmation(
    now: dt.datetime, subscribe_url: str, kind: str = "SubscriptionConfirmation"
) -> dict[str, Any]:
    return {
        "Type": kind,
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736",
        "TopicArn": TOPIC,
        "Message": f"You have chosen to subscribe to the topic {TOPIC}.\n"
        "To confirm the subscription, visit the SubscribeURL included in this message.",
        "SubscribeURL": subscribe_url,
        "Timestamp": stamp(now),
    }


def cloudwatch(state: str, **overrides: Any) -> str:
    """The alarm as CloudWatch writes it into the Message (AWS's documented example)."""
    body: dict[str, Any] = {
        "AlarmName": "HighCPU",
        "AlarmDescription": "CPU above 90% on the web tier",
        "AWSAccountId": "123456789012",
        "AlarmConfigurationUpdatedTimestamp": "2025-12-14T01:00:00.000+0000",
        "NewStateValue": state,
        "NewStateReason": f"Threshold Crossed: 1 datapoint [97.5 (05/01/26 08:55:00)] ({state})",
        "StateChangeTime": "2026-01-05T08:59:00.000+0000",
        "Region": "US West (Oregon)",
        "AlarmArn": ALARM_ARN,
        "OldStateValue": "OK",
        "OKActions": [TOPIC],
        "AlarmActions": [TOPIC],
        "InsufficientDataActions": [],
        "Trigger": {
            "MetricName": "CPUUtilization",
            "Namespace": "AWS/EC2",
            "StatisticType": "Statistic",
            "Statistic": "AVERAGE",
            "Unit": None,
            "Dimensions": [{"value": "i-0123456789abcdef0", "name": "InstanceId"}],
            "Period": 300,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 90.0,
            "TreatMissingData": "missing",
            "EvaluateLowSampleCountPercentile": "",
        },
    }
    body.update(overrides)
    return json.dumps(body)


# --- fixtures ---------------------------------------------------------------------


@pytest.fixture
def signer() -> Iterator[Signer]:
    made = shared_signer()
    yield made
    made.server.requests.clear()


@pytest.fixture
async def sns(service_factory: ServiceFactory) -> AsyncIterator[Service]:
    async with service_factory(
        api_keys=KEYS,
        sns_allowed_hosts=["127.0.0.1"],
        sns_topics=[{"arn": TOPIC, "team": "default"}, {"arn": TOPIC, "team": "payments"}],
    ) as svc:
        yield svc


async def post(svc: Service, message: dict[str, Any], key: str = KEY) -> httpx.Response:
    # As SNS posts: the JSON as text/plain, the key in the URL's basic auth.
    return await svc.client.post(
        URL, content=json.dumps(message), headers={"Content-Type": "text/plain; charset=UTF-8", **basic(key)}
    )


async def alerts(svc: Service, team: str | None = None) -> list[dict[str, Any]]:
    params = {"team": team} if team else {}
    answer = await svc.client.get(
        "/alerts", params=params, headers={"X-API-Key": "sns-reader-key-0123456789"}
    )
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def detail(svc: Service, alert_id: str) -> dict[str, Any]:
    answer = await svc.client.get(f"/alerts/{alert_id}", headers={"X-API-Key": "sns-reader-key-0123456789"})
    found: dict[str, Any] = answer.json()
    return found


def alarm(
    clock: FakeClock, signer: Signer, state: str, version: str = "1", **overrides: Any
) -> dict[str, Any]:
    message = notification(
        clock.now, cloudwatch(state, **overrides), subject=f'{state}: "HighCPU" in US West'
    )
    return signer.sign(message, version)


# --- subscriptions ---------------------------------------------------------------


async def test_confirmation_of_an_allowed_topic_gets_its_subscribe_url_once(
    sns: Service, signer: Signer, http_receiver: HttpReceiver
) -> None:
    url = f"{http_receiver.url}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f37"
    answer = await post(sns, signer.sign(confirmation(sns.clock.now, url)))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"type": "SubscriptionConfirmation", "outcome": "confirmed", "alert_id": None}
    [request] = http_receiver.requests
    assert (
        request.method == "GET"
        and request.path == f"/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f37"
    )


async def test_confirmation_of_a_topic_not_allowed_for_the_team_is_refused(
    service_factory: ServiceFactory, signer: Signer, http_receiver: HttpReceiver
) -> None:
    other = {"arn": "arn:aws:sns:us-west-2:123456789012:Other", "team": "default"}
    async with service_factory(
        api_keys=KEYS, sns_allowed_hosts=["127.0.0.1"], sns_topics=[{"arn": TOPIC, "team": "payments"}, other]
    ) as svc:
        answer = await post(svc, signer.sign(confirmation(svc.clock.now, http_receiver.url)))
        assert answer.status_code == 403
        assert answer.json()["message"] == f"topic {TOPIC} is not allowed for team 'default' (sns_topics)"
        assert answer.json()["field"] == "TopicArn"
    async with service_factory(api_keys=KEYS, sns_allowed_hosts=["127.0.0.1"]) as svc:
        answer = await post(svc, signer.sign(confirmation(svc.clock.now, http_receiver.url)))
        assert answer.status_code == 403
        assert answer.json()["message"] == "no SNS topic is allowed: configure sns_topics"
    assert http_receiver.requests == []


async def test_confirmation_on_a_host_not_allowed_is_refused_without_a_request(
    sns: Service, signer: Signer, http_receiver: HttpReceiver
) -> None:
    for url in (
        http_receiver.url.replace("127.0.0.1", "localhost") + "/?Action=ConfirmSubscription",
        "http://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription",  # SNS, but not https
        "https://sns.us-west-2.amazonaws.com.evil.example/?Action=ConfirmSubscription",
    ):
        answer = await post(sns, signer.sign(confirmation(sns.clock.now, url)))
        assert answer.status_code == 403, url
        assert answer.json()["message"].startswith("SubscribeURL refused"), answer.text
    assert http_receiver.requests == []


async def test_unsubscribe_confirmation_is_acknowledged(sns: Service, signer: Signer) -> None:
    message = confirmation(
        sns.clock.now, "https://sns.us-west-2.amazonaws.com/?Action=x", "UnsubscribeConfirmation"
    )
    answer = await post(sns, signer.sign(message))
    assert answer.status_code == 200
    assert answer.json()["outcome"] == "unsubscribed"
    assert await alerts(sns) == []


# --- CloudWatch alarms ----------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
async def test_alarm_creates_an_alert(sns: Service, signer: Signer, version: str) -> None:
    answer = await post(sns, alarm(sns.clock, signer, "ALARM", version))
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "created"
    alert = await detail(sns, answer.json()["alert_id"])
    assert (alert["alert_type"], alert["severity"], alert["status"]) == ("HighCPU", "high", "open")
    assert alert["source"] == "AWS/EC2 InstanceId=i-0123456789abcdef0"
    assert alert["labels"] == {
        "InstanceId": "i-0123456789abcdef0",
        "aws_account": "123456789012",
        "aws_region": "us-west-2",
    }
    assert alert["message"].startswith("Threshold Crossed: 1 datapoint")
    assert alert["fingerprint"] == ALARM_ARN and alert["team"] == "default"
    assert alert["details"]["alarm_description"] == "CPU above 90% on the web tier"


async def test_repeated_alarm_merges_and_ok_resolves(sns: Service, signer: Signer) -> None:
    first = (await post(sns, alarm(sns.clock, signer, "ALARM"))).json()
    sns.clock.advance(minutes=5)
    again = (await post(sns, alarm(sns.clock, signer, "ALARM"))).json()
    assert again["outcome"] == "duplicate" and again["alert_id"] == first["alert_id"]
    assert (await detail(sns, first["alert_id"]))["occurrences"] == 2
    sns.clock.advance(minutes=5)
    resolved = (await post(sns, alarm(sns.clock, signer, "OK"))).json()
    assert resolved == {"type": "Notification", "outcome": "resolved", "alert_id": first["alert_id"]}
    alert = await detail(sns, first["alert_id"])
    assert alert["status"] == "resolved" and alert["resolved_by"] == "cloudwatch"
    assert (await post(sns, alarm(sns.clock, signer, "OK"))).json()["outcome"] == "already_resolved"


async def test_ok_for_an_alarm_never_seen_changes_nothing(sns: Service, signer: Signer) -> None:
    answer = await post(sns, alarm(sns.clock, signer, "OK"))
    assert answer.json() == {"type": "Notification", "outcome": "unknown", "alert_id": None}
    assert await alerts(sns) == []


async def test_insufficient_data_is_recorded_in_the_history(sns: Service, signer: Signer) -> None:
    ignored = await post(sns, alarm(sns.clock, signer, "INSUFFICIENT_DATA"))
    assert ignored.json()["outcome"] == "ignored" and await alerts(sns) == []
    created = (await post(sns, alarm(sns.clock, signer, "ALARM"))).json()
    sns.clock.advance(minutes=1)
    recorded = (await post(sns, alarm(sns.clock, signer, "INSUFFICIENT_DATA"))).json()
    assert recorded == {"type": "Notification", "outcome": "recorded", "alert_id": created["alert_id"]}
    alert = await detail(sns, created["alert_id"])
    assert alert["status"] == "open"
    [event] = [e for e in alert["history"] if e["kind"] == "cloudwatch_state"]
    assert event["data"] == {"state": "INSUFFICIENT_DATA"} and event["actor"] == "cloudwatch"


async def test_alarm_severity_follows_the_setting(service_factory: ServiceFactory, signer: Signer) -> None:
    async with service_factory(
        api_keys=KEYS,
        sns_allowed_hosts=["127.0.0.1"],
        sns_topics=[{"arn": TOPIC}],
        sns_alarm_severity="critical",
    ) as svc:
        answer = await post(svc, alarm(svc.clock, signer, "ALARM"))
        assert (await detail(svc, answer.json()["alert_id"]))["severity"] == "critical"


async def test_a_message_that_is_no_alarm_becomes_an_alert(sns: Service, signer: Signer) -> None:
    answer = await post(
        sns, signer.sign(notification(sns.clock.now, "Backup of db-1 failed", "Backup failed"))
    )
    assert answer.status_code == 200 and answer.json()["outcome"] == "created"
    alert = await detail(sns, answer.json()["alert_id"])
    assert (alert["alert_type"], alert["severity"], alert["message"]) == (
        "Backup failed",
        "medium",
        "Backup of db-1 failed",
    )
    assert alert["source"] == "MyTopic" and alert["labels"] == {"topic_arn": TOPIC}


async def test_the_team_of_the_key_owns_the_alert(sns: Service, signer: Signer) -> None:
    answer = await post(sns, alarm(sns.clock, signer, "ALARM"), key=PAYMENTS_KEY)
    assert answer.status_code == 200
    assert (await detail(sns, answer.json()["alert_id"]))["team"] == "payments"
    assert [a["team"] for a in await alerts(sns)] == ["payments"]
    # The default team's OK does not resolve the payments team's alarm.
    assert (await post(sns, alarm(sns.clock, signer, "OK"))).json()["outcome"] == "unknown"


async def test_a_notification_from_a_topic_not_allowed_is_refused(sns: Service, signer: Signer) -> None:
    message = notification(sns.clock.now, cloudwatch("ALARM"))
    message["TopicArn"] = "arn:aws:sns:us-west-2:123456789012:Elsewhere"
    answer = await post(sns, signer.sign(message))
    assert answer.status_code == 403 and answer.json()["field"] == "TopicArn"
    assert await alerts(sns) == []


# --- keys ------------------------------------------------------------------------


async def test_the_key_in_basic_auth_or_the_usual_headers_works_and_a_wrong_one_is_401(
    sns: Service, signer: Signer
) -> None:
    message = alarm(sns.clock, signer, "ALARM")
    assert (await post(sns, message)).status_code == 200
    bearer = await sns.client.post(URL, json=message, headers={"Authorization": f"Bearer {KEY}"})
    assert bearer.status_code == 200
    for headers in (basic("not-the-key"), {"Authorization": "Basic %%%"}, {}):
        answer = await sns.client.post(URL, content=json.dumps(message), headers=headers)
        assert answer.status_code == 401 and answer.json()["code"] == "unauthorized"
    reader = await post(sns, message, key="sns-reader-key-0123456789")
    assert reader.status_code == 403 and "alerts:write" in reader.json()["message"]


# --- signatures ------------------------------------------------------------------


async def test_an_altered_message_is_refused(sns: Service, signer: Signer) -> None:
    message = alarm(sns.clock, signer, "ALARM")
    message["Message"] = cloudwatch("ALARM", AlarmName="SomethingElse")
    answer = await post(sns, message)
    assert answer.status_code == 403
    assert answer.json()["message"] == "the signature does not match the message"
    assert await alerts(sns) == []


async def test_a_signature_of_the_other_version_is_refused(sns: Service, signer: Signer) -> None:
    message = alarm(sns.clock, signer, "ALARM", version="2")
    message["SignatureVersion"] = "1"
    assert (await post(sns, message)).status_code == 403


async def test_an_unsigned_message_is_refused(sns: Service, signer: Signer) -> None:
    message = alarm(sns.clock, signer, "ALARM")
    del message["Signature"]
    answer = await post(sns, message)
    assert answer.status_code == 400 and "Signature" in answer.json()["message"]
    message["Signature"] = ""
    assert (await post(sns, message)).status_code == 403
    assert await alerts(sns) == []


async def test_a_stale_message_is_refused(sns: Service, signer: Signer) -> None:
    message = alarm(sns.clock, signer, "ALARM")
    sns.clock.advance(minutes=61)
    answer = await post(sns, message)
    assert answer.status_code == 403 and answer.json()["message"].startswith("stale message")
    assert signer.server.requests == []  # refused before any certificate is fetched


async def test_a_certificate_on_a_foreign_host_is_refused_without_fetching_it(
    sns: Service, signer: Signer
) -> None:
    for cert_url in (
        signer.cert_url.replace("127.0.0.1", "localhost"),
        "https://sns.us-west-2.amazonaws.com.attacker.example/cert.pem",
        "http://sns.us-west-2.amazonaws.com/cert.pem",
    ):
        message = notification(sns.clock.now, cloudwatch("ALARM"))
        message["SigningCertURL"] = cert_url
        answer = await post(sns, signer.sign(message))
        assert answer.status_code == 403, cert_url
        assert answer.json()["message"].startswith("SigningCertURL refused"), answer.text
    assert signer.server.requests == []


async def test_a_certificate_of_another_key_is_refused_and_certificates_are_cached(
    sns: Service, signer: Signer
) -> None:
    assert (await post(sns, alarm(sns.clock, signer, "ALARM"))).status_code == 200
    assert (await post(sns, alarm(sns.clock, signer, "ALARM"))).status_code == 200
    assert len(signer.server.requests) == 1  # fetched once, kept by URL
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    message = notification(sns.clock.now, cloudwatch("ALARM"))
    signed = "".join(f"{k}\n{message[k]}\n" for k in _SIGNED["Notification"] if k in message)
    message.update(
        SignatureVersion="1",
        SigningCertURL=signer.cert_url,
        Signature=base64.b64encode(forger.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA1())).decode(),
    )
    assert (await post(sns, message)).status_code == 403


@pytest.mark.parametrize("body", ["not json", "[]", '{"Type": "Notification"}', '{"Type": "Other"}'])
async def test_a_body_that_is_no_sns_message_is_400(sns: Service, body: str) -> None:
    answer = await sns.client.post(URL, content=body, headers=basic(KEY))
    assert answer.status_code == 400 and answer.json()["message"].startswith("not an SNS message")


async def test_an_alarm_that_makes_no_alert_is_422(sns: Service, signer: Signer) -> None:
    message = notification(
        sns.clock.now, cloudwatch("ALARM", NewStateReason="x" * 9_000, AlarmName="\x01\x02")
    )
    answer = await post(sns, signer.sign(message))
    assert answer.status_code == 422 and answer.json()["message"].startswith(
        "the message makes no valid alert"
    )
