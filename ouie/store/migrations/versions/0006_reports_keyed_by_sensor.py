"""Reports are keyed by (sensor_id, report_id): a sensor can no longer pre-empt another
sensor's report id (the second one used to be refused as a duplicate).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 20:45:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _reports(*primary_key: str) -> sa.Table:
    """The `reports` table as of 0001, keyed by `primary_key` (the batch rebuild's model)."""
    return sa.Table(
        "reports",
        sa.MetaData(),
        sa.Column("report_id", sa.String(length=64), nullable=False),
        sa.Column("sensor_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("class", sa.String(length=32), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("onset_ns", sa.BigInteger(), nullable=False),
        sa.Column("onset_uncertainty_s", sa.Float(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("peak_dbfs", sa.Float(), nullable=False),
        sa.Column("model_name", sa.String(length=128), nullable=False),
        sa.Column("model_sha256", sa.String(length=64), nullable=False),
        sa.Column("received_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint(*primary_key, name="pk_reports"),
        sa.Index("ix_reports_onset_ns", "onset_ns"),
        sa.Index("ix_reports_received_at_ns", "received_at_ns"),
        sa.Index("ix_reports_sensor_id", "sensor_id"),
    )


def _rekey(old_name: str, *primary_key: str) -> None:
    """Key `reports` by `primary_key`: in place on PostgreSQL (whose first key was named
    `reports_pkey` by the server), by a batch rebuild on SQLite (which cannot alter keys)."""
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(old_name, "reports", type_="primary")
        op.create_primary_key("pk_reports", "reports", list(primary_key))
        return
    with op.batch_alter_table("reports", recreate="always", copy_from=_reports(*primary_key)):
        pass


def upgrade() -> None:
    """Upgrade schema."""
    _rekey("reports_pkey", "sensor_id", "report_id")


def downgrade() -> None:
    """Downgrade schema (fails if two sensors stored the same report id)."""
    _rekey("pk_reports", "report_id")
