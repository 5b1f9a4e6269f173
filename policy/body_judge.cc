#include "policy/body_judge.h"

#include <pg_query/pg_query.pb-c.h>

#include <algorithm>

#include "policy/bodies.h"
#include "policy/classifier.h"
#include "policy/session_effects.h"
#include "policy/sql_parser.h"

namespace schemagate::policy {

namespace {

std::string join_rule_ids(const std::vector<std::string>& ids) {
  std::string s;
  for (const auto& i : ids) s += (s.empty() ? "" : ", ") + i;
  return s;
}

// Bodies that execute later (docs/security.md): a DO block runs its body now, a function or
// procedure runs it whenever it is called, which then looks like an ordinary SELECT or CALL. So
// the body is judged here, statement by statement, by the same Decider (rules, overrides, scopes).
// `judge(statement, ctx, depth)` decides one inner statement; `action(rule_id)` is the policy's
// action for a rule in the outer statement's scope. Adds the body's findings to `d`.
constexpr int kMaxBodyDepth = 8;  // DO inside EXECUTE inside a function …: deeper than this is opaque

inline Outcome body_cap(Outcome a, Outcome cap) {
  if (a == Outcome::rewrite) a = Outcome::hold;  // nothing inside a body can be rewritten
  return static_cast<int>(a) <= static_cast<int>(cap) ? a : cap;
}

inline const char* would_be(Outcome o) {
  switch (o) {
    case Outcome::pass: return "passed";
    case Outcome::warn: return "allowed with a warning";
    case Outcome::rewrite: return "rewritten";
    case Outcome::hold: return "held for approval";
    case Outcome::reject: return "rejected";
  }
  return "judged";
}

}  // namespace

void judge_body(StatementDecision& d, const RuleContext& outer, int depth, const BodyStatementJudge& judge,
                const ActionForRule& action, const SessionInfo& caller) {
  std::optional<Body> body = extract_body(d.statement.node);
  if (!body) return;
  const bool is_do = body->kind == Body::Kind::do_block;
  // A DO runs its body now, under the setting it was read with. A function's body is read again
  // by whoever calls it (PL/pgSQL compiles it per session, a SQL body is parsed per call), under
  // the caller's standard_conforming_strings: `SELECT 'a\''; DROP TABLE t; --'` is one string
  // with the setting on and a DROP with it off. So its statements under the other reading count
  // too. (A reading that does not parse runs nothing: the call fails.)
  const bool scs = standard_conforming_strings_in_effect();
  struct Reading {
    const BodySql* sql;
    bool flipped;  // read under !scs
  };
  std::optional<Body> other;
  if (!is_do && body->inspectable && !body->error) {
    const StringSyntaxScope flip(!scs);
    other = extract_body(d.statement.node);
  }
  std::vector<Reading> statements;
  for (const auto& s : body->statements) statements.push_back({&s, false});
  if (other && other->inspectable && !other->error) {
    for (const auto& s : other->statements)
      if (std::none_of(body->statements.begin(), body->statements.end(), [&](const BodySql& b) { return b.text == s.text; }))
        statements.push_back({&s, true});
    for (const auto& dyn : other->dynamic)
      if (std::none_of(body->dynamic.begin(), body->dynamic.end(),
                       [&](const DynamicSql& b) { return b.expression == dyn.expression; }))
        body->dynamic.push_back(dyn);
  }
  const std::string where = is_do ? "inside DO block" : "in the body of " + body->describe();
  auto add = [&](std::string id, Outcome a, std::string message, std::string detail, std::string hint) {
    Finding f;
    f.rule_id = std::move(id);
    f.action = a;
    f.message = std::move(message);
    f.detail = std::move(detail);
    f.hint = std::move(hint);
    d.findings.push_back(std::move(f));
  };
  const RuleInfo* opaque_rule = find_rule("opaque_statement");
  auto opaque = [&](const std::string& why) {
    add("opaque_statement", action("opaque_statement"), body->describe() + " " + why,
        std::string(opaque_rule->facts), std::string(opaque_rule->alternative));
  };
  // The DO's generic "cannot inspect" finding gives way to what the body really does.
  d.findings.erase(std::remove_if(d.findings.begin(), d.findings.end(),
                                  [](const Finding& f) { return f.rule_id == "opaque_statement"; }),
                   d.findings.end());
  if (!body->inspectable)
    return opaque("is written in LANGUAGE " + (body->language.empty() ? std::string("(none)") : body->language) +
                  ", whose code schemagate cannot inspect");
  if (body->error) return opaque("could not be parsed (" + *body->error + "), so what it runs is unknown");
  if (depth >= kMaxBodyDepth) return opaque("nests bodies too deeply to inspect");

  // A DO runs now, after the statements before it; a function runs later, in a context unknown
  // today. Either way the body runs inside the one statement that calls it (a transaction).
  RuleContext ctx = outer;
  if (!is_do) {
    ctx.in_transaction = false;
    ctx.lock_timeout_set = false;
    ctx.created_tables.clear();
    ctx.not_valid.clear();
    ctx.created_indexes.clear();
  }
  ctx.implicit_transaction = true;
  // A SET ROLE inside the body: what follows it runs as that role, in that role's scope.
  SessionInfo who = caller;
  std::string session_user = caller.role.empty() ? caller.user : caller.role;
  const RuleInfo* dyn = find_rule("dynamic_sql");
  for (const auto& site : body->dynamic)
    add("dynamic_sql", action("dynamic_sql"),
        site.construct + " of a string built at run time " + where +
            (site.line ? " (body line " + std::to_string(site.line) + ")" : std::string()) + ": " + site.expression,
        std::string(dyn->facts), std::string(dyn->alternative));

  const RuleInfo* fbd = find_rule("function_body_ddl");
  for (const auto& reading : statements) {
    const BodySql& sql = *reading.sql;
    const StringSyntaxScope syntax(reading.flipped ? !scs : scs);
    SyntaxError err;
    const auto batch = ParsedBatch::parse(sql.text, &err);
    const std::string via = (sql.source == BodySql::Source::constant_execute ? " via EXECUTE" : "") +
                            std::string(reading.flipped ? (scs ? " (read with standard_conforming_strings off)"
                                                               : " (read with standard_conforming_strings on)")
                                                        : "");
    if (!batch) {
      opaque("has a statement" + via + " that does not parse (body line " + std::to_string(sql.line) +
             "): " + err.message);
      continue;
    }
    for (std::size_t k = 0; k < batch->tree()->n_stmts; ++k) {
      Statement st;
      st.index = k;
      st.span = batch->span(k);
      const std::size_t start = trim_statement(batch->text(), st.span, st.text);
      const int line = sql.line ? sql.line + position_at(batch->text(), start).line - 1 : 0;
      classify(batch->tree()->stmts[k]->stmt, ctx.facts, st);
      const StatementDecision in = judge(std::move(st), ctx, depth + 1, who);
      update_context(in.statement, ctx);
      follow_role_change(in.statement, who, session_user, caller);
      if (in.outcome == Outcome::pass && !is_do) continue;  // quiet: temp tables, ordinary DML
      const std::string at = in.statement.tag + via + " " + where +
                             (line ? " (body line " + std::to_string(line) + ")" : std::string());
      const Outcome eff = body_cap(in.outcome, Outcome::reject);
      if (is_do || in.outcome == Outcome::warn) {
        // The DO (or the advisory) carries the inner rules themselves, so `drop_table: pass`
        // means the same for a DROP inside a DO as for one sent directly. Capped at the inner
        // outcome: a scope that forced it lower (or higher) decided, not the single rule.
        bool reached = eff == Outcome::pass;
        for (const auto& f : in.findings) {
          const Outcome a = body_cap(f.action, eff);
          reached = reached || a == eff;
          add(f.rule_id, a, at + ": " + f.message, f.detail,
              f.action == Outcome::rewrite
                  ? "Send the statement on its own, outside the DO block, so schemagate can rewrite it. " + f.hint
                  : f.hint);
        }
        if (!reached)
          add(in.scope.empty() ? "policy_default" : "policy_scope", eff,
              at + ": " + (in.scope.empty() ? std::string("default_action") : "policy scope '" + in.scope + "'"), {}, {});
        continue;
      }
      // A function that would need a rewrite, an approval or a refusal: it is judged now,
      // because each later call looks like an ordinary SELECT f() / CALL p().
      const Finding* lead = nullptr;
      for (const auto& f : in.findings)
        if (f.action == in.outcome && !lead) lead = &f;
      const std::string by = in.rule_ids.empty() ? std::string(" by policy") : " by rule " + join_rule_ids(in.rule_ids);
      add("function_body_ddl", in.outcome == Outcome::reject ? Outcome::reject : action("function_body_ddl"),
          at + " would be " + would_be(in.outcome) + by + (lead ? ": " + lead->message : std::string()),
          lead ? lead->detail : std::string(fbd->facts), std::string(fbd->alternative));
    }
  }
}

}  // namespace schemagate::policy
