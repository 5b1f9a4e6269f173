#pragma once
// The full parser's view of "ordinary": used by the differential test and the libFuzzer target to
// check that might_change_schema() never calls schema-changing text ordinary.
#include <pg_query/pg_query.pb-c.h>

#include <algorithm>
#include <string_view>

#include "policy/client_text.h"
#include "policy/sql_parser.h"

namespace schemagate::policy::testing_oracle {

/// Statement kinds the pre-classifier is allowed to wave through.
inline bool ordinary_node(const PgQuery__Node* n) {
  if (!n) return true;
  switch (n->node_case) {
    case PG_QUERY__NODE__NODE_SELECT_STMT: return n->select_stmt->into_clause == nullptr;
    case PG_QUERY__NODE__NODE_INSERT_STMT:
    case PG_QUERY__NODE__NODE_UPDATE_STMT:
    case PG_QUERY__NODE__NODE_DELETE_STMT:
    case PG_QUERY__NODE__NODE_MERGE_STMT:
    case PG_QUERY__NODE__NODE_TRANSACTION_STMT:
    case PG_QUERY__NODE__NODE_VARIABLE_SHOW_STMT: return true;
    default: return false;
  }
}

/// True when PostgreSQL's grammar sees nothing but ordinary statements in `sql`. When the whole
/// text does not parse, every piece the scanner splits off that parses on its own must be
/// ordinary (a newer server might accept what PostgreSQL 15 rejects).
inline bool parser_says_ordinary(std::string_view sql) {
  SyntaxError err;
  if (auto batch = ParsedBatch::parse(sql, &err)) {
    const auto* t = batch->tree();
    for (std::size_t i = 0; i < t->n_stmts; ++i)
      if (!ordinary_node(t->stmts[i]->stmt)) return false;
    return true;
  }
  const SplitResult split = split_statements(sql);
  for (const auto& sp : split.spans) {
    if (auto piece = ParsedBatch::parse(sql.substr(sp.offset, sp.length), &err)) {
      const auto* t = piece->tree();
      for (std::size_t i = 0; i < t->n_stmts; ++i)
        if (!ordinary_node(t->stmts[i]->stmt)) return false;
    }
  }
  return true;
}

/// parser_says_ordinary under every reading a server could apply: standard_conforming_strings on
/// and off, and (for text with bytes above 0x7f, the only text they change) every client-only
/// encoding. Bytes a server would refuse in an encoding run nothing there, so they count as ordinary.
inline bool ordinary_under_every_setting(std::string_view sql) {
  std::vector<ClientEncoding> encodings{ClientEncoding::ascii_safe};
  if (std::any_of(sql.begin(), sql.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; }))
    for (auto e : client_only_encodings()) encodings.push_back(e);
  for (bool scs : {true, false}) {
    const StringSyntaxScope syntax(scs);
    for (auto e : encodings) {
      const ServerText text = to_server_text(sql, e);
      if (!text.error && !parser_says_ordinary(text.text)) return false;
    }
  }
  return true;
}

}  // namespace schemagate::policy::testing_oracle
