"""The collector is tuned once the service has started (app/runtime.py)."""

from __future__ import annotations

import gc

from app.runtime import YOUNG_THRESHOLD
from tests.conftest import Service


async def test_a_started_service_has_frozen_its_heap_and_collects_young_objects_less_often(
    service: Service,
) -> None:
    assert (await service.client.get("/healthz")).status_code == 200
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert gc.get_freeze_count() > 0
