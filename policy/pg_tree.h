#pragma once
// Small read-only helpers over libpg_query's protobuf-c tree, shared by the classifier, the rules
// and the planner. Internal to sg_policy.
#include <pg_query/pg_query.pb-c.h>

#include <string>
#include <string_view>
#include <vector>

#include "policy/facts.h"

namespace schemagate::policy::tree {

/// The string of a String node (or "" for anything else).
inline std::string_view str(const PgQuery__Node* n) {
  if (n && n->node_case == PG_QUERY__NODE__NODE_STRING && n->string && n->string->sval) return n->string->sval;
  return {};
}

/// A C string that may be null or empty.
inline std::string_view cstr(const char* s) { return s ? std::string_view(s) : std::string_view(); }

/// Names from a list of String nodes ("pg_catalog", "int4").
inline std::vector<std::string> names(PgQuery__Node* const* items, std::size_t n) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i)
    if (auto s = str(items[i]); !s.empty()) out.emplace_back(s);
  return out;
}

/// The items of a List node as (pointer, count).
struct Items {
  PgQuery__Node* const* items = nullptr;
  std::size_t n = 0;
};
inline Items list_items(const PgQuery__Node* n) {
  if (n && n->node_case == PG_QUERY__NODE__NODE_LIST && n->list) return {n->list->items, n->list->n_items};
  return {};
}

/// Dotted name of a list of String nodes ("public.orders").
inline std::string dotted(PgQuery__Node* const* items, std::size_t n) {
  std::string out;
  for (const auto& s : names(items, n)) out += (out.empty() ? "" : ".") + s;
  return out;
}

/// The base type name, lower case, without the pg_catalog prefix ("int4", "varchar", "serial").
inline std::string type_base(const PgQuery__TypeName* t) {
  if (!t || t->n_names == 0) return {};
  return std::string(str(t->names[t->n_names - 1]));
}

/// Integer typmods of a type ("varchar(20)" → {20}); non-constant modifiers are skipped.
inline std::vector<int> typmods(const PgQuery__TypeName* t) {
  std::vector<int> out;
  if (!t) return out;
  for (std::size_t i = 0; i < t->n_typmods; ++i) {
    const auto* m = t->typmods[i];
    if (m && m->node_case == PG_QUERY__NODE__NODE_A_CONST && m->a_const &&
        m->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL && m->a_const->ival)
      out.push_back(m->a_const->ival->ival);
  }
  return out;
}

/// A relation's qualified name from a RangeVar.
inline QualifiedName qname(const PgQuery__RangeVar* rv) {
  if (!rv) return {};
  return QualifiedName{std::string(cstr(rv->schemaname)), std::string(cstr(rv->relname))};
}

/// The DefElem names of an options list (e.g. REINDEX (CONCURRENTLY) → {"concurrently"}).
inline bool has_option(PgQuery__Node* const* items, std::size_t n, std::string_view name) {
  for (std::size_t i = 0; i < n; ++i) {
    const auto* it = items[i];
    if (it && it->node_case == PG_QUERY__NODE__NODE_DEF_ELEM && it->def_elem && cstr(it->def_elem->defname) == name) {
      // An explicit "false" argument (VACUUM (FULL false)) turns it off.
      const auto* arg = it->def_elem->arg;
      if (arg && arg->node_case == PG_QUERY__NODE__NODE_BOOLEAN && arg->boolean && !arg->boolean->boolval) return false;
      if (arg && arg->node_case == PG_QUERY__NODE__NODE_STRING) {
        const auto v = str(arg);
        if (v == "false" || v == "off" || v == "0") return false;
      }
      if (arg && arg->node_case == PG_QUERY__NODE__NODE_INTEGER && arg->integer && arg->integer->ival == 0) return false;
      return true;
    }
  }
  return false;
}

}  // namespace schemagate::policy::tree
