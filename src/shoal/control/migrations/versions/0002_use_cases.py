"""Use cases: tracking plans, the sources they check, and the guided setup of a workspace.

Revision ID: 0002_use_cases
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_use_cases"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracking_plans",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("workspace_id", sa.String(40), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.String(2000), nullable=False),
        sa.Column("goal_id", sa.String(100)),
        sa.Column("use_case_id", sa.String(100)),
        sa.Column("unplanned_events", sa.String(10), nullable=False),
        sa.Column("invalid_properties", sa.String(10), nullable=False),
        sa.Column("events", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("workspace_id", "name", name="uq_tracking_plans_name"),
    )
    op.create_table(
        "tracking_plan_sources",
        sa.Column(
            "source_id",
            sa.String(40),
            sa.ForeignKey("sources.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "plan_id",
            sa.String(40),
            sa.ForeignKey("tracking_plans.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("attached_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "setups",
        sa.Column("workspace_id", sa.String(40), sa.ForeignKey("workspaces.id"), primary_key=True),
        sa.Column("goal_id", sa.String(100)),
        sa.Column("use_case_id", sa.String(100)),
        sa.Column("environments_acknowledged_at", sa.DateTime(timezone=True)),
        sa.Column("events_reviewed_at", sa.DateTime(timezone=True)),
        sa.Column(
            "plan_id",
            sa.String(40),
            sa.ForeignKey("tracking_plans.id", ondelete="SET NULL"),
        ),
        sa.Column("dev_source_ids", sa.JSON, nullable=False),
        sa.Column("prod_sources", sa.JSON, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("publish_verified_at", sa.DateTime(timezone=True)),
        sa.Column("started_by", sa.String(40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("setups", "tracking_plan_sources", "tracking_plans"):
        op.drop_table(table)
