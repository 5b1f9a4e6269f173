#include "policy/names.h"

#include <pg_query/pg_query.pb-c.h>

#include <algorithm>

#include "policy/pg_tree.h"

namespace schemagate::policy {

using tree::cstr;

std::string clip_utf8(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  std::size_t n = max;
  // Back up over continuation bytes (10xxxxxx) so no character is cut in half.
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n));
}

std::string make_object_name(std::string_view name1, std::string_view name2, std::string_view label) {
  std::size_t overhead = 0;
  std::size_t n1 = name1.size();
  std::size_t n2 = 0;
  const bool has2 = !name2.empty();
  if (has2) {
    n2 = name2.size();
    ++overhead;
  }
  if (!label.empty()) overhead += label.size() + 1;
  const std::size_t avail = overhead < kMaxIdentifierBytes ? kMaxIdentifierBytes - overhead : 1;
  // Same loop as PostgreSQL: shorten the longer part one byte at a time.
  while (n1 + n2 > avail) {
    if (n1 > n2)
      --n1;
    else
      --n2;
  }
  std::string out = clip_utf8(name1, n1);
  if (has2) out += "_" + clip_utf8(name2, n2);
  if (!label.empty()) out += "_" + std::string(label);
  return out;
}

std::string name_addition(const std::vector<std::string>& names) {
  std::string buf;
  for (const auto& n : names) {
    if (!buf.empty()) buf += '_';
    buf += clip_utf8(n, kMaxIdentifierBytes);
    if (buf.size() >= kMaxIdentifierBytes + 1) break;
  }
  return buf;
}

