"""Identity resolution: identity settings and computed-trait definitions per space.

Revision ID: 0003
Revises: 0002_use_cases
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002_use_cases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_settings",
        sa.Column("workspace_id", sa.String(40), sa.ForeignKey("workspaces.id"), primary_key=True),
        sa.Column("environment", sa.String(10), primary_key=True),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "computed_traits",
        sa.Column("workspace_id", sa.String(40), sa.ForeignKey("workspaces.id"), primary_key=True),
        sa.Column("environment", sa.String(10), primary_key=True),
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("computed_traits")
    op.drop_table("identity_settings")
