"""Field outcomes of incidents, supervisors' class profiles, and outcome counts that survive
retention.

`incident_outcomes`: what happened in the field (dispatched, evidence found / nothing / unknown),
one row per incident. `class_profiles`: the scheduled class profiles (JSON). The
`daily_aggregates.alert_figures` column keeps the alerts' figures (located, decided, field
outcomes) after a purge (NULL on rows aggregated before: not recorded).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 23:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "incident_outcomes",
        sa.Column("incident_id", sa.String(length=64), nullable=False),
        sa.Column("dispatched", sa.Boolean(), nullable=True),
        sa.Column("evidence", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at_ns", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("incident_id"),
    )
    op.create_table(
        "class_profiles",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("updated_at_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("daily_aggregates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alert_figures", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("daily_aggregates", schema=None) as batch_op:
        batch_op.drop_column("alert_figures")
    op.drop_table("class_profiles")
    op.drop_table("incident_outcomes")
