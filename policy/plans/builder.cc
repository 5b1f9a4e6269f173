#include "policy/plans/builder.h"

#include <cstring>

#include "policy/pg_tree.h"
#include "policy/quote.h"
#include "policy/sql_parser.h"

namespace schemagate::policy::plans {

using tree::cstr;

Phase Builder::phase(PhaseKind kind, std::string description, std::string sql, std::string table) const {
  Phase p;
  p.kind = kind;
  p.description = std::move(description);
  p.sql = std::move(sql);
  p.table = std::move(table);
  if (ctx.thresholds) {
    p.lock_timeout_ms = ctx.thresholds->lock_timeout_ms;
    p.retry.max_attempts = ctx.thresholds->retry_attempts;
    p.retry.backoff_ms = ctx.thresholds->retry_backoff_ms;
  }
  return p;
}

void Builder::add(Phase p) { (p.kind == PhaseKind::precheck ? prechecks : phases).push_back(std::move(p)); }

void Builder::add_precheck(std::string description, std::string sql, std::string table, std::string message) {
  auto checked = verified(std::move(sql), PG_QUERY__NODE__NODE_SELECT_STMT);
  if (!checked) return;  // a precheck only saves time: the real step fails safely without it
  Phase p = phase(PhaseKind::precheck, std::move(description), *checked, std::move(table));
  p.retry.max_attempts = 1;
  p.failure_message = std::move(message);
  prechecks.push_back(std::move(p));
}

bool Builder::fail(std::string reason) {
  if (why_not.empty()) why_not = std::move(reason);
  return false;
}

Plan Builder::finish() {
  Plan plan;
  plan.summary = summary;
  plan.phases = std::move(prechecks);
  for (auto& p : phases) plan.phases.push_back(std::move(p));
  return plan;
}

std::optional<std::string> substitute_name(std::optional<std::string> sql, std::string_view real,
                                           std::string_view placeholder) {
  if (!sql) return std::nullopt;
  const auto first = sql->find(placeholder);
  if (first == std::string::npos || sql->find(placeholder, first + 1) != std::string::npos) return std::nullopt;
  sql->replace(first, placeholder.size(), quote_ident(real));
  return sql;
}

std::optional<std::string> verified(std::optional<std::string> sql, PgQuery__Node__NodeCase expected) {
  if (!sql) return std::nullopt;
  while (!sql->empty() && sql->back() == ' ') sql->pop_back();  // the deparser leaves some
  SyntaxError err;
  auto batch = ParsedBatch::parse(*sql, &err);
  if (!batch || batch->tree()->n_stmts != 1 || !batch->tree()->stmts[0]->stmt ||
      batch->tree()->stmts[0]->stmt->node_case != expected)
    return std::nullopt;
  return sql;
}

namespace {

bool equal_message(const ProtobufCMessage* a, const ProtobufCMessage* b);

std::size_t element_size(ProtobufCType t) {
  switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return 8;
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char*);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage*);
    default: return 4;  // int32, uint32, enum and their fixed/zigzag forms
  }
}

bool equal_value(ProtobufCType t, const char* pa, const char* pb) {
  switch (t) {
    case PROTOBUF_C_TYPE_STRING: {
      const char* sa = *reinterpret_cast<const char* const*>(pa);
      const char* sb = *reinterpret_cast<const char* const*>(pb);
      return std::strcmp(sa ? sa : "", sb ? sb : "") == 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
      const auto* ba = reinterpret_cast<const ProtobufCBinaryData*>(pa);
      const auto* bb = reinterpret_cast<const ProtobufCBinaryData*>(pb);
      return ba->len == bb->len && (ba->len == 0 || std::memcmp(ba->data, bb->data, ba->len) == 0);
    }
    case PROTOBUF_C_TYPE_MESSAGE:
      return equal_message(*reinterpret_cast<const ProtobufCMessage* const*>(pa),
                           *reinterpret_cast<const ProtobufCMessage* const*>(pb));
    default: return std::memcmp(pa, pb, element_size(t)) == 0;
  }
}

