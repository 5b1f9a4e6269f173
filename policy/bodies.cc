#include "policy/bodies.h"

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

#include "policy/pg_tree.h"
#include "policy/sql_parser.h"

namespace schemagate::policy {

namespace {

using json = nlohmann::json;
using tree::cstr;
using tree::str;

// The String value of a DefElem argument: a String node, or the first String of a List (the
// "as" option of CREATE FUNCTION is a list: body, or object file and link symbol for C).
std::string def_string(const PgQuery__DefElem* d, std::size_t* count = nullptr) {
  if (count) *count = 0;
  if (!d || !d->arg) return {};
  if (d->arg->node_case == PG_QUERY__NODE__NODE_STRING) {
    if (count) *count = 1;
    return std::string(str(d->arg));
  }
  const auto items = tree::list_items(d->arg);
  if (count) *count = items.n;
  return items.n > 0 ? std::string(str(items.items[0])) : std::string();
}

const PgQuery__DefElem* find_option(PgQuery__Node* const* items, std::size_t n, std::string_view name) {
  for (std::size_t i = 0; i < n; ++i)
    if (const auto* it = items[i];
        it && it->node_case == PG_QUERY__NODE__NODE_DEF_ELEM && it->def_elem && cstr(it->def_elem->defname) == name)
      return it->def_elem;
  return nullptr;
}

int json_line(const json& stmt) {
  const auto it = stmt.find("lineno");
  return it != stmt.end() && it->is_number_integer() ? it->get<int>() : 0;
}

// The query text of {"PLpgSQL_expr": {"query": …}}, or nullopt.
std::optional<std::string> expr_query(const json& j) {
  if (!j.is_object()) return std::nullopt;
  const auto e = j.find("PLpgSQL_expr");
  if (e == j.end() || !e->is_object()) return std::nullopt;
  const auto q = e->find("query");
  if (q == e->end() || !q->is_string()) return std::nullopt;
  return q->get<std::string>();
}

// Walks PL/pgSQL's JSON dump. Only statement-level SQL is collected: every other PLpgSQL_expr
// (IF/WHILE conditions, assignments, RAISE arguments, RETURN values, defaults) is an expression
// PostgreSQL evaluates as `SELECT expr`, which cannot contain a utility statement; the functions
// such an expression calls are outside what a parser can see (docs/security.md).
struct PlpgsqlWalker {
  Body& out;

  void add_static(const json& fields, const char* key, int line) {
    const auto it = fields.find(key);
    if (it == fields.end()) return;
    if (auto q = expr_query(*it)) out.statements.push_back(BodySql{*q, line, BodySql::Source::statement});
  }

  void add_execute(const json& fields, const char* key, const char* construct, int line) {
    const auto it = fields.find(key);
    if (it == fields.end()) return;
    const auto q = expr_query(*it);
    if (!q) return;
    std::string value;
    if (constant_string(*q, &value))
      out.statements.push_back(BodySql{value, line, BodySql::Source::constant_execute});
    else
      out.dynamic.push_back(DynamicSql{construct, *q, line});
  }

  void statement(const std::string& type, const json& f) {
    const int line = json_line(f);
    if (type == "PLpgSQL_stmt_execsql") {
      add_static(f, "sqlstmt", line);
    } else if (type == "PLpgSQL_stmt_perform" || type == "PLpgSQL_stmt_call") {
      add_static(f, "expr", line);  // PERFORM is stored as SELECT …; CALL and a nested DO as written
    } else if (type == "PLpgSQL_stmt_fors" || type == "PLpgSQL_stmt_return_query" || type == "PLpgSQL_stmt_open") {
      add_static(f, "query", line);
      add_execute(f, "dynquery", type == "PLpgSQL_stmt_open" ? "OPEN … FOR EXECUTE" : "RETURN QUERY EXECUTE", line);
    } else if (type == "PLpgSQL_stmt_dynexecute") {
      add_execute(f, "query", "EXECUTE", line);
    } else if (type == "PLpgSQL_stmt_dynfors") {
      add_execute(f, "query", "FOR … IN EXECUTE", line);
    }
  }

