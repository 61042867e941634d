"""Incidents keep fusion's hyperbola (2-sensor incidents) and best report score.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 11:54:26.021485

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hyperbola", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("score", sa.Float(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("score")
        batch_op.drop_column("hyperbola")
