"""Control-plane tables. Changes go through an alembic revision in ``migrations/``."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

workspaces = Table(
    "workspaces",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("workspace_id", String(40), ForeignKey("workspaces.id"), nullable=False),
    Column("email", String(320), nullable=False),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("workspace_id", "email", name="uq_users_workspace_email"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("user_id", String(40), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
)

sources = Table(
    "sources",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("workspace_id", String(40), ForeignKey("workspaces.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("type", String(20), nullable=False),
    Column("environment", String(10), nullable=False),
    Column("write_key", String(64), nullable=False, unique=True),
    Column("enabled", Boolean, nullable=False),
    Column("rate_limit", Float),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("workspace_id", "environment", "name", name="uq_sources_name"),
)

# -- use cases: guided setup and tracking plans (revision 0002_use_cases) -----------------------

tracking_plans = Table(
    "tracking_plans",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("workspace_id", String(40), ForeignKey("workspaces.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", String(2000), nullable=False),
    Column("goal_id", String(100)),
    Column("use_case_id", String(100)),
    Column("unplanned_events", String(10), nullable=False),
    Column("invalid_properties", String(10), nullable=False),
    Column("events", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("workspace_id", "name", name="uq_tracking_plans_name"),
)

tracking_plan_sources = Table(
    "tracking_plan_sources",
    metadata,
    Column("source_id", String(40), ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "plan_id", String(40), ForeignKey("tracking_plans.id", ondelete="CASCADE"), nullable=False
    ),
    Column("attached_at", DateTime(timezone=True), nullable=False),
)

setups = Table(
    "setups",
    metadata,
    Column("workspace_id", String(40), ForeignKey("workspaces.id"), primary_key=True),
    Column("goal_id", String(100)),
    Column("use_case_id", String(100)),
    Column("environments_acknowledged_at", DateTime(timezone=True)),
    Column("events_reviewed_at", DateTime(timezone=True)),
    Column("plan_id", String(40), ForeignKey("tracking_plans.id", ondelete="SET NULL")),
    Column("dev_source_ids", JSON, nullable=False),
    Column("prod_sources", JSON, nullable=False),
    Column("prod_destinations", JSON),  # revision 0005
    Column("published_at", DateTime(timezone=True)),
    Column("publish_verified_at", DateTime(timezone=True)),
    Column("identifiers_added_at", DateTime(timezone=True)),  # revision 0006
    Column("republished_at", DateTime(timezone=True)),  # revision 0006
    Column("started_by", String(40), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# -- destinations: instances, connections, delivery state (revision 0004) ---------------------

destinations = Table(
    "destinations",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("workspace_id", String(40), ForeignKey("workspaces.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("type", String(100), nullable=False),
    Column("environment", String(10), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("settings", JSON, nullable=False),
    Column("secrets", Text),
    Column("filters", JSON, nullable=False),
    Column("mappings", JSON, nullable=False),
    Column("max_in_flight", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("workspace_id", "environment", "name", name="uq_destinations_name"),
)

destination_sources = Table(
    "destination_sources",
    metadata,
    Column(
        "destination_id",
        String(40),
        ForeignKey("destinations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("source_id", String(40), ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True),
    Column("connected_at", DateTime(timezone=True), nullable=False),
)

destination_state = Table(
    "destination_state",
    metadata,
    Column(
        "destination_id",
        String(40),
        ForeignKey("destinations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("cursor", BigInteger, nullable=False),
    Column("delivered", BigInteger, nullable=False),
    Column("failed", BigInteger, nullable=False),
    Column("filtered", BigInteger, nullable=False),
    Column("last_error", Text),
    Column("last_error_at", DateTime(timezone=True)),
    Column("last_success_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

destination_ledger = Table(
    "destination_ledger",
    metadata,
    Column(
        "destination_id",
        String(40),
        ForeignKey("destinations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("event_id", BigInteger, primary_key=True),
    Column("part", Integer, primary_key=True),
)

destination_dead_letters = Table(
    "destination_dead_letters",
    metadata,
    Column("id", String(40), primary_key=True),
    Column(
        "destination_id",
        String(40),
        ForeignKey("destinations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event_id", BigInteger, nullable=False),
    Column("message_id", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("event_type", String(20), nullable=False),
    Column("event_name", String(200)),
    Column("reason", Text, nullable=False),
    Column("status", Integer),
    Column("response", Text),
    Column("attempts", Integer, nullable=False),
    Column("first_attempt_at", DateTime(timezone=True), nullable=False),
    Column("failed_at", DateTime(timezone=True), nullable=False),
    Column("replayed_at", DateTime(timezone=True)),
    Index("ix_dead_letters_destination", "destination_id", "failed_at"),
)

destination_replays = Table(
    "destination_replays",
    metadata,
    Column("id", String(40), primary_key=True),
    Column(
        "destination_id",
        String(40),
        ForeignKey("destinations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("kind", String(20), nullable=False),
    Column("params", JSON, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    Column("sent", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("created_by", String(40), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
)

# -- identity resolution (revision 0003) -------------------------------------------------------

identity_settings = Table(
    "identity_settings",
    metadata,
    Column("workspace_id", String(40), ForeignKey("workspaces.id"), primary_key=True),
    Column("environment", String(10), primary_key=True),
    Column("settings", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

computed_traits = Table(
    "computed_traits",
    metadata,
    Column("workspace_id", String(40), ForeignKey("workspaces.id"), primary_key=True),
    Column("environment", String(10), primary_key=True),
    Column("key", String(100), primary_key=True),
    Column("definition", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# -- audiences (revision 0007) -------------------------------------------------------------

audiences = Table(
    "audiences",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("workspace_id", String(40), ForeignKey("workspaces.id"), nullable=False),
    Column("environment", String(10), nullable=False),
    Column("key", String(100), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("collection", String(100), nullable=False),
    Column("definition", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    Column("refresh", String(20), nullable=False),
    Column("interval_s", Integer, nullable=False),
    Column("emit_events", Boolean, nullable=False),
    Column("hidden_from", JSON, nullable=False),
    Column("status", String(20), nullable=False),
    Column("error", Text),
    Column("size", BigInteger),
    Column("computed_at", DateTime(timezone=True)),
    Column("created_by", String(40)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("workspace_id", "environment", "key", name="uq_audience_key"),
)

audience_versions = Table(
    "audience_versions",
    metadata,
    Column("audience_id", String(40), ForeignKey("audiences.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("definition", JSON, nullable=False),
    Column("text", Text, nullable=False),
    Column("created_by", String(40)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

object_collections = Table(
    "object_collections",
    metadata,
    Column("workspace_id", String(40), ForeignKey("workspaces.id"), primary_key=True),
    Column("environment", String(10), primary_key=True),
    Column("name", String(100), primary_key=True),
    Column("id_property", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# -- the web app: sessions and the delivery dashboard's history (revision 0008) ---------------

ui_sessions = Table(
    "ui_sessions",
    metadata,
    # The SHA-256 of the cookie's token: a leaked database holds no working session.
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(40), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("workspace_id", String(40), ForeignKey("workspaces.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_ui_sessions_expires", "expires_at"),
    Index("ix_ui_sessions_user", "user_id"),
)

ui_delivery_samples = Table(
    "ui_delivery_samples",
    metadata,
    Column(
        "destination_id",
        String(40),
        ForeignKey("destinations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("at", DateTime(timezone=True), primary_key=True),
    Column("delivered", BigInteger, nullable=False),
    Column("failed", BigInteger, nullable=False),
    Column("filtered", BigInteger, nullable=False),
    Column("retrying", Integer, nullable=False),
)

audience_destinations = Table(
    "audience_destinations",
    metadata,
    # One row per audience connected to a list-sync destination: the vendor-side list it
    # keeps in step, and how far through the audience's membership history it got.
    Column(
        "audience_id",
        String(40),
        ForeignKey("audiences.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "destination_id",
        String(40),
        ForeignKey("destinations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("list_id", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # ``audience_history.seq`` of the last change fully synced (0: nothing yet).
    Column("cursor", BigInteger, nullable=False),
    # The window being synced, ``(cursor, window_end]``, and how many of its operations were
    # accepted: a restart resumes there instead of sending them again.
    Column("window_end", BigInteger),
    Column("window_done", Integer, nullable=False),
    Column("added", BigInteger, nullable=False),
    Column("removed", BigInteger, nullable=False),
    Column("last_synced_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("last_error_at", DateTime(timezone=True)),
)

audience_destination_dead_letters = Table(
    "audience_destination_dead_letters",
    metadata,
    Column("id", String(40), primary_key=True),
    Column(
        "audience_id", String(40), ForeignKey("audiences.id", ondelete="CASCADE"), nullable=False
    ),
    Column(
        "destination_id",
        String(40),
        ForeignKey("destinations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("operation", String(10), nullable=False),
    Column("profile_ids", JSON, nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", Integer),
    Column("response", Text),
    Column("attempts", Integer, nullable=False),
    Column("first_attempt_at", DateTime(timezone=True), nullable=False),
    Column("failed_at", DateTime(timezone=True), nullable=False),
    Column("replay_requested_at", DateTime(timezone=True)),
    Column("replayed_at", DateTime(timezone=True)),
    Index("ix_audience_dead_letters_pair", "audience_id", "destination_id", "failed_at"),
)
