#include "policy/session_effects.h"

#include <pg_query/pg_query.pb-c.h>

#include <algorithm>
#include <cctype>

namespace schemagate::policy {

// A statement with characters outside ASCII in a client-only encoding cannot run as a plan: the
// plan's SQL is deparsed in UTF-8, which the server would read in the client's encoding. Such a
// rewrite is refused with the reason; a held one runs as written once approved.
void keep_runnable_as_written(StatementDecision& d, ClientEncoding encoding) {
  const auto& t = d.statement.text;
  if (std::none_of(t.begin(), t.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) return;
  d.plan.reset();
  if (d.outcome != Outcome::rewrite) return;
  d.outcome = Outcome::reject;
  d.sqlstate = kSqlStateRejected;
  d.message = "schemagate: " + d.statement.tag + " needs a phased rewrite, which schemagate cannot run for text with "
              "non-ASCII characters in client_encoding " + encoding_name(encoding);
  d.hint = "Run the migration with client_encoding UTF8 (SET client_encoding TO 'UTF8'), or run its phases by hand.";
}

// Whether two readings of one text come to the same thing: same statements, same verdicts.
bool same_reading(const BatchDecision& a, const BatchDecision& b) {
  if (a.outcome != b.outcome || a.statements.size() != b.statements.size()) return false;
  for (std::size_t i = 0; i < a.statements.size(); ++i) {
    const auto& x = a.statements[i];
    const auto& y = b.statements[i];
    if (x.outcome != y.outcome || x.statement.tag != y.statement.tag || x.statement.span.offset != y.statement.span.offset ||
        x.statement.span.length != y.statement.span.length)
      return false;
  }
  return true;
}

std::string describe(const LexicalSettings& l) {
  return std::string("standard_conforming_strings = ") + (l.standard_conforming_strings ? "on" : "off") +
         ", client_encoding = " + encoding_name(l.encoding);
}

// Every setting the server could apply to the text once the requests in flight have run.
// client_encoding matters only where a byte above 0x7f stands right before a backslash.
std::vector<LexicalSettings> possible_readings(std::string_view sql, const LexicalSettings& current) {
  bool swallowable = false;
  for (std::size_t i = 1; i < sql.size() && !swallowable; ++i)
    swallowable = sql[i] == '\\' && static_cast<unsigned char>(sql[i - 1]) >= 0x80;
  std::vector<ClientEncoding> encodings{current.encoding};
  if (swallowable) {
    encodings.push_back(ClientEncoding::ascii_safe);
    for (auto e : client_only_encodings()) encodings.push_back(e);
  }
  std::vector<LexicalSettings> out;
  for (bool scs : {current.standard_conforming_strings, !current.standard_conforming_strings})
    for (auto e : encodings) {
      const LexicalSettings l{scs, e};
      if (std::find(out.begin(), out.end(), l) == out.end()) out.push_back(l);
    }
  return out;  // out[0] == current
}

// Whether the message's first statement is one PostgreSQL accepts in a failed transaction block
// (ROLLBACK [TO SAVEPOINT], COMMIT, which rolls back, PREPARE TRANSACTION): then the rest may run.
bool leaves_failed_transaction(const PgQuery__ParseResult* tree) {
  if (tree->n_stmts == 0 || !tree->stmts[0]->stmt) return true;
  const auto* n = tree->stmts[0]->stmt;
  if (n->node_case != PG_QUERY__NODE__NODE_TRANSACTION_STMT) return false;
  switch (n->transaction_stmt->kind) {
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK:
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_TO:
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT:
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_PREPARE:
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_PREPARED:
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT_PREPARED: return true;
    default: return false;
  }
}

bool time_zone_unchanged_before(const PgQuery__ParseResult* tree, std::size_t index) {
  for (std::size_t i = 0; i < index && i < tree->n_stmts; ++i) {
    const auto* n = tree->stmts[i]->stmt;
    if (!n) continue;
    if (n->node_case == PG_QUERY__NODE__NODE_TRANSACTION_STMT) {
      const auto k = n->transaction_stmt->kind;
      if (k == PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_BEGIN || k == PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_START ||
          k == PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_SAVEPOINT ||
          k == PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_RELEASE)
        continue;
      return false;
    }
    if (n->node_case != PG_QUERY__NODE__NODE_VARIABLE_SET_STMT) return false;
    const auto* v = n->variable_set_stmt;
    std::string name = v->name ? v->name : "";
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name.empty() || name == "timezone" || v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL ||
        v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_MULTI)
      return false;
  }
  return true;
}

// The identity the statements start with: the live one when the proxy has read it.
SessionInfo with_live_identity(const SessionInfo& s, const CatalogFacts* facts) {
  SessionInfo who = s;
  if (const auto id = facts ? facts->identity() : std::nullopt) {
    who.role = id->current_role;
    who.roles = id->member_of;
  }
  return who;
}

namespace {
std::string set_value(const PgQuery__VariableSetStmt* v) {
  if (v->n_args != 1 || !v->args[0] || v->args[0]->node_case != PG_QUERY__NODE__NODE_A_CONST) return {};
  const auto* c = v->args[0]->a_const;
  return c->val_case == PG_QUERY__A__CONST__VAL_SVAL && c->sval && c->sval->sval ? c->sval->sval : "";
}
}  // namespace

// SET [LOCAL] ROLE, RESET ROLE and SET SESSION AUTHORIZATION earlier in the same message change
// whose scope applies to the statements after them (the server runs them as that role).
void follow_role_change(const Statement& st, SessionInfo& who, std::string& session_user, const SessionInfo& start) {
  if (!st.node || st.node->node_case != PG_QUERY__NODE__NODE_VARIABLE_SET_STMT) return;
  const auto* v = st.node->variable_set_stmt;
  const std::string name = v->name ? v->name : "";
  const bool set = v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_VALUE;
  // (RESET ALL leaves both alone: they are GUC_NO_RESET_ALL.)
  const bool reset = v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET ||
                     v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_DEFAULT;
  if (name == "session_authorization") {
    if (set) session_user = set_value(v);
    else if (reset) session_user = who.user;
  }
  if (name != "role" && name != "session_authorization") return;
  if (!set && !reset) return;
  std::string role = set && name == "role" ? set_value(v) : session_user;
  if (role == "none") role = session_user;  // SET ROLE NONE is RESET ROLE
  if (role.empty() || role == who.role) return;
  if (role == (start.role.empty() ? start.user : start.role)) {
    who = start;  // back where the message started
    return;
  }
  who.role = role;
  who.roles.clear();  // the new role's memberships are not known
}

}  // namespace schemagate::policy
