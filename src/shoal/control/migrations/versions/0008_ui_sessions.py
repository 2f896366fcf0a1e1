"""The web app's own state: sessions that survive a restart, delivery-dashboard samples.

Sessions keep only the SHA-256 of the cookie's token. Delivery samples are snapshots of
each destination's lifetime counters, taken by the web app once a minute, from which the
delivery dashboard draws counts over time.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ui_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "user_id",
            sa.String(40),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("workspace_id", sa.String(40), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ui_sessions_expires", "ui_sessions", ["expires_at"])
    op.create_index("ix_ui_sessions_user", "ui_sessions", ["user_id"])
    op.create_table(
        "ui_delivery_samples",
        sa.Column(
            "destination_id",
            sa.String(40),
            sa.ForeignKey("destinations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("delivered", sa.BigInteger, nullable=False),
        sa.Column("failed", sa.BigInteger, nullable=False),
        sa.Column("filtered", sa.BigInteger, nullable=False),
        sa.Column("retrying", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ui_delivery_samples")
    op.drop_index("ix_ui_sessions_user", "ui_sessions")
    op.drop_index("ix_ui_sessions_expires", "ui_sessions")
    op.drop_table("ui_sessions")
