"""Guided setup: the prod destinations published from the setup's dev destinations.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A list of {"dev_destination_id", "prod_destination_id"}; NULL reads as none yet.
    op.add_column("setups", sa.Column("prod_destinations", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("setups") as batch:
        batch.drop_column("prod_destinations")