namespace {

// FigureColnameInternal: returns the strength (0 none, 1 weak, 2 strong) and sets `name`.
int figure(const PgQuery__Node* n, std::string& name) {
  if (!n) return 0;
  switch (n->node_case) {
    case PG_QUERY__NODE__NODE_COLUMN_REF: {
      std::string last;
      for (std::size_t i = 0; i < n->column_ref->n_fields; ++i)
        if (auto s = tree::str(n->column_ref->fields[i]); !s.empty()) last = std::string(s);
      if (last.empty()) return 0;
      name = last;
      return 2;
    }
    case PG_QUERY__NODE__NODE_A_INDIRECTION: {
      std::string last;
      for (std::size_t i = 0; i < n->a_indirection->n_indirection; ++i)
        if (auto s = tree::str(n->a_indirection->indirection[i]); !s.empty()) last = std::string(s);
      if (!last.empty()) {
        name = last;
        return 2;
      }
      return figure(n->a_indirection->arg, name);
    }
    case PG_QUERY__NODE__NODE_FUNC_CALL:
      if (n->func_call->n_funcname == 0) return 0;
      name = std::string(tree::str(n->func_call->funcname[n->func_call->n_funcname - 1]));
      return 2;
    case PG_QUERY__NODE__NODE_A_EXPR:
      if (n->a_expr->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NULLIF) {
        name = "nullif";
        return 2;
      }
      return 0;
    case PG_QUERY__NODE__NODE_TYPE_CAST: {
      const int strength = figure(n->type_cast->arg, name);
      if (strength <= 1 && n->type_cast->type_name && n->type_cast->type_name->n_names > 0) {
        const auto* t = n->type_cast->type_name;
        name = std::string(tree::str(t->names[t->n_names - 1]));
        return 1;
      }
      return strength;
    }
    case PG_QUERY__NODE__NODE_COLLATE_CLAUSE: return figure(n->collate_clause->arg, name);
    case PG_QUERY__NODE__NODE_GROUPING_FUNC: name = "grouping"; return 2;
    case PG_QUERY__NODE__NODE_SUB_LINK:
      if (n->sub_link->sub_link_type == PG_QUERY__SUB_LINK_TYPE__EXISTS_SUBLINK) {
        name = "exists";
        return 2;
      }
      if (n->sub_link->sub_link_type == PG_QUERY__SUB_LINK_TYPE__ARRAY_SUBLINK) {
        name = "array";
        return 2;
      }
      return 0;  // index expressions cannot contain subqueries anyway
    case PG_QUERY__NODE__NODE_CASE_EXPR: {
      const int strength = figure(n->case_expr->defresult, name);
      if (strength <= 1) {
        name = "case";
        return 1;
      }
      return strength;
    }
    case PG_QUERY__NODE__NODE_A_ARRAY_EXPR: name = "array"; return 2;
    case PG_QUERY__NODE__NODE_ROW_EXPR: name = "row"; return 2;
    case PG_QUERY__NODE__NODE_COALESCE_EXPR: name = "coalesce"; return 2;
    case PG_QUERY__NODE__NODE_MIN_MAX_EXPR:
      name = n->min_max_expr->op == PG_QUERY__MIN_MAX_OP__IS_GREATEST ? "greatest" : "least";
      return 2;
    case PG_QUERY__NODE__NODE_SQLVALUE_FUNCTION:
      switch (n->sqlvalue_function->op) {
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_DATE: name = "current_date"; return 2;
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIME:
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIME_N: name = "current_time"; return 2;
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP:
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP_N: name = "current_timestamp"; return 2;
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIME:
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIME_N: name = "localtime"; return 2;
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP:
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP_N: name = "localtimestamp"; return 2;
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_ROLE: name = "current_role"; return 2;
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_USER: name = "current_user"; return 2;
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_USER: name = "user"; return 2;
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_SESSION_USER: name = "session_user"; return 2;
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_CATALOG: name = "current_catalog"; return 2;
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_SCHEMA: name = "current_schema"; return 2;
        default: return 0;
      }
    case PG_QUERY__NODE__NODE_XML_EXPR:
      switch (n->xml_expr->op) {
        case PG_QUERY__XML_EXPR_OP__IS_XMLCONCAT: name = "xmlconcat"; return 2;
        case PG_QUERY__XML_EXPR_OP__IS_XMLELEMENT: name = "xmlelement"; return 2;
        case PG_QUERY__XML_EXPR_OP__IS_XMLFOREST: name = "xmlforest"; return 2;
        case PG_QUERY__XML_EXPR_OP__IS_XMLPARSE: name = "xmlparse"; return 2;
        case PG_QUERY__XML_EXPR_OP__IS_XMLPI: name = "xmlpi"; return 2;
        case PG_QUERY__XML_EXPR_OP__IS_XMLROOT: name = "xmlroot"; return 2;
        case PG_QUERY__XML_EXPR_OP__IS_XMLSERIALIZE: name = "xmlserialize"; return 2;
        default: return 0;
      }
    case PG_QUERY__NODE__NODE_XML_SERIALIZE: name = "xmlserialize"; return 2;
    default: return 0;
  }
}

// Visits every message reachable from `m` (protobuf-c reflection), calling `f` on each Node.
template <typename F>
void walk(const ProtobufCMessage* m, F& f) {
  if (!m) return;
  const ProtobufCMessageDescriptor* d = m->descriptor;
  if (d == &pg_query__node__descriptor) f(reinterpret_cast<const PgQuery__Node*>(m));
  const auto* base = reinterpret_cast<const char*>(m);
  for (unsigned i = 0; i < d->n_fields; ++i) {
    const ProtobufCFieldDescriptor& fd = d->fields[i];
    if (fd.type != PROTOBUF_C_TYPE_MESSAGE) continue;
    if (fd.flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      // Only the member the case field names is set.
      if (*reinterpret_cast<const uint32_t*>(base + fd.quantifier_offset) != fd.id) continue;
    }
    if (fd.label == PROTOBUF_C_LABEL_REPEATED) {
      const std::size_t count = *reinterpret_cast<const std::size_t*>(base + fd.quantifier_offset);
      const auto* items = *reinterpret_cast<ProtobufCMessage* const* const*>(base + fd.offset);
      for (std::size_t k = 0; k < count; ++k) walk(items[k], f);
    } else {
      walk(*reinterpret_cast<const ProtobufCMessage* const*>(base + fd.offset), f);
    }
  }
}

}  // namespace

