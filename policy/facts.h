#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace schemagate::policy {

/// A schema-qualified relation name as the engine saw it (schema may be empty: unresolved).
struct QualifiedName {
  std::string schema;
  std::string name;
  /// schema.name (unquoted, for messages), or name when the schema is unknown.
  std::string display() const { return schema.empty() ? name : schema + "." + name; }
};

/// Planner statistics of a table (pg_class.reltuples / pg_total_relation_size).
struct TableSize {
  std::int64_t rows = 0;
  std::int64_t bytes = 0;
};

/// An existing index, as far as the rules care.
struct IndexInfo {
  std::string name;
  std::vector<std::string> columns;  // key columns in order; expression columns as ""
  bool unique = false;
  bool valid = true;
  bool partial = false;  // has a WHERE predicate
};

/// A partition below a partitioned table (any depth), as far as the plans care.
struct PartitionInfo {
  QualifiedName table;        // the partition
  QualifiedName parent;       // the table it is a partition of
  bool partitioned = false;   // itself partitioned (relkind p)
  bool foreign = false;       // a foreign table (cannot carry an index)
  bool is_default = false;    // the parent's DEFAULT partition
};

/// An existing table constraint.
struct ConstraintInfo {
  std::string name;
  char type = 'c';          // pg_constraint.contype: c, f, p, u, x
  std::string definition;   // pg_get_constraintdef()
  bool validated = true;    // convalidated
};

/// pg_proc.provolatile.
enum class Volatility { immutable, stable, volatile_ };

/// Facts about the live database that some rules need. Every method answers synchronously from
/// data the implementation already holds: PolicyEngine::evaluate never waits for I/O. The proxy's
/// live implementation prefetches for the tables PolicyEngine::referenced_tables() names, through
/// the client's own connection, and may cache answers briefly (seconds) per database; the
/// offline one answers from command-line flags. "Unknown" (nullopt / empty) is always allowed, and
/// the rules then assume the risky case.
class CatalogFacts {
 public:
  virtual ~CatalogFacts() = default;
  /// server_version_num, e.g. 150004; 0 when unknown.
  virtual int server_version_num() const = 0;
  /// Estimated size of a table, nullopt when unknown.
  virtual std::optional<TableSize> table_size(const QualifiedName& table) const = 0;
  /// Whether the table has a primary key, nullopt when unknown.
  virtual std::optional<bool> has_primary_key(const QualifiedName& table) const = 0;
  /// Existing indexes on the table (empty when unknown or none).
  virtual std::vector<IndexInfo> indexes(const QualifiedName& table) const = 0;
  /// Existing constraints on the table (empty when unknown or none).
  virtual std::vector<ConstraintInfo> constraints(const QualifiedName& table) const = 0;
  /// Current type of a column, as format_type() prints it ("character varying(20)"); nullopt when unknown.
  virtual std::optional<std::string> column_type(const QualifiedName& table, std::string_view column) const = 0;
  /// Volatility of a function by (possibly qualified) name, nullopt when unknown.
  virtual std::optional<Volatility> function_volatility(std::string_view function) const = 0;
  /// The schema an unqualified relation name resolves to under the session's search_path.
  virtual std::optional<std::string> resolve_schema(std::string_view relation) const = 0;
  /// Whether the table is partitioned (CREATE INDEX CONCURRENTLY cannot run on the parent); nullopt when unknown.
  virtual std::optional<bool> is_partitioned(const QualifiedName&) const { return std::nullopt; }
  /// Whether the facts describe this table completely, so that empty indexes()/constraints()
  /// mean "none" rather than "unknown".
  virtual bool describes(const QualifiedName&) const { return false; }
  /// Whether the column is NOT NULL (pg_attribute.attnotnull); nullopt when unknown.
  virtual std::optional<bool> column_not_null(const QualifiedName&, std::string_view) const { return std::nullopt; }
  /// Every partition below a partitioned table, parents before their children (empty when
  /// unknown or none).
  virtual std::vector<PartitionInfo> partitions(const QualifiedName&) const { return {}; }
  /// True when every table must be treated as large, even one created earlier in the same batch.
  virtual bool assume_large_tables() const { return false; }
  /// Tables (schema resolved) the session's open transaction created: invisible to every other
  /// session until it commits, so no lock on them blocks anyone. Empty when unknown.
  virtual std::vector<QualifiedName> created_in_transaction() const { return {}; }
  /// Whether the session's open transaction holds ACCESS EXCLUSIVE on the table already (taken
  /// by an earlier message: pg_locks of its own backend). False when unknown.
  virtual bool holds_access_exclusive(const QualifiedName&) const { return false; }
  /// The role statements run as right now (current_user, after any SET ROLE or SET SESSION
  /// AUTHORIZATION), and the roles it is a member of; nullopt when not read.
  struct Identity {
    std::string current_role;
    std::vector<std::string> member_of;
  };
  virtual std::optional<Identity> identity() const { return std::nullopt; }
};

/// Offline facts for `schemagate check`/`explain`: from flags, no database.
class OfflineFacts final : public CatalogFacts {
 public:
  struct Options {
    int server_version_num = 150000;         // --pg-version 15 → 150000
    bool assume_large_tables = false;        // --assume-large-tables: every table is large
    std::optional<std::int64_t> table_rows;  // --table-rows N: every table has N rows
  };
  OfflineFacts() = default;
  explicit OfflineFacts(Options o) : options_(o) {}
  int server_version_num() const override { return options_.server_version_num; }
  std::optional<TableSize> table_size(const QualifiedName&) const override;
  std::optional<bool> has_primary_key(const QualifiedName&) const override { return std::nullopt; }
  std::vector<IndexInfo> indexes(const QualifiedName&) const override { return {}; }
  std::vector<ConstraintInfo> constraints(const QualifiedName&) const override { return {}; }
  std::optional<std::string> column_type(const QualifiedName&, std::string_view) const override { return std::nullopt; }
  std::optional<Volatility> function_volatility(std::string_view) const override { return std::nullopt; }
  std::optional<std::string> resolve_schema(std::string_view) const override { return std::nullopt; }
  bool assume_large_tables() const override { return options_.assume_large_tables; }
  const Options& options() const { return options_; }

 private:
  Options options_;
};

/// Parses "--pg-version" values: "15", "12.4", "110005" → server_version_num; 0 if malformed.
int parse_pg_version(std::string_view text);

}  // namespace schemagate::policy
