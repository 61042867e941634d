"""Incidents keep the repeats of one sound folded into them (a burst of shots, each as located
on its own; `ouie.fusion.bursts`).

Rows written before have none (NULL: one sound, as before).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 02:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("burst", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("burst")
