"""Control-plane tables. Changes go through an alembic revision in ``migrations/``."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
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
    Column("published_at", DateTime(timezone=True)),
    Column("publish_verified_at", DateTime(timezone=True)),
    Column("started_by", String(40), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
