"""The delivery dashboard and each destination's deliveries: counts over time, dead letters,
and replaying them.

Counts over time come from ``delivery_history`` (the web app's own samples); dead letters,
replays and metrics from ``runtime.destinations``, as the Config API shows them.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from shoal.control.repo import NotFound
from shoal.destinations.repo import Destination
from shoal.web.ui.delivery_history import RANGES, DeliveryHistory, Sample, bars, buckets
from shoal.web.ui.destinations import described, find_destination, missing_page
from shoal.web.ui.render import Ui, UiDep, local_path, redirect
from shoal.web.ui.times import as_utc
from shoal.wording import counted

router = APIRouter(include_in_schema=False)
DEAD_LETTERS_PAGE = 50
DEFAULT_RANGE = "1h"


def history_of(request: Request) -> DeliveryHistory:
    """The app's delivery sampler (``mount_ui`` creates it)."""
    history: DeliveryHistory = request.app.state.ui_delivery_history
    return history


def _range(ui: Ui, asked: str) -> str:
    if asked and asked not in RANGES:
        ui.flash(f"error:Unknown range {asked!r}; showing the last hour.")
    return asked if asked in RANGES else DEFAULT_RANGE


async def chart_of(ui: Ui, destination: Destination, range_name: str) -> dict[str, Any]:
    """The chart of one destination over a range, ending now, with its totals."""
    history = history_of(ui.request)
    count, width, _fmt = RANGES[range_name]
    now = history.clock()
    found = await asyncio.to_thread(history.samples, destination.id, now - count * width)
    current = await asyncio.to_thread(history.counters, destination.id)
    delivered, failed, _filtered, retrying = current or (0, 0, 0, 0)
    drawn = buckets(
        found,
        Sample(now, delivered, failed, retrying),
        range_name,
        as_utc(destination.created_at).timestamp(),
    )
    shapes, top = bars(drawn)
    return {
        "bars": shapes,
        "top": top,
        "delivered": sum(b.delivered for b in drawn),
        "failed": sum(b.failed for b in drawn),
        "retrying": retrying,
        "label": (
            f"{sum(b.delivered for b in drawn)} delivered and {sum(b.failed for b in drawn)} "
            f"failed in the last {range_name}; {retrying} waiting to be retried now"
        ),
    }


async def _pending(ui: Ui, destination_id: str) -> int:
    ledger = ui.runtime.destinations.ledger
    total, _rows = await asyncio.to_thread(ledger.dead_letters, destination_id, 1, 0, True)
    return total


def _page_number(asked: str) -> int:
    return int(asked) if asked.isdigit() and 0 < int(asked) < 1_000_000 else 1


@router.get("/deliveries")
async def dashboard(ui: UiDep, range_: Annotated[str, Query(alias="range")] = "") -> Response:
    """Every destination of the environment: counts over time, dead letters, replay."""
    chosen = _range(ui, range_)
    service = ui.runtime.destinations
    rows = []
    for destination in await service.list_destinations(ui.user, ui.env):
        rows.append(
            {
                "destination": described(ui, destination),
                "metrics": await service.metrics(ui.user, destination.id),
                "chart": await chart_of(ui, destination, chosen),
                "pending": await _pending(ui, destination.id),
            }
        )
    return ui.page("deliveries/dashboard.html", rows=rows, range=chosen, ranges=list(RANGES))


@router.get("/destinations/{destination_id}/deliveries")
async def destination_deliveries(
    destination_id: str,
    ui: UiDep,
    range_: Annotated[str, Query(alias="range")] = "",
    page_: Annotated[str, Query(alias="page")] = "1",
) -> Response:
    """One destination's counts over time, its dead letters (newest first) and replays."""
    destination = await find_destination(ui, destination_id)
    if destination is None:
        return missing_page(ui, destination_id)
    chosen = _range(ui, range_)
    page = _page_number(page_)
    service = ui.runtime.destinations
    total, letters = await service.dead_letters(
        ui.user, destination_id, DEAD_LETTERS_PAGE, (page - 1) * DEAD_LETTERS_PAGE
    )
    for letter in letters:
        for key in ("first_attempt_at", "failed_at", "replayed_at"):
            if letter[key] is not None:
                letter[key] = as_utc(letter[key])
    replays = await asyncio.to_thread(service.ledger.replays, destination_id)
    return ui.page(
        "deliveries/destination.html",
        destination=described(ui, destination),
        metrics=await service.metrics(ui.user, destination_id),
        chart=await chart_of(ui, destination, chosen),
        range=chosen,
        ranges=list(RANGES),
        letters=letters,
        total=total,
        pending=await _pending(ui, destination_id),
        page=page,
        pages=max(1, -(-total // DEAD_LETTERS_PAGE)),
        replays=replays[:20],
        tab="deliveries",
    )


@router.post("/destinations/{destination_id}/replay")
async def replay_dead_letters(destination_id: str, ui: UiDep) -> Response:
    """Re-send the ticked dead letters, or every one not yet replayed."""
    form = await ui.form()
    back = local_path(
        str(form.get("back") or ""), default=f"/destinations/{destination_id}/deliveries"
    )
    ids = [v for v in form.getlist("dead_letter_id") if isinstance(v, str) and v] or None
    destination = await find_destination(ui, destination_id)
    if destination is None:
        return missing_page(ui, destination_id)
    try:
        job = await ui.runtime.destinations.replay(
            ui.user, destination_id, {"dead_letter_ids": ids}
        )
    except (NotFound, ValueError) as exc:
        message = str(exc)
        if "no dead letters" in message:
            message = "There are no dead letters to replay: every one was already replayed."
        ui.flash(f"error:{message}")
        return redirect(back)
    count = len(job["params"]["event_ids"])
    events = counted(count, "event")
    if destination.enabled:
        ui.flash(f"Replaying {events} to {destination.name!r}.")
    else:
        ui.flash(
            f"Replay of {events} queued: {destination.name!r} is disabled, so it runs once "
            "you enable it."
        )
    return redirect(back)
