// Expression volatility, column facts and column type changes: what ADD COLUMN / ALTER COLUMN TYPE
// imply for the table, from the parse tree (and catalogue facts when there are some).
#include <algorithm>
#include <array>
#include <cctype>

#include "policy/classifier.h"
#include "policy/pg_tree.h"

namespace schemagate::policy {

using tree::cstr;

namespace {

// Function names whose volatility we know without a catalog (pg_catalog, PostgreSQL 15).
constexpr std::array<std::string_view, 14> kVolatileFunctions = {
    "random", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4", "clock_timestamp",
    "timeofday", "nextval", "setseed", "txid_current", "pg_current_xact_id", "currval", "lastval", "setval"};
constexpr std::array<std::string_view, 8> kStableFunctions = {
    "now", "transaction_timestamp", "statement_timestamp", "current_setting", "to_char", "current_database",
    "current_schema", "to_timestamp"};
constexpr std::array<std::string_view, 18> kImmutableFunctions = {
    "lower", "upper", "length", "abs", "md5", "concat_ws", "trim", "btrim", "ltrim", "rtrim", "round", "floor",
    "ceil", "jsonb_build_object", "json_build_object", "jsonb_build_array", "array_length", "make_interval"};

template <std::size_t N>
bool in(const std::array<std::string_view, N>& list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

struct VolatilityWalk {
  const CatalogFacts* facts;
  Volatility worst = Volatility::immutable;
  std::string culprit;

  void raise(Volatility v, std::string why) {
    if (static_cast<int>(v) > static_cast<int>(worst)) {
      worst = v;
      culprit = std::move(why);
    }
  }
  void walk_list(PgQuery__Node* const* items, std::size_t n, int depth) {
    for (std::size_t i = 0; i < n; ++i) walk(items[i], depth + 1);
  }
  void walk(const PgQuery__Node* n, int depth) {
    if (!n) return;
    if (depth > 200) {  // absurdly deep expression: do not recurse further, assume the worst
      raise(Volatility::volatile_, "expression too deep to inspect");
      return;
    }
    switch (n->node_case) {
      case PG_QUERY__NODE__NODE_A_CONST:
      case PG_QUERY__NODE__NODE_STRING:
      case PG_QUERY__NODE__NODE_INTEGER:
      case PG_QUERY__NODE__NODE_FLOAT:
      case PG_QUERY__NODE__NODE_BOOLEAN:
      case PG_QUERY__NODE__NODE_COLUMN_REF:
      case PG_QUERY__NODE__NODE_PARAM_REF: return;
      case PG_QUERY__NODE__NODE_SQLVALUE_FUNCTION: raise(Volatility::stable, "CURRENT_TIMESTAMP-like function"); return;
      case PG_QUERY__NODE__NODE_TYPE_CAST: walk(n->type_cast->arg, depth + 1); return;
      case PG_QUERY__NODE__NODE_A_EXPR:
        walk(n->a_expr->lexpr, depth + 1);
        walk(n->a_expr->rexpr, depth + 1);
        return;
      case PG_QUERY__NODE__NODE_BOOL_EXPR: walk_list(n->bool_expr->args, n->bool_expr->n_args, depth); return;
      case PG_QUERY__NODE__NODE_COALESCE_EXPR:
        walk_list(n->coalesce_expr->args, n->coalesce_expr->n_args, depth);
        return;
      case PG_QUERY__NODE__NODE_MIN_MAX_EXPR: walk_list(n->min_max_expr->args, n->min_max_expr->n_args, depth); return;
      case PG_QUERY__NODE__NODE_NULL_TEST: walk(n->null_test->arg, depth + 1); return;
      case PG_QUERY__NODE__NODE_A_ARRAY_EXPR:
        walk_list(n->a_array_expr->elements, n->a_array_expr->n_elements, depth);
        return;
      case PG_QUERY__NODE__NODE_ROW_EXPR: walk_list(n->row_expr->args, n->row_expr->n_args, depth); return;
      case PG_QUERY__NODE__NODE_LIST: walk_list(n->list->items, n->list->n_items, depth); return;
      case PG_QUERY__NODE__NODE_CASE_EXPR: {
        walk(n->case_expr->arg, depth + 1);
        walk_list(n->case_expr->args, n->case_expr->n_args, depth);
        walk(n->case_expr->defresult, depth + 1);
        return;
      }
      case PG_QUERY__NODE__NODE_CASE_WHEN:
        walk(n->case_when->expr, depth + 1);
        walk(n->case_when->result, depth + 1);
        return;
      case PG_QUERY__NODE__NODE_COLLATE_CLAUSE: walk(n->collate_clause->arg, depth + 1); return;
      case PG_QUERY__NODE__NODE_FUNC_CALL: {
        const auto* f = n->func_call;
        const auto parts = tree::names(f->funcname, f->n_funcname);
        const std::string name = parts.empty() ? std::string() : parts.back();
        const std::string full = tree::dotted(f->funcname, f->n_funcname);
        std::optional<Volatility> v;
        if (facts) v = facts->function_volatility(full);
        const bool builtin = parts.size() == 1 || (parts.size() == 2 && parts[0] == "pg_catalog");
        if (!v && builtin) {
          if (in(kVolatileFunctions, name)) v = Volatility::volatile_;
          else if (in(kStableFunctions, name)) v = Volatility::stable;
          else if (in(kImmutableFunctions, name)) v = Volatility::immutable;
        }
        raise(v.value_or(Volatility::volatile_), full + (v ? "()" : "() (volatility unknown)"));
        walk_list(f->args, f->n_args, depth);
        return;
      }
      default:  // subqueries and anything unusual: assume the worst
        raise(Volatility::volatile_, "a subquery or unusual expression");
        return;
    }
  }
};

}  // namespace

Volatility expression_volatility(const PgQuery__Node* expr, const CatalogFacts* facts, std::string* culprit) {
  VolatilityWalk w{facts, Volatility::immutable, {}};
  w.walk(expr, 0);
  if (culprit) *culprit = w.culprit;
  return w.worst;
}

ColumnFacts column_facts(const PgQuery__ColumnDef* def, const CatalogFacts* facts) {
  ColumnFacts f;
  if (!def) return f;
  f.name = cstr(def->colname);
  f.type = tree::type_base(def->type_name);
  f.serial = f.type == "serial" || f.type == "bigserial" || f.type == "smallserial" || f.type == "serial4" ||
             f.type == "serial8" || f.type == "serial2";
  f.not_null = def->is_not_null;
  if (def->raw_default) {
    f.has_default = true;
    f.default_expr = def->raw_default;
  }
  if (cstr(def->identity).size() > 0) f.identity = true;
  for (std::size_t i = 0; i < def->n_constraints; ++i) {
    const auto* n = def->constraints[i];
    if (!n || n->node_case != PG_QUERY__NODE__NODE_CONSTRAINT) continue;
    const auto* c = n->constraint;
    switch (c->contype) {
      case PG_QUERY__CONSTR_TYPE__CONSTR_DEFAULT:
        f.has_default = true;
        f.default_expr = c->raw_expr;
        break;
      case PG_QUERY__CONSTR_TYPE__CONSTR_NOTNULL: f.not_null = true; break;
      case PG_QUERY__CONSTR_TYPE__CONSTR_IDENTITY: f.identity = true; break;
      case PG_QUERY__CONSTR_TYPE__CONSTR_GENERATED: f.stored_generated = true; break;
      case PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY:
        f.primary_key = true;
        f.not_null = true;
        break;
      case PG_QUERY__CONSTR_TYPE__CONSTR_UNIQUE: f.unique = true; break;
      case PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN: f.references = true; break;
      default: break;
    }
  }
  if (f.has_default && f.default_expr) {
    std::string why;
    // A NULL default is no default at all as far as the table is concerned.
    const auto* e = f.default_expr;
    if (e->node_case == PG_QUERY__NODE__NODE_A_CONST && e->a_const->isnull) {
      f.has_default = false;
    } else if (expression_volatility(e, facts, &why) == Volatility::volatile_) {
      f.default_volatile = true;
      f.volatile_reason = why;
    }
  }
  return f;
}

std::string type_display(const PgQuery__TypeName* t) {
  std::string s = tree::type_base(t);
  const auto mods = tree::typmods(t);
  if (!mods.empty()) {
    s += "(";
    for (std::size_t i = 0; i < mods.size(); ++i) {
      if (i) s += ",";
      s += std::to_string(mods[i]);
    }
    s += ")";
  }
  if (t && t->n_array_bounds > 0) s += "[]";
  return s;
}

namespace {

// Normalises format_type() output and grammar names to one spelling ("character varying" → varchar).
std::string canonical_type(std::string name) {
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name == "character varying") return "varchar";
  if (name == "character" || name == "bpchar") return "bpchar";
  if (name == "integer" || name == "int") return "int4";
  if (name == "bigint") return "int8";
  if (name == "smallint") return "int2";
  if (name == "decimal") return "numeric";
  if (name == "bit varying") return "varbit";
  if (name == "timestamp without time zone") return "timestamp";
  if (name == "timestamp with time zone") return "timestamptz";
  if (name == "time without time zone") return "time";
  if (name == "time with time zone") return "timetz";
  return name;
}

// Zones with one fixed offset of zero: PostgreSQL converts between timestamp and timestamptz
// without a rewrite under them (TimestampTimestampTzRequiresRewrite, PostgreSQL 12+).
bool utc_zone(std::string_view zone) {
  std::string z(zone);
  for (auto& c : z) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (z.rfind("etc/", 0) == 0) z = z.substr(4);
  for (const char* u : {"utc", "uct", "gmt", "gmt0", "gmt+0", "gmt-0", "zulu", "universal", "greenwich"})
    if (z == u) return true;
  return false;
}

// Splits "character varying(20)" into ("varchar", {20}).
std::pair<std::string, std::vector<int>> split_type(std::string_view text) {
  std::vector<int> mods;
  std::string base(text);
  if (const auto open = text.find('('); open != std::string_view::npos) {
    base = std::string(text.substr(0, open));
    std::string_view rest = text.substr(open + 1);
    int v = 0;
    bool have = false;
    for (char c : rest) {
      if (c >= '0' && c <= '9') {
        v = v * 10 + (c - '0');
        have = true;
      } else if (c == ',' || c == ')') {
        if (have) mods.push_back(v);
        v = 0;
        have = false;
        if (c == ')') break;
      }
    }
  }
  while (!base.empty() && base.back() == ' ') base.pop_back();
  // format_type() puts the precision in the middle: "timestamp(3) with time zone".
  if (const auto close = text.find(')'); close != std::string_view::npos && text.find(" time zone", close) != std::string_view::npos)
    base += std::string(text.substr(close + 1, text.find(" time zone", close) + 10 - close - 1));
  return {canonical_type(base), mods};
}

}  // namespace

TypeChange type_change(std::string_view old_type, const PgQuery__TypeName* new_type, bool has_using,
                       std::string_view time_zone, int server_version_num) {
  if (has_using) return TypeChange::rewrite;
  if (old_type.empty() || !new_type) return TypeChange::unknown;
  const auto [old_base, old_mods] = split_type(old_type);
  const std::string new_base = canonical_type(tree::type_base(new_type));
  const auto new_mods = tree::typmods(new_type);
  if (old_base == new_base && old_mods == new_mods) return TypeChange::binary_coercible;
  if (((old_base == "timestamp" && new_base == "timestamptz") || (old_base == "timestamptz" && new_base == "timestamp")) &&
      old_mods == new_mods && server_version_num >= 120000 && utc_zone(time_zone))
    return TypeChange::binary_coercible;
  if (old_base == "varchar" && (new_base == "text" || (new_base == "varchar" && new_mods.empty())))
    return TypeChange::binary_coercible;
  if (old_base == "varchar" && new_base == "varchar" && !old_mods.empty() && !new_mods.empty() &&
      new_mods[0] >= old_mods[0])
    return TypeChange::binary_coercible;
  if (old_base == "text" && new_base == "varchar" && new_mods.empty()) return TypeChange::binary_coercible;
  if (old_base == "numeric" && new_base == "numeric") {
    if (new_mods.empty()) return TypeChange::binary_coercible;
    if (old_mods.size() == 2 && new_mods.size() == 2 && new_mods[0] >= old_mods[0] && new_mods[1] == old_mods[1])
      return TypeChange::binary_coercible;
  }
  if (old_base == "varbit" && new_base == "varbit" &&
      (new_mods.empty() || (!old_mods.empty() && new_mods[0] >= old_mods[0])))
    return TypeChange::binary_coercible;
  if (old_base == "cidr" && new_base == "inet") return TypeChange::binary_coercible;
  return TypeChange::rewrite;
}

}  // namespace schemagate::policy
