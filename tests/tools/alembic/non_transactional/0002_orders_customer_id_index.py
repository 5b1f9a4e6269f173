"""Index orders.customer_id, outside Alembic's transaction (the fix SG005's hint names).

autocommit_block() commits the revision's transaction so far, runs its body on the connection
in autocommit mode, and opens a new transaction for the rest (and for alembic_version).
Through schemagate the CREATE INDEX becomes CREATE INDEX CONCURRENTLY.

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index("orders_customer_id_idx", "orders", ["customer_id"])


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("orders_customer_id_idx", table_name="orders")