std::string figure_colname(const PgQuery__Node* expr) {
  std::string name;
  figure(expr, name);
  return name;
}

std::vector<std::string> index_column_names(const PgQuery__IndexStmt* stmt) {
  std::vector<std::string> out;
  auto add = [&](const PgQuery__Node* p) {
    std::string orig = "expr";
    if (p && p->node_case == PG_QUERY__NODE__NODE_INDEX_ELEM) {
      const auto* e = p->index_elem;
      if (!cstr(e->indexcolname).empty())
        orig = e->indexcolname;
      else if (!cstr(e->name).empty())
        orig = e->name;
      else if (auto f = figure_colname(e->expr); !f.empty())
        orig = f;
    }
    std::string cur = orig;
    for (int i = 1; std::find(out.begin(), out.end(), cur) != out.end(); ++i) {
      const std::string num = std::to_string(i);
      cur = clip_utf8(orig, kMaxIdentifierBytes - num.size()) + num;
    }
    out.push_back(cur);
  };
  for (std::size_t i = 0; i < stmt->n_index_params; ++i) add(stmt->index_params[i]);
  for (std::size_t i = 0; i < stmt->n_index_including_params; ++i) add(stmt->index_including_params[i]);
  return out;
}

std::vector<std::string> referenced_columns(const PgQuery__Node* expr) {
  std::vector<std::string> out;
  auto visit = [&](const PgQuery__Node* n) {
    if (n->node_case != PG_QUERY__NODE__NODE_COLUMN_REF) return;
    std::string last;
    for (std::size_t i = 0; i < n->column_ref->n_fields; ++i)
      if (auto s = tree::str(n->column_ref->fields[i]); !s.empty()) last = std::string(s);
    if (!last.empty() && std::find(out.begin(), out.end(), last) == out.end()) out.push_back(last);
  };
  if (expr) walk(&expr->base, visit);
  return out;
}

std::string choose_name(std::string_view name1, std::string_view name2, std::string_view label, bool relation,
                        bool constraint, TakenNames& taken) {
  std::string mod(label);
  for (int pass = 1;; ++pass) {
    std::string name = make_object_name(name1, name2, mod);
    const bool clash = (relation && taken.relations.count(name)) || (constraint && taken.constraints.count(name));
    if (!clash) {
      if (relation) taken.relations.insert(name);
      if (constraint) taken.constraints.insert(name);
      return name;
    }
    mod = std::string(label) + std::to_string(pass);
  }
}

std::string helper_name(std::string_view table, std::string_view column, std::string_view label, TakenNames& taken) {
  static constexpr std::string_view kPrefix = "schemagate_";
  for (int pass = 0;; ++pass) {
    const std::string l = pass == 0 ? std::string(label) : std::string(label) + std::to_string(pass);
    // Room for the prefix: build the rest as if NAMEDATALEN were that much shorter.
    std::string rest = make_object_name(table, column, l);
    const std::size_t room = kMaxIdentifierBytes - kPrefix.size();
    if (rest.size() > room) {
      std::string t(table), c(column);
      while (t.size() + (c.empty() ? 0 : c.size() + 1) + l.size() + 1 > room) {
        if (t.size() > c.size())
          t = clip_utf8(t, t.size() - 1);
        else
          c = clip_utf8(c, c.size() - 1);
      }
      rest = t + (c.empty() ? "" : "_" + c) + "_" + l;
    }
    std::string name = std::string(kPrefix) + rest;
    if (!taken.constraints.count(name) && !taken.relations.count(name)) {
      taken.constraints.insert(name);
      return name;
    }
  }
}

}  // namespace schemagate::policy
