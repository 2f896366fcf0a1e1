"""Warehouses through dlt (the ``warehouses`` extra): a batch becomes one dlt load.

Each destination gets its own dlt pipeline (state under ``<data dir>/dlt``) and one thread,
since a pipeline is not safe to share. A batch of the ``events`` action is merged into the
``events`` table and one of ``identifies`` into ``identifies``, both keyed by
``message_id`` (dlt's ``merge`` disposition), so a retry or a replay never duplicates a row.
``properties``, ``traits`` and ``context`` stay JSON columns instead of being unnested into
dlt child tables, so arbitrary event shapes never grow the schema.

Errors: dlt's terminal destination errors (bad credentials, refused SQL) and missing drivers
dead-letter the batch; anything else (network, a transient error) is retried like an HTTP
5xx. A failed load's package is aborted, so the retry loads the batch once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shoal.destinations.base import Capabilities, Context, DestinationFactory, Outcome
from shoal.destinations.safety import AddressPolicy
from shoal.destinations.vendor import parse_time
from shoal.destinations.warehouse import ACTIONS

EXTRA = "pip install 'shoal[warehouses]'"
MAX_BATCH = 5000


def _columns(**types: str) -> dict[str, dict[str, Any]]:
    # Every column typed up front: dlt skips columns that only ever held null otherwise,
    # and JSON columns stay JSON (dlt would unnest objects into child tables).
    return {
        name: {"name": name, "data_type": kind, "nullable": name != "message_id"}
        for name, kind in types.items()
    }


_COMMON = {
    "message_id": "text",
    "user_id": "text",
    "anonymous_id": "text",
    "timestamp": "timestamp",
    "received_at": "timestamp",
    "context": "json",
}
_COLUMNS = {
    "events": _columns(
        **_COMMON, type="text", event="text", name="text", group_id="text", properties="json"
    ),
    "identifies": _columns(**_COMMON, traits="json"),
}


class DltSettings(BaseModel):
    """What every dlt-backed warehouse takes besides its connection."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(
        default="shoal", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Schema/dataset name"
    )
    batch_size: int = Field(default=1000, ge=1, le=MAX_BATCH)


def table_rows(action: str, payloads: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The table one batch goes to and its rows."""
    table = "identifies" if action == "identifies" else "events"
    out = []
    for m in payloads:
        row: dict[str, Any] = {
            "message_id": str(m.get("messageId")),
            "user_id": m.get("userId"),
            "anonymous_id": m.get("anonymousId"),
            "timestamp": parse_time(m.get("timestamp")),
            "received_at": parse_time(m.get("receivedAt")),
            "context": m.get("context"),
        }
        if table == "identifies":
            row["traits"] = m.get("traits") or {}
        else:
            row.update(
                type=m.get("type"),
                event=m.get("event"),
                name=m.get("name"),
                group_id=m.get("groupId"),
                properties=m.get("properties"),
            )
        out.append(row)
    return table, out


def _terminal(exc: BaseException) -> bool:
    """Whether dlt says the destination refused for good (somewhere in the cause chain);
    a missing driver is for good too, until someone installs it."""
    from dlt.common.destination.exceptions import DestinationTerminalException
    from dlt.common.exceptions import MissingDependencyException

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DestinationTerminalException | MissingDependencyException):
            return True
        current = getattr(current, "exception", None) or current.__cause__ or current.__context__
    return False


class DltWarehouse:
    """Loads batches through one dlt pipeline, on one thread."""

    def __init__(self, name: str, destination: Any, dataset: str, pipelines_dir: Path) -> None:
        self.name = name
        self.destination = destination
        self.dataset = dataset
        self.pipelines_dir = pipelines_dir
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"dlt-{name}")
        self._pipeline: Any = None

    def _load(self, action: str, payloads: list[dict[str, Any]]) -> None:
        import dlt

        if self._pipeline is None:
            self._pipeline = dlt.pipeline(
                pipeline_name=self.name,
                destination=self.destination,
                dataset_name=self.dataset,
                pipelines_dir=str(self.pipelines_dir),
            )
        table, rows = table_rows(action, payloads)
        columns: Any = _COLUMNS[table]  # dlt's column-hint TypedDicts, written as plain dicts
        resource = dlt.resource(
            rows,
            name=table,
            write_disposition="merge",
            primary_key="message_id",
            columns=columns,
        )
        self._pipeline.run(resource)

    async def send(self, action: str, payloads: list[dict[str, Any]]) -> Outcome:
        """Load one batch (one dlt load package)."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._thread, self._load, action, payloads)
        except Exception as exc:
            # A failed load leaves a pending package; the retry must not load it twice.
            await loop.run_in_executor(self._thread, self._drop_pending)
            reason = f"dlt: {type(exc).__name__}: {exc}"[:500]
            return Outcome(False, None, retryable=not _terminal(exc), error=reason)
        return Outcome(True, None, body=f"loaded {len(payloads)} rows into {self.dataset}")

    def _drop_pending(self) -> None:
        if self._pipeline is not None:
            self._pipeline.abort_packages()

    async def close(self) -> None:
        """Stop the pipeline's thread."""
        self._thread.shutdown(wait=True)


def require_dlt(kind: str) -> None:
    """Configure-time check that dlt and the drivers of its ``kind`` destination are here."""
    try:
        from dlt.common.destination import Destination
    except ImportError:
        raise ValueError(f"dlt warehouses need the 'warehouses' extra: {EXTRA}") from None
    try:
        target: Any = Destination.from_reference(kind)
        if target.client_class is None:  # reading it imports the destination's drivers
            raise ImportError(f"dlt has no {kind} client")
    except ImportError as exc:
        raise ValueError(
            f"dlt's {kind} destination needs its drivers ({exc}): pip install 'dlt[{kind}]'"
        ) from None


def dlt_factory(
    name: str,
    kind: str,
    title: str,
    description: str,
    settings_model: type[DltSettings],
    destination: Callable[[Any, Context], Any],
    check: Callable[[Any, AddressPolicy], None] | None = None,
) -> DestinationFactory:
    """A destination plugin loading through dlt's ``kind`` destination;
    ``destination(settings, context)`` builds it (``dlt.destinations.<kind>(...)``)."""

    def checked(settings: Any, policy: AddressPolicy) -> None:
        if check is not None:
            check(settings, policy)
        require_dlt(kind)

    async def create(settings: DltSettings, context: Context) -> DltWarehouse:
        # Stable across restarts (a name per configuration), so its state is reused.
        pipeline = f"shoal_{name}_{digest(settings.model_dump(mode='json'))}"
        target = destination(settings, context)
        return DltWarehouse(pipeline, target, settings.dataset, context.data_dir / "dlt")

    return DestinationFactory(
        name=name,
        title=title,
        category="Warehouses",
        description=description,
        capabilities=Capabilities(batching=True, max_batch_size=MAX_BATCH),
        settings_model=settings_model,
        actions=ACTIONS,
        create=create,
        check=checked,
    )


def digest(data: dict[str, Any]) -> str:
    """A short stable name for a configuration (the dlt pipeline's name)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]
