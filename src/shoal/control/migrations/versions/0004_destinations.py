"""Destinations: instances, their sources, delivery cursors, ledger, dead letters, replays.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _destination_fk(primary_key: bool = False) -> "sa.Column[str]":
    return sa.Column(
        "destination_id",
        sa.String(40),
        sa.ForeignKey("destinations.id", ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "destinations",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("workspace_id", sa.String(40), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("environment", sa.String(10), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("secrets", sa.Text),
        sa.Column("filters", sa.JSON, nullable=False),
        sa.Column("mappings", sa.JSON, nullable=False),
        sa.Column("max_in_flight", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("workspace_id", "environment", "name", name="uq_destinations_name"),
    )
    op.create_table(
        "destination_sources",
        _destination_fk(primary_key=True),
        sa.Column(
            "source_id",
            sa.String(40),
            sa.ForeignKey("sources.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "destination_state",
        _destination_fk(primary_key=True),
        sa.Column("cursor", sa.BigInteger, nullable=False),
        sa.Column("delivered", sa.BigInteger, nullable=False),
        sa.Column("failed", sa.BigInteger, nullable=False),
        sa.Column("filtered", sa.BigInteger, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("last_error_at", sa.DateTime(timezone=True)),
        sa.Column("last_success_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "destination_ledger",
        _destination_fk(primary_key=True),
        sa.Column("event_id", sa.BigInteger, primary_key=True),
        sa.Column("part", sa.Integer, primary_key=True),
    )
    op.create_table(
        "destination_dead_letters",
        sa.Column("id", sa.String(40), primary_key=True),
        _destination_fk(),
        sa.Column("event_id", sa.BigInteger, nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("event_type", sa.String(20), nullable=False),
        sa.Column("event_name", sa.String(200)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("response", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("first_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replayed_at", sa.DateTime(timezone=True)),
    )
    op.create_index(
        "ix_dead_letters_destination",
        "destination_dead_letters",
        ["destination_id", "failed_at"],
    )
    op.create_table(
        "destination_replays",
        sa.Column("id", sa.String(40), primary_key=True),
        _destination_fk(),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("sent", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("destination_replays")
    op.drop_index("ix_dead_letters_destination", "destination_dead_letters")
    op.drop_table("destination_dead_letters")
    op.drop_table("destination_ledger")
    op.drop_table("destination_state")
    op.drop_table("destination_sources")
    op.drop_table("destinations")
