"""The body of POST /alerts: one alert, or an array of them (a batch).

FastAPI would validate a body typed `AlertCreate` itself; the route takes
either shape, so the body arrives parsed but unvalidated (`Submission`, whose
schema in the spec is still the union) and is validated here. One object is
validated exactly as FastAPI does it, so its errors keep their shape and
their fields. A batch is validated alert by alert, naming each error's field
with the alert's index (`[3].severity`), and every alert is validated and
planned before anything is written: one bad alert refuses the whole batch.
The validation lets the process's other requests in as it goes
(app/pacing.py), so a large batch does not hold them up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi.exceptions import RequestValidationError
from pydantic import SkipValidation, ValidationError

from app.db.store import IngestPlan
from app.errors import InvalidInput
from app.pacing import Pacer
from app.schemas import AlertCreate
from app.services.decisions import plan
from app.settings import Settings

# The body's type in the spec; validated by `one` or `plans`, not by FastAPI.
Submission = Annotated[AlertCreate | list[AlertCreate], SkipValidation]

MAX_ERRORS = 50  # errors listed in one answer; a batch of garbage need not list them all


def one(body: Any) -> AlertCreate:
    """One alert, validated as FastAPI validates a body (its errors located under `body`)."""
    try:
        return AlertCreate.model_validate(body, from_attributes=True)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)], body=body
        ) from None


async def plans(items: list[Any], *, team: str, settings: Settings, now: datetime) -> list[IngestPlan]:
    """Every alert of a batch validated and planned, or a 422 naming each
    bad field by its alert's index."""
    if not items:
        raise InvalidInput("a batch holds at least one alert", field="body")
    if len(items) > settings.max_batch_alerts:
        raise InvalidInput(
            f"a batch holds at most {settings.max_batch_alerts} alerts (max_batch_alerts); this one has {len(items)}",
            field="body",
        )
    made: list[IngestPlan] = []
    errors: list[dict[str, Any]] = []
    pacer = Pacer()
    for index, item in enumerate(items):
        at = f"[{index}]"
        try:
            made.append(plan(AlertCreate.model_validate(item), team=team, settings=settings, now=now))
        except ValidationError as exc:
            errors += [
                {**error, "loc": ("body", at, *error["loc"])} for error in exc.errors(include_url=False)
            ]
        except InvalidInput as exc:  # a channel that is not configured
            where = tuple(exc.field.split(".")) if exc.field else ()
            errors.append({"type": "value_error", "loc": ("body", at, *where), "msg": exc.message})
        if len(errors) >= MAX_ERRORS:
            break
        await pacer.turn()
    if errors:
        raise RequestValidationError(errors[:MAX_ERRORS])
    return made