// Structural equality through protobuf-c reflection; token positions do not count.
bool equal_message(const ProtobufCMessage* a, const ProtobufCMessage* b) {
  if (!a || !b) return a == b;
  if (a->descriptor != b->descriptor) return false;
  const auto* d = a->descriptor;
  const auto* ba = reinterpret_cast<const char*>(a);
  const auto* bb = reinterpret_cast<const char*>(b);
  for (unsigned i = 0; i < d->n_fields; ++i) {
    const ProtobufCFieldDescriptor& f = d->fields[i];
    if (std::strcmp(f.name, "location") == 0) continue;
    if (f.flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      const auto ca = *reinterpret_cast<const uint32_t*>(ba + f.quantifier_offset);
      const auto cb = *reinterpret_cast<const uint32_t*>(bb + f.quantifier_offset);
      if (ca != cb) return false;
      if (ca != f.id) continue;
    }
    if (f.label == PROTOBUF_C_LABEL_REPEATED) {
      const auto na = *reinterpret_cast<const std::size_t*>(ba + f.quantifier_offset);
      const auto nb = *reinterpret_cast<const std::size_t*>(bb + f.quantifier_offset);
      if (na != nb) return false;
      const char* ia = *reinterpret_cast<const char* const*>(ba + f.offset);
      const char* ib = *reinterpret_cast<const char* const*>(bb + f.offset);
      const std::size_t sz = element_size(f.type);
      for (std::size_t k = 0; k < na; ++k)
        if (!equal_value(f.type, ia + k * sz, ib + k * sz)) return false;
    } else if (!equal_value(f.type, ba + f.offset, bb + f.offset)) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool same_statement(std::string_view sql, const PgQuery__Node* node) {
  SyntaxError err;
  auto batch = ParsedBatch::parse(sql, &err);
  if (!batch || batch->tree()->n_stmts != 1 || !node) return false;
  return equal_message(&batch->tree()->stmts[0]->stmt->base, &node->base);
}

std::string qualified(const PgQuery__RangeVar* rv) { return quote_qualified(cstr(rv->schemaname), cstr(rv->relname)); }

TakenNames taken_names(const CatalogFacts* facts, const PgQuery__RangeVar* rv) {
  TakenNames t;
  if (!facts || !rv) return t;
  const auto q = tree::qname(rv);
  for (const auto& i : facts->indexes(q)) t.relations.insert(i.name);
  for (const auto& c : facts->constraints(q)) t.constraints.insert(c.name);
  t.relations.insert(std::string(cstr(rv->relname)));
  return t;
}

bool described(const CatalogFacts* facts, const PgQuery__RangeVar* rv) {
  return facts && rv && facts->describes(tree::qname(rv));
}

std::optional<std::string> deparse_alter(const PgQuery__Node* stmt, const PgQuery__AlterTableStmt& a) {
  // Constraint names go through numbered placeholders, like index names (see kPlaceholder).
  const std::size_t n_cmds = a.n_cmds;
  std::vector<PgQuery__Node> nodes(n_cmds);
  std::vector<PgQuery__AlterTableCmd> cmds(n_cmds);
  std::vector<PgQuery__Node> defs(n_cmds);
  std::vector<PgQuery__Constraint> cons(n_cmds);
  std::vector<std::string> holders(n_cmds), real(n_cmds);
  std::vector<PgQuery__Node*> ptrs(n_cmds);
  for (std::size_t i = 0; i < n_cmds; ++i) {
    ptrs[i] = a.cmds[i];
    const PgQuery__Node* c = a.cmds[i];
    if (!c || c->node_case != PG_QUERY__NODE__NODE_ALTER_TABLE_CMD || !c->alter_table_cmd->def ||
        c->alter_table_cmd->def->node_case != PG_QUERY__NODE__NODE_CONSTRAINT ||
        cstr(c->alter_table_cmd->def->constraint->conname).empty())
      continue;
    real[i] = c->alter_table_cmd->def->constraint->conname;
    holders[i] = std::string(kPlaceholder) + "_" + std::to_string(i) + "_";
    cons[i] = *c->alter_table_cmd->def->constraint;
    cons[i].conname = holders[i].data();
    defs[i] = *c->alter_table_cmd->def;
    defs[i].constraint = &cons[i];
    cmds[i] = *c->alter_table_cmd;
    cmds[i].def = &defs[i];
    nodes[i] = *c;
    nodes[i].alter_table_cmd = &cmds[i];
    ptrs[i] = &nodes[i];
  }
  PgQuery__Node n = *stmt;
  PgQuery__AlterTableStmt copy = a;
  copy.cmds = ptrs.data();
  n.alter_table_stmt = &copy;
  auto sql = deparse_statement(&n);
  for (std::size_t i = 0; sql && i < n_cmds; ++i)
    if (!holders[i].empty()) sql = substitute_name(std::move(sql), real[i], holders[i]);
  return sql;
}

std::optional<std::string> deparse_one_action(const PgQuery__Node* stmt, const PgQuery__AlterTableStmt& a,
                                              const PgQuery__Node* cmd) {
  PgQuery__AlterTableStmt copy = a;
  PgQuery__Node* cmds[1] = {const_cast<PgQuery__Node*>(cmd)};  // only read by the deparser
  copy.n_cmds = 1;
  copy.cmds = cmds;
  return deparse_alter(stmt, copy);
}

PgQuery__Node string_node(PgQuery__String& holder, std::string& s) {
  holder = PG_QUERY__STRING__INIT;
  holder.sval = s.data();
  PgQuery__Node n = PG_QUERY__NODE__INIT;
  n.node_case = PG_QUERY__NODE__NODE_STRING;
  n.string = &holder;
  return n;
}

std::string column_list(const std::vector<std::string>& cols) {
  std::string out;
  for (const auto& c : cols) out += (out.empty() ? "" : ", ") + quote_ident(c);
  return "(" + out + ")";
}

std::string null_tests(const std::vector<std::string>& cols, bool is_null, std::string_view joiner) {
  std::string out;
  for (const auto& c : cols)
    out += (out.empty() ? "" : std::string(joiner)) + quote_ident(c) + (is_null ? " IS NULL" : " IS NOT NULL");
  return out;
}

std::string alter_prefix(const PgQuery__AlterTableStmt& a) {
  return std::string("ALTER TABLE ") + (a.missing_ok ? "IF EXISTS " : "") + (a.relation->inh ? "" : "ONLY ") +
         qualified(a.relation);
}

}  // namespace schemagate::policy::plans
