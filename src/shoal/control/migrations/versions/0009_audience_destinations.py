"""Audience activation: audiences connected to list-sync destinations, and dead letters.

Each connection keeps a cursor over the audience's membership history (``seq``) and the
window it is syncing, so a restart neither loses nor repeats a change. Batches the vendor
refused for good (or past the retry window) are kept with their profiles for a replay.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audience_destinations",
        sa.Column(
            "audience_id",
            sa.String(40),
            sa.ForeignKey("audiences.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "destination_id",
            sa.String(40),
            sa.ForeignKey("destinations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("list_id", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cursor", sa.BigInteger, nullable=False),
        sa.Column("window_end", sa.BigInteger),
        sa.Column("window_done", sa.Integer, nullable=False),
        sa.Column("added", sa.BigInteger, nullable=False),
        sa.Column("removed", sa.BigInteger, nullable=False),
        sa.Column("last_synced_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.Column("last_error_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "audience_destination_dead_letters",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "audience_id",
            sa.String(40),
            sa.ForeignKey("audiences.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "destination_id",
            sa.String(40),
            sa.ForeignKey("destinations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("operation", sa.String(10), nullable=False),
        sa.Column("profile_ids", sa.JSON, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("response", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("first_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replay_requested_at", sa.DateTime(timezone=True)),
        sa.Column("replayed_at", sa.DateTime(timezone=True)),
    )
    op.create_index(
        "ix_audience_dead_letters_pair",
        "audience_destination_dead_letters",
        ["audience_id", "destination_id", "failed_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_audience_dead_letters_pair", "audience_destination_dead_letters")
    op.drop_table("audience_destination_dead_letters")
    op.drop_table("audience_destinations")
