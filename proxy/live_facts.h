#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "policy/facts.h"

namespace schemagate::proxy {

/// Catalog facts read from the live database through the client's own connection, so names
/// resolve under the client's search_path and privileges. One catalog query covers every table
/// a message references (size, primary key, partitioning and partitions, schema, columns with
/// their types and nullability, indexes, constraints); the engine then reads the answers
/// synchronously. Function volatility is not read: the engine's own knowledge of built-in
/// functions applies, else the risky case.
class LiveFacts final : public policy::CatalogFacts {
 public:
  explicit LiveFacts(int server_version_num) : server_version_num_(server_version_num) {}

  /// The catalog query for `tables` (names quoted, never concatenated raw). Its rows, in text
  /// format, are handed back to add_row in order. Never raises an error for odd or missing names.
  static std::string catalog_query(const std::vector<policy::QualifiedName>& tables);
  /// One row of catalog_query's result: ord, schema, rows, bytes, relkind, has_pk, columns,
  /// indexes, constraints, partitions (the last four as JSON arrays; NULLs as nullopt).
  void add_row(const std::vector<std::optional<std::string>>& row, const std::vector<policy::QualifiedName>& tables);

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
    std::string schema;  // where the name resolved
    policy::TableSize size;
    bool has_pk = false;
    bool partitioned = false;
    std::map<std::string, std::string> columns;  // name → format_type()
    std::map<std::string, bool> not_null;        // name → attnotnull
    std::vector<policy::IndexInfo> indexes;
    std::vector<policy::ConstraintInfo> constraints;
    std::vector<policy::PartitionInfo> partitions;  // every depth, parents first
    bool created_in_transaction = false;            // by the client's open transaction
    bool access_exclusive_held = false;             // by the client's own backend (pg_locks)
  };
  const Table* find(const policy::QualifiedName& t) const;

  int server_version_num_;
  std::optional<Identity> identity_;
  std::map<std::pair<std::string, std::string>, Table> tables_;  // key: the name as referenced
};

}  // namespace schemagate::proxy
