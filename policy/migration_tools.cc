#include "policy/migration_tools.h"

#include <cctype>

namespace schemagate::policy {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool has(const std::string& haystack, std::string_view needle) { return haystack.find(needle) != std::string::npos; }

}  // namespace

MigrationTool detect_migration_tool(std::string_view application_name, std::string_view message_sql) {
  // application_name first: the tools that set one by default (psql, Flyway, PgJDBC), or the
  // name a team configured (PGAPPNAME, ?application_name=…).
  const std::string app = lower(application_name);
  if (app == "psql") return MigrationTool::psql;
  if (has(app, "flyway")) return MigrationTool::flyway;
  if (has(app, "liquibase")) return MigrationTool::liquibase;
  if (has(app, "prisma")) return MigrationTool::prisma;
  if (has(app, "node-pg-migrate")) return MigrationTool::node_pg_migrate;
  if (has(app, "knex")) return MigrationTool::knex;
  if (has(app, "golang-migrate") || app == "migrate") return MigrationTool::golang_migrate;
  if (has(app, "alembic")) return MigrationTool::alembic;
  if (has(app, "django")) return MigrationTool::django;
  if (has(app, "rails") || has(app, "activerecord")) return MigrationTool::rails;
  if (app == "postgresql jdbc driver") return MigrationTool::jdbc;
  // Statement shape: the bookkeeping table a tool writes in the same transaction, when it is
  // part of this message.
  const std::string sql = lower(message_sql);
  if (has(sql, "flyway_schema_history")) return MigrationTool::flyway;
  if (has(sql, "databasechangelog")) return MigrationTool::liquibase;
  if (has(sql, "_prisma_migrations")) return MigrationTool::prisma;
  if (has(sql, "alembic_version")) return MigrationTool::alembic;
  if (has(sql, "django_migrations")) return MigrationTool::django;
  if (has(sql, "knex_migrations")) return MigrationTool::knex;
  if (has(sql, "pgmigrations")) return MigrationTool::node_pg_migrate;
  if (has(sql, "ar_internal_metadata")) return MigrationTool::rails;
  if (has(sql, "schema_migrations")) return has(sql, "dirty") ? MigrationTool::golang_migrate : MigrationTool::rails;
  return MigrationTool::unknown;
}

std::string non_transactional_hint(MigrationTool tool) {
  switch (tool) {
    case MigrationTool::psql:
      return "psql: run it outside BEGIN … COMMIT, without --single-transaction, with AUTOCOMMIT on (the default).";
    case MigrationTool::rails:
      return "Rails: add `disable_ddl_transaction!` to this migration class (and use `algorithm: :concurrently`).";
    case MigrationTool::django:
      return "Django: set `atomic = False` on this Migration class.";
    case MigrationTool::alembic:
      return "Alembic: run the operation inside `with op.get_context().autocommit_block():`.";
    case MigrationTool::flyway:
      return "Flyway: give this script a config file `<script>.sql.conf` containing `executeInTransaction=false`.";
    case MigrationTool::liquibase:
      return "Liquibase: set `runInTransaction=\"false\"` on this changeSet (`--changeset author:id runInTransaction:false` "
             "in formatted SQL).";
    case MigrationTool::jdbc:
      return "Flyway: a `<script>.sql.conf` with `executeInTransaction=false`; Liquibase: `runInTransaction=\"false\"` on "
             "the changeSet.";
    case MigrationTool::prisma:
      return "Prisma Migrate runs each migration in a transaction: run this statement with `prisma db execute --file …`, "
             "then `prisma migrate resolve --applied <migration>`.";
    case MigrationTool::node_pg_migrate: return "node-pg-migrate: call `pgm.noTransaction()` in this migration.";
    case MigrationTool::knex: return "knex: export `config = { transaction: false }` from this migration file.";
    case MigrationTool::golang_migrate:
      return "golang-migrate sends a migration file as one multi-statement message, which PostgreSQL runs as one "
             "transaction: put this statement in a migration file of its own (or use `x-multi-statement=true`).";
    case MigrationTool::unknown: break;
  }
  return "Most migration tools can skip their transaction for one migration: Rails `disable_ddl_transaction!`, Django "
         "`atomic = False`, Alembic `autocommit_block()`, Flyway `executeInTransaction=false`, Liquibase "
         "`runInTransaction=\"false\"`, knex `config = { transaction: false }`, node-pg-migrate `pgm.noTransaction()`; "
         "golang-migrate: one statement per file.";
}

}  // namespace schemagate::policy
