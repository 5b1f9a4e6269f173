"""Create customers and orders with enough rows that schemagate treats them as large.

The policy in the test says small_table_rows: 1000; ANALYZE gives the planner (and the
proxy's catalog query) the row counts.

Revision ID: 0001
Revises:
"""
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("name", sa.Text, nullable=False),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("customer_id", sa.BigInteger),
        sa.Column("note", sa.Text),
        sa.Column("amount", sa.Integer),
    )
    op.execute("INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 2000) g")
    op.execute("INSERT INTO orders SELECT g, 1 + g % 2000, 'order ' || g, g % 100 FROM generate_series(1, 20000) g")
    op.execute("ANALYZE customers, orders")


def downgrade() -> None:
    op.drop_table("orders")
    op.drop_table("customers")
