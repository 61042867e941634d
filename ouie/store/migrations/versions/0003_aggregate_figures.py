"""Daily aggregates keep what the observatory reports after retention: incidents with a
position, dismissal reasons and the delays to the first decision.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 14:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema (nullable columns: rows aggregated before keep None = not recorded)."""
    with op.batch_alter_table("daily_aggregates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("located", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("dismiss_reasons", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("decision_delays_s", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("daily_aggregates", schema=None) as batch_op:
        batch_op.drop_column("decision_delays_s")
        batch_op.drop_column("dismiss_reasons")
        batch_op.drop_column("located")
