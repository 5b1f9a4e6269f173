#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "policy/facts.h"

namespace schemagate::proxy {

/// Catalog facts read from the live database through the client's own connection, so names
/// resolve under the client's search_path and privileges. One catalog query covers every table
/// a message references (schema, size, kind, columns with their types and nullability, indexes,
/// constraints and so the primary key; inside a transaction also what it created and locked); a
/// second one follows only when a referenced table is partitioned (its partitions). The engine
/// then reads the answers synchronously. Function volatility is not read: the engine's own
/// knowledge of built-in functions applies, else the risky case.
///
/// The query is kept small because its cost is the server's: parsing and planning it is most of
/// it (see docs/performance.md, "the facts query"), so nothing is asked that can be derived here
/// (the primary key from the constraints, index columns from indkey and the columns' attnums) or
/// that cannot be true (outside a transaction nothing is created or locked by it).
class LiveFacts final : public policy::CatalogFacts {
 public:
  explicit LiveFacts(int server_version_num) : server_version_num_(server_version_num) {}

  /// The catalog query for `tables` (names quoted, never concatenated raw). Its rows, in text
  /// format, are handed back to add_row in order. Never raises an error for odd or missing names.
  /// `in_transaction`: the server may be inside a transaction (a block, or an extended-protocol
  /// batch not yet synced); only then can a table be created or locked by it, and only then are
  /// those two columns asked.
  static std::string catalog_query(const std::vector<policy::QualifiedName>& tables, bool in_transaction);
  /// One row of catalog_query's result: ord, oid, schema, rows, bytes, relkind, columns, indexes,
  /// constraints (the last three as JSON arrays; NULLs as nullopt), then in a transaction
  /// created-by-it and access-exclusive-held.
  void add_row(const std::vector<std::optional<std::string>>& row, const std::vector<policy::QualifiedName>& tables);

  /// The follow-up query for the partitions of the partitioned tables add_row saw, or "" when
  /// there are none. Rows go to add_partitions_row.
  std::string partitions_query() const;
  /// One row of partitions_query's result: the partitioned table's oid and its partitions as a
  /// JSON array.
  void add_partitions_row(const std::vector<std::optional<std::string>>& row);

  /// Nothing could be read (the server is inside an unsynced pipeline, where a query of the
  /// proxy's own would commit or be skipped): every table is unknown, and when the session may
  /// hold an ACCESS EXCLUSIVE lock it is assumed to hold it on every table.
  void assume_exclusive_locks() { assume_exclusive_locks_ = true; }

  /// current_user and the roles it is a member of (directly or not), as one row: role, JSON array.
  static std::string identity_query();
  /// identity_query's row.
  void set_identity(const std::vector<std::optional<std::string>>& row);

  int server_version_num() const override { return server_version_num_; }
  std::optional<Identity> identity() const override { return identity_; }
  std::optional<policy::TableSize> table_size(const policy::QualifiedName& table) const override;
  std::optional<bool> has_primary_key(const policy::QualifiedName& table) const override;
  std::vector<policy::IndexInfo> indexes(const policy::QualifiedName& table) const override;
  std::vector<policy::ConstraintInfo> constraints(const policy::QualifiedName& table) const override;
  std::optional<std::string> column_type(const policy::QualifiedName& table, std::string_view column) const override;
  std::optional<policy::Volatility> function_volatility(std::string_view) const override { return std::nullopt; }
  std::optional<std::string> resolve_schema(std::string_view relation) const override;
  std::optional<bool> is_partitioned(const policy::QualifiedName& table) const override;
  bool describes(const policy::QualifiedName& table) const override;
  std::optional<bool> column_not_null(const policy::QualifiedName& table, std::string_view column) const override;
  std::vector<policy::PartitionInfo> partitions(const policy::QualifiedName& table) const override;
  std::vector<policy::QualifiedName> created_in_transaction() const override;
  bool holds_access_exclusive(const policy::QualifiedName& table) const override;

 private:
  struct Table {
    std::uint32_t oid = 0;
    std::string schema;  // where the name resolved
    policy::TableSize size;
    bool has_pk = false;
    bool partitioned = false;
    std::map<std::string, std::string> columns;  // name → format_type()
    std::map<std::string, bool> not_null;        // name → attnotnull
    std::vector<policy::IndexInfo> indexes;
    std::vector<policy::ConstraintInfo> constraints;
    std::vector<policy::PartitionInfo> partitions;  // every depth, parents first
    bool partitions_read = false;                   // the follow-up query answered for it
    bool created_in_transaction = false;            // by the client's open transaction
    bool access_exclusive_held = false;             // by the client's own backend (pg_locks)
  };
  const Table* find(const policy::QualifiedName& t) const;

  int server_version_num_;
  bool assume_exclusive_locks_ = false;
  std::optional<Identity> identity_;
  std::map<std::pair<std::string, std::string>, Table> tables_;  // key: the name as referenced
};

}  // namespace schemagate::proxy