  // The dump nests a few levels per PL/pgSQL block; PL/pgSQL's grammar allows thousands of
  // blocks, more than this recursion should take on a session's stack. Deeper is unreadable.
  static constexpr int kMaxJsonDepth = 600;

  void walk(const json& j, int depth = 0) {
    if (depth > kMaxJsonDepth) {
      if (!out.error) out.error = "PL/pgSQL: blocks nested too deeply to inspect";
      return;
    }
    if (j.is_array()) {
      for (const auto& e : j) walk(e, depth + 1);
      return;
    }
    if (!j.is_object()) return;
    for (const auto& [key, value] : j.items()) {
      if (key.rfind("PLpgSQL_stmt_", 0) == 0 && value.is_object()) statement(key, value);
      // A bound cursor's query (DECLARE c CURSOR FOR SELECT …) runs when the cursor is opened.
      if (key == "cursor_explicit_expr")
        if (auto q = expr_query(value)) out.statements.push_back(BodySql{*q, 0, BodySql::Source::statement});
      walk(value, depth + 1);  // nested blocks, IF/LOOP/CASE branches, exception handlers
    }
  }
};

void read_plpgsql(const PgQuery__Node* node, Body& out) {
  // pg_query_parse_plpgsql takes SQL text; the node's own deparse is exactly one DO or CREATE
  // FUNCTION, whatever else the client's message contained.
  const auto text = deparse_statement(node);
  if (!text) {
    out.error = "the statement could not be deparsed for the PL/pgSQL parser";
    return;
  }
  PgQueryPlpgsqlParseResult r = pg_query_parse_plpgsql(text->c_str());
  if (r.error) {
    out.error = std::string("PL/pgSQL: ") + (r.error->message ? r.error->message : "parse error");
    pg_query_free_plpgsql_parse_result(r);
    return;
  }
  const json doc = json::parse(r.plpgsql_funcs ? r.plpgsql_funcs : "", nullptr, false);
  pg_query_free_plpgsql_parse_result(r);
  if (doc.is_discarded() || !doc.is_array() || doc.empty()) {
    out.error = "PL/pgSQL: the parser returned no function";
    return;
  }
  PlpgsqlWalker{out}.walk(doc);
}

// LANGUAGE sql with a string body: the grammar splits it; each statement keeps its line.
void read_sql_string(const std::string& body, Body& out) {
  SyntaxError err;
  const auto batch = ParsedBatch::parse(body, &err);
  if (!batch) {
    out.error = "SQL body: " + err.message + " (body line " + std::to_string(err.pos.line) + ")";
    return;
  }
  for (std::size_t i = 0; i < batch->tree()->n_stmts; ++i) {
    const StatementSpan sp = batch->span(i);
    // A statement's span starts right after the previous semicolon: skip blanks and -- comments
    // so that its line is the line of its first keyword.
    std::size_t b = sp.offset;
    const std::size_t e = std::min(body.size(), sp.offset + sp.length);
    for (;;) {
      while (b < e && std::isspace(static_cast<unsigned char>(body[b]))) ++b;
      if (b + 1 < e && body[b] == '-' && body[b + 1] == '-') {
        while (b < e && body[b] != '\n') ++b;
        continue;
      }
      break;
    }
    out.statements.push_back(BodySql{body.substr(b, e - b), position_at(body, b).line, BodySql::Source::statement});
  }
}

// BEGIN ATOMIC … END: the statements are already parsed into the tree (a List holding a List of
// statements); a RETURN expr body is an expression only.
void read_atomic(const PgQuery__Node* sql_body, Body& out) {
  if (sql_body->node_case != PG_QUERY__NODE__NODE_LIST) return;  // RETURN expr
  auto add = [&](const PgQuery__Node* st) {
    if (!st) return;
    const auto text = deparse_statement(st);
    if (!text) {
      out.error = "BEGIN ATOMIC: a statement of the body could not be deparsed";
      return;
    }
    out.statements.push_back(BodySql{*text, 0, BodySql::Source::statement});
  };
  const auto outer = tree::list_items(sql_body);
  for (std::size_t i = 0; i < outer.n; ++i) {
    const auto* item = outer.items[i];
    if (item && item->node_case == PG_QUERY__NODE__NODE_LIST) {
      const auto inner = tree::list_items(item);
      for (std::size_t k = 0; k < inner.n; ++k) add(inner.items[k]);
    } else {
      add(item);
    }
  }
}

}  // namespace

std::string Body::describe() const {
  switch (kind) {
    case Kind::do_block: return "DO block";
    case Kind::function: return "function " + name;
    case Kind::procedure: return "procedure " + name;
  }
  return "body";
}

bool constant_string(const std::string& expression, std::string* value) {
  SyntaxError err;
  const auto batch = ParsedBatch::parse("SELECT " + expression, &err);
  if (!batch || batch->tree()->n_stmts != 1) return false;
  const auto* n = batch->tree()->stmts[0]->stmt;
  if (!n || n->node_case != PG_QUERY__NODE__NODE_SELECT_STMT) return false;
  const auto* s = n->select_stmt;
  if (s->n_target_list != 1 || s->n_from_clause || s->where_clause || s->n_values_lists || s->larg) return false;
  const auto* t = s->target_list[0];
  if (!t || t->node_case != PG_QUERY__NODE__NODE_RES_TARGET || !t->res_target->val) return false;
  const auto* v = t->res_target->val;
  if (v->node_case != PG_QUERY__NODE__NODE_A_CONST || !v->a_const ||
      v->a_const->val_case != PG_QUERY__A__CONST__VAL_SVAL || !v->a_const->sval)
    return false;
  if (value) *value = std::string(cstr(v->a_const->sval->sval));
  return true;
}

std::optional<Body> extract_body(const PgQuery__Node* node) {
  if (!node) return std::nullopt;
  Body out;
  if (node->node_case == PG_QUERY__NODE__NODE_DO_STMT) {
    const auto* d = node->do_stmt;
    out.kind = Body::Kind::do_block;
    const auto* lang = find_option(d->args, d->n_args, "language");
    out.language = lang ? def_string(lang) : "plpgsql";  // PostgreSQL's default for DO
    if (out.language != "plpgsql") return out;
    out.inspectable = true;
    read_plpgsql(node, out);
    return out;
  }
  if (node->node_case != PG_QUERY__NODE__NODE_CREATE_FUNCTION_STMT) return std::nullopt;
  const auto* f = node->create_function_stmt;
  out.kind = f->is_procedure ? Body::Kind::procedure : Body::Kind::function;
  out.name = tree::dotted(f->funcname, f->n_funcname);
  const auto* lang = find_option(f->options, f->n_options, "language");
  // Without LANGUAGE, PostgreSQL accepts only a BEGIN ATOMIC / RETURN body, which is SQL.
  out.language = lang ? def_string(lang) : f->sql_body ? "sql" : "";
  // Language names are compared as PostgreSQL looks them up (identifiers arrive lower-cased);
  // anything else is a language whose code cannot be read here.
  if (out.language != "sql" && out.language != "plpgsql") return out;
  std::size_t as_count = 0;
  const auto* as = find_option(f->options, f->n_options, "as");
  const std::string body = def_string(as, &as_count);
  if (f->sql_body) {
    out.inspectable = true;
    read_atomic(f->sql_body, out);
    return out;
  }
  if (!as || as_count != 1) {
    out.inspectable = true;
    out.error = "no body text";
    return out;
  }
  out.inspectable = true;
  if (out.language == "plpgsql")
    read_plpgsql(node, out);
  else
    read_sql_string(body, out);
  return out;
}

}  // namespace schemagate::policy
