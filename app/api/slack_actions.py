"""POST /integrations/slack/actions: the Acknowledge and Resolve buttons of
a Slack app's messages (notifiers/slack_app.py).

The request is Slack's, signed with the app's signing secret: no API key.
It is verified first (app/integrations/slack.py), then let in as the
channel that signed it (`slack:<channel>`: its rate limit, its access line,
as a key is), its signature recorded so
that a replay is refused (409), then the click moves the alert through the
API's own `move` (its transaction, retry, metrics and log line), as the
Slack user. Slack wants an answer within three seconds, and shows none of
ours but an ephemeral text: a click that cannot be done (the alert is
already resolved, or gone) is answered 200 with such a text; a request
Slack did not sign is 401, and a signed click on an alert that is not the
signing channel's 403. The acknowledged or resolved notice the move queues
then updates the message.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from app.api.alerts import move
from app.api.auth import Caller, admit
from app.api.deps import NowDep, SessionmakerDep, SettingsDep
from app.api.errors import ERROR_RESPONSES
from app.db import transaction
from app.errors import Conflict, NotFound
from app.integrations import slack
from app.notifiers.slack_app import ACTIONS
from app.schemas import ErrorBody
from app.services import lifecycle, slack_actions
from app.settings import ALL_TEAMS

router = APIRouter(prefix="/integrations", tags=["integrations"])

# Slack's buttons act on the alerts of the channels that sign them, whatever
# their team: a configured channel is the service's own, not a team's.
SLACK = Caller(name="slack", scopes=frozenset({"alerts:manage"}), team=ALL_TEAMS)
NOTE = "via Slack"


def ephemeral(text: str) -> JSONResponse:
    """Shown only to the user who clicked; the message stays as it is."""
    return JSONResponse({"response_type": "ephemeral", "replace_original": False, "text": text})


def _user(name: str) -> str:
    return " ".join(name.split())[:200] or "slack"


@router.post(
    "/slack/actions",
    summary="Slack app: the Acknowledge and Resolve buttons",
    description=(
        "Set this URL as the Slack app's Interactivity Request URL. Slack's form-encoded `payload` "
        "(`type: block_actions`) is taken only with a valid `X-Slack-Signature` (v0, HMAC-SHA256 with "
        "a Slack channel's `signing_secret`) and an `X-Slack-Request-Timestamp` within five minutes; "
        "the same signature twice is a replay (409). The click moves the alert as the Slack user "
        "(`by`), on an alert of the signing channel only (else 403). Answers 200 with no body, or "
        "with an ephemeral text when the move cannot be done (already resolved, alert gone)."
    ),
    responses={
        200: {"description": "Done (no body), or an ephemeral text for the user who clicked"},
        400: {"model": ErrorBody, "description": "No JSON `payload` in the form"},
        401: {"model": ErrorBody, "description": "Signature missing, wrong, or timestamp stale"},
        403: {"model": ErrorBody, "description": "The alert is not the signing channel's"},
        409: {"model": ErrorBody, "description": "A replayed request"},
        413: ERROR_RESPONSES[413],
        422: {"description": "Not used: a payload that is not a click is answered with 400"},
        503: ERROR_RESPONSES[503],
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["payload"],
                        "properties": {"payload": {"type": "string", "description": "the interaction, JSON"}},
                    }
                }
            },
        }
    },
)
async def slack_action(
    request: Request, sessionmaker: SessionmakerDep, settings: SettingsDep, now: NowDep
) -> Response:
    body = await request.body()
    signature, signed_by = slack.verify(
        request.headers, body, slack_actions.signing_secrets(settings), now=now
    )
    # The signature stands in for a key: charged and logged as the channel
    # that signed, as every other route charges and logs its key.
    admit(request, Caller(name=f"slack:{signed_by[0]}", scopes=SLACK.scopes, team=SLACK.team))
    await transaction.run(
        sessionmaker, lambda session: slack_actions.take(session, signature=signature, now=now)
    )
    click = slack.parse(body)
    if click is None:
        return Response(status_code=200)  # another kind of interaction: nothing to do
    target = ACTIONS.get(click.action_id)
    if target is None:
        return ephemeral(f"Unknown action {click.action_id[:100]!r}.")
    try:
        current = await transaction.run(
            sessionmaker,
            lambda session: slack_actions.status_for(session, alert_id=click.alert_id, channels=signed_by),
        )
        if target not in lifecycle.ALLOWED_MOVES.get(current, frozenset()):
            return ephemeral(f"This alert is already {current.replace('_', ' ')}.")
        await move(
            sessionmaker,
            caller=SLACK,
            alert_id=click.alert_id,
            status=target,
            by=_user(click.user),
            note=NOTE,
            settings=settings,
            now=now,
        )
    except NotFound:
        return ephemeral("This alert no longer exists.")
    except Conflict as exc:  # moved by someone else meanwhile
        return ephemeral(_sentence(str(exc.message)))
    request.app.state.wake_delivery()
    return Response(status_code=200)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
