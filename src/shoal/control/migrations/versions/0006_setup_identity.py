"""Guided setup: when default identifiers were added (Unify) and rules republished to prod.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("setups", sa.Column("identifiers_added_at", sa.DateTime(timezone=True)))
    op.add_column("setups", sa.Column("republished_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("setups") as batch:
        batch.drop_column("republished_at")
        batch.drop_column("identifiers_added_at")
