"""The loader refuses what no reader could serve: it is the only way events enter the store."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devtools.load import DEMO_TENANT, build
from shared.calendar.recurrence import UnknownTimeZone


def tenant_with(**changes: Any) -> dict[str, Any]:
    tenant = json.loads(DEMO_TENANT.read_text())
    tenant["events"] = [{**tenant["events"][0], **changes}]
    return dict(tenant)


def test_the_demo_tenant_loads() -> None:
    loaded, _, rows = build(json.loads(DEMO_TENANT.read_text()))
    assert loaded.events
    assert rows


@pytest.mark.parametrize("field", ["start", "end"])
def test_an_event_in_a_zone_nobody_knows_is_refused(field: str) -> None:
    event = tenant_with()["events"][0]
    changed = {field: {**event[field], "timeZone": "tzone://Microsoft/Custom"}}

    with pytest.raises(UnknownTimeZone):
        build(tenant_with(**changed))


def test_an_event_outside_the_calendar_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        build(
            tenant_with(
                start={"dateTime": "0001-01-01T09:00:00", "timeZone": "UTC"},
                end={"dateTime": "0001-01-01T10:00:00", "timeZone": "UTC"},
            )
        )
