"""Alembic environment: online migrations only, one transaction per revision.

transaction_per_migration=True makes each revision its own transaction (Alembic's default is
one transaction for the whole `upgrade`), so a revision that schemagate refuses rolls back
alone and alembic_version stays at the revision before it.
"""
import os
import sys
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, event, pool

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)

url = os.environ.get("DATABASE_URL") or config.get_main_option("sqlalchemy.url")


def run_migrations_online() -> None:
    engine = create_engine(url, poolclass=pool.NullPool)

    @event.listens_for(engine, "handle_error")
    def print_sqlstate(ctx) -> None:
        # psycopg2's message (which SQLAlchemy prints) has the server's DETAIL and HINT but not
        # the SQLSTATE; print it too, so that a refusal by schemagate (SG001…SG005) is plain.
        code = getattr(ctx.original_exception, "pgcode", None)
        if code:
            print(f"SQLSTATE {code}", file=sys.stderr)

    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("this project runs online only (schemagate judges the statements the database receives)")
run_migrations_online()
