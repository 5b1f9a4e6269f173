#pragma once
// Which migration tool sent a statement, and how that tool runs one migration outside a
// transaction block (for the SG005 hint). Recognition is best effort: see docs/policy.md.
#include <string>
#include <string_view>

namespace schemagate::policy {

/// The migration tools whose "no transaction" switch the SG005 hint can name.
enum class MigrationTool {
  unknown,
  psql,
  rails,
  django,
  alembic,
  flyway,
  liquibase,
  jdbc,  // PgJDBC's default application_name: Flyway or Liquibase with their defaults overridden
  prisma,
  node_pg_migrate,
  knex,
  golang_migrate,
};

/// Recognises the tool from the session's application_name, else from the bookkeeping tables
/// its migrations touch in the same message (schema_migrations, alembic_version, …).
MigrationTool detect_migration_tool(std::string_view application_name, std::string_view message_sql);

/// How to make the current migration non-transactional with that tool (one or two sentences).
std::string non_transactional_hint(MigrationTool tool);

}  // namespace schemagate::policy
