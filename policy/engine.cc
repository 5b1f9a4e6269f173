#include "policy/engine.h"

#include <pg_query/pg_query.pb-c.h>

#include <algorithm>

#include "policy/classifier.h"
#include "policy/migration_tools.h"
#include "policy/pre_classifier.h"
#include "policy/rules.h"

namespace schemagate::policy {

namespace {

using config::PolicyScope;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Trims blanks around a statement's text and returns the offset of its first character.
std::size_t trim(std::string_view text, StatementSpan span, std::string& out) {
  std::size_t b = span.offset, e = span.offset + span.length;
  // Leading blanks and comments belong to no statement: positions point at its first keyword.
  for (;;) {
    while (b < e && is_space(text[b])) ++b;
    if (b + 1 < e && text[b] == '-' && text[b + 1] == '-') {
      while (b < e && text[b] != '\n') ++b;
    } else if (b + 1 < e && text[b] == '/' && text[b + 1] == '*') {
      int depth = 0;
      std::size_t p = b;
      do {
        if (p + 1 < e && text[p] == '/' && text[p + 1] == '*') {
          ++depth;
          p += 2;
        } else if (p + 1 < e && text[p] == '*' && text[p + 1] == '/') {
          --depth;
          p += 2;
        } else {
          ++p;
        }
      } while (p < e && depth > 0);
      if (depth > 0) break;  // unterminated: keep it, the parser reported it
      b = p;
    } else {
      break;
    }
  }
  while (e > b && (is_space(text[e - 1]) || text[e - 1] == ';')) --e;
  out.assign(text.substr(b, e - b));
  return b;
}

bool contains(const std::vector<std::string>& list, std::string_view v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

bool scope_matches(const PolicyScope& sc, const SessionInfo& who, const Statement& s) {
  const auto& m = sc.match;
  if (!m.users.empty() && !contains(m.users, who.user)) return false;
  if (!m.roles.empty()) {
    bool any = contains(m.roles, who.user);
    for (const auto& r : who.roles) any = any || contains(m.roles, r);
    if (!any) return false;
  }
  if (!m.databases.empty() && !contains(m.databases, who.database)) return false;
  if (!m.application_names.empty()) {
    bool any = false;
    for (const auto& p : m.application_names) any = any || glob_match(p, who.application_name);
    if (!any) return false;
  }
  if (!m.tables.empty()) {
    bool any = false;
    for (const auto& o : s.objects)
      for (const auto& p : m.tables) any = any || glob_match(p, o.display()) || glob_match(p, o.name);
    if (!any) return false;
  }
  return true;
}

Outcome max_outcome(Outcome a, Outcome b) { return static_cast<int>(a) >= static_cast<int>(b) ? a : b; }

std::string join_ids(const std::vector<std::string>& ids) {
  std::string s;
  for (const auto& i : ids) {
    if (!s.empty()) s += ", ";
    s += i;
  }
  return s;
}

bool is_tx_rule(std::string_view id) { return id == "concurrently_in_transaction" || id == "transaction_block_forbidden"; }

constexpr std::string_view kLockTimeoutRule = "require_lock_timeout";

// Every phase waits at most lock_timeout for its lock: the plan itself satisfies require_lock_timeout.
bool guards_every_phase(const Plan& p) {
  return !p.phases.empty() &&
         std::all_of(p.phases.begin(), p.phases.end(), [](const Phase& ph) { return ph.lock_timeout_ms > 0; });
}

}  // namespace

bool glob_match(std::string_view p, std::string_view t) {
  std::size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == t[ti])) {
      ++pi;
      ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

PolicyEngine::PolicyEngine(config::Policy policy, std::unique_ptr<const Planner> planner,
                           std::size_t parse_cache_entries)
    : policy_(std::move(policy)),
      planner_(planner ? std::move(planner) : std::make_unique<DefaultPlanner>()),
      parser_(std::make_unique<SqlParser>(parse_cache_entries)) {}

BatchDecision PolicyEngine::evaluate(std::string_view sql, const SessionInfo& session,
                                     const CatalogFacts* facts) const {
  return run(sql, session, facts, false);
}

BatchDecision PolicyEngine::evaluate_script(std::string_view sql, const SessionInfo& session,
                                            const CatalogFacts* facts) const {
  return run(sql, session, facts, true);
}

namespace {

// Everything needed to decide one statement; shared by the parsed and the unparsable paths.
struct Decider {
  const config::Policy& policy;
  const Planner& planner;
  const SessionInfo& session;
  std::string_view message_sql;  // the whole message, to recognise the migration tool

  const PolicyScope* scope_for(const Statement& s) const {
    for (const auto& sc : policy.scopes)
      if (scope_matches(sc, session, s)) return &sc;
    return nullptr;
  }

  Outcome action_for(const std::string& id, const PolicyScope* scope) const {
    if (scope)
      if (auto it = scope->rules.find(id); it != scope->rules.end()) return it->second;
    if (auto it = policy.rules.find(id); it != policy.rules.end()) return it->second;
    if (id == "unparsable") return policy.unparsable;
    const RuleInfo* r = find_rule(id);
    return r ? r->default_action : Outcome::warn;
  }

  void explain(StatementDecision& d) const {
    const auto& s = d.statement;
    const Finding* lead = nullptr;
    for (const auto& f : d.findings)
      if (f.action == d.outcome && !lead) lead = &f;
    const std::string who = join_ids(d.rule_ids);
    const std::string scope = d.scope.empty() ? std::string() : " (policy scope '" + d.scope + "')";
    switch (d.outcome) {
      case Outcome::pass:
        d.message.clear();
        return;
      case Outcome::warn:
        d.message = "schemagate: " + s.tag + " allowed with a warning" + (who.empty() ? "" : " from rule " + who) +
                    (lead ? ": " + lead->message : scope);
        break;
      case Outcome::rewrite:
        d.message = "schemagate: " + s.tag + " rewritten by rule " + who + " (" +
                    std::to_string(d.plan ? d.plan->phases.size() : 0) + " phase" +
                    (d.plan && d.plan->phases.size() == 1 ? "" : "s") + ")";
        break;
      case Outcome::hold:
        d.message = "schemagate: " + s.tag + " held for approval" + (who.empty() ? scope : " (rule " + who + ")") +
                    (lead ? ": " + lead->message : "");
        break;
      case Outcome::reject:
        d.message = "schemagate: " + s.tag + " rejected" + (who.empty() ? " by policy" + scope : " by rule " + who) +
                    (lead ? ": " + lead->message : "");
        d.sqlstate = kSqlStateRejected;
        for (const auto& id : d.rule_ids)
          if (is_tx_rule(id)) d.sqlstate = kSqlStateNotInTransaction;
        break;
    }
    if (lead) {
      d.detail = lead->detail;
      d.hint = lead->hint;
    }
  }

  StatementDecision decide(Statement st, const RuleContext& ctx) const {
    StatementDecision d;
    d.statement = std::move(st);
    const Statement& s = d.statement;
    const bool governed = is_schema_changing(s.klass);
    if (governed) d.fingerprint = fingerprint(s.text);
    d.findings = check_rules(s, ctx);
    const PolicyScope* scope = scope_for(s);
    if (scope) d.scope = scope->name.empty() ? "#" + std::to_string(scope - policy.scopes.data()) : scope->name;
    for (auto& f : d.findings) f.action = action_for(f.rule_id, scope);
    for (auto& f : d.findings)
      if (is_tx_rule(f.rule_id)) f.hint += " " + tool_hint();
    const bool forced = governed && scope && scope->action;
    std::optional<Plan> early = forced ? std::nullopt : plan_guarding_lock_timeout(d, ctx);

    if (forced) {
      d.outcome = *scope->action;
    } else {
      d.outcome = Outcome::pass;
      for (const auto& f : d.findings) d.outcome = max_outcome(d.outcome, f.action);
      for (const auto& f : d.findings)
        if (f.action == d.outcome && d.outcome != Outcome::pass && !contains(d.rule_ids, f.rule_id))
          d.rule_ids.push_back(f.rule_id);
      if (governed && d.rule_ids.empty()) {
        const Outcome dflt = scope && scope->default_action ? *scope->default_action : policy.default_action;
        d.outcome = max_outcome(d.outcome, dflt);
      }
    }
    if (!governed && d.rule_ids.empty()) d.outcome = Outcome::pass;
    if (d.outcome == Outcome::rewrite) plan(d, ctx, scope, std::move(early));
    if (d.outcome == Outcome::hold) plan_after_approval(d, ctx);
    explain(d);
    return d;
  }

  std::string tool_hint() const {
    return non_transactional_hint(detect_migration_tool(session.application_name, message_sql));
  }

  // require_lock_timeout must not fire on a statement that another rule has rewritten into a plan
  // setting lock_timeout on every phase: the plan already does what the rule asks. So when the
  // other findings alone call for a rewrite, plan first; if the plan guards every phase, the
  // finding goes. Returns that plan, so it is not computed twice.
  std::optional<Plan> plan_guarding_lock_timeout(StatementDecision& d, const RuleContext& ctx) const {
    auto& fs = d.findings;
    const auto it = std::find_if(fs.begin(), fs.end(), [](const Finding& f) { return f.rule_id == kLockTimeoutRule; });
    if (it == fs.end() || it->action == Outcome::pass) return std::nullopt;
    Outcome rest = Outcome::pass;
    std::vector<Finding> rewrite;
    for (const auto& f : fs) {
      if (f.rule_id == kLockTimeoutRule) continue;
      rest = max_outcome(rest, f.action);
      if (f.action == Outcome::rewrite) rewrite.push_back(f);
    }
    if (rest != Outcome::rewrite) return std::nullopt;
    std::string why_not;
    auto p = planner.plan(d.statement, rewrite, plan_context(ctx), why_not);
    if (!p || !guards_every_phase(*p)) return std::nullopt;
    fs.erase(it);
    return p;
  }

  // A held statement that other rules would rewrite runs through that plan once approved. When
  // there is no plan (no rewrite finding, the planner cannot, or it needs to run outside the
  // client's transaction) it runs as written after approval: the approver saw it as written.
  void plan_after_approval(StatementDecision& d, const RuleContext& ctx) const {
    std::vector<Finding> rewrite;
    for (const auto& f : d.findings)
      if (f.action == Outcome::rewrite) rewrite.push_back(f);
    if (rewrite.empty()) return;
    std::string why_not;
    auto p = planner.plan(d.statement, rewrite, plan_context(ctx), why_not);
    if (p && !(p->needs_outside_transaction() && ctx.transactional())) d.plan = std::move(p);
  }

  PlanContext plan_context(const RuleContext& ctx) const {
    return PlanContext{&policy.thresholds, ctx.server_version_num, ctx.facts};
  }

  void plan(StatementDecision& d, const RuleContext& ctx, const PolicyScope* scope, std::optional<Plan> early) const {
    std::vector<Finding> rewrite;
    for (const auto& f : d.findings)
      if (f.action == Outcome::rewrite || (scope && scope->action && f.action != Outcome::pass)) rewrite.push_back(f);
    std::string why_not;
    auto plan = early ? std::move(early)
                      : rewrite.empty() ? std::nullopt : planner.plan(d.statement, rewrite, plan_context(ctx), why_not);
    if (plan && plan->rule_id != kLockTimeoutRule && guards_every_phase(*plan)) {
      // A scope forced the rewrite: the plan satisfies require_lock_timeout here too.
      d.findings.erase(std::remove_if(d.findings.begin(), d.findings.end(),
                                      [](const Finding& f) { return f.rule_id == kLockTimeoutRule; }),
                       d.findings.end());
      d.rule_ids.erase(std::remove(d.rule_ids.begin(), d.rule_ids.end(), kLockTimeoutRule), d.rule_ids.end());
    }
    if (!plan) {
      d.outcome = Outcome::reject;
      Finding f;
      f.rule_id = rewrite.empty() ? std::string("rewrite_unavailable") : rewrite.front().rule_id;
      f.action = Outcome::reject;
      f.message = "no safe rewrite is available: " + (why_not.empty() ? std::string("nothing to rewrite") : why_not);
      if (!rewrite.empty()) {
        f.detail = rewrite.front().detail;
        f.hint = rewrite.front().hint;
      }
      d.findings.insert(d.findings.begin(), f);
      if (d.rule_ids.empty()) d.rule_ids.push_back(f.rule_id);
      return;
    }
    if (plan->needs_outside_transaction() && ctx.transactional()) {
      // The plan cannot start inside the client's transaction; the policy says what happens instead.
      const Outcome a = action_for("concurrently_in_transaction", scope);
      Finding f;
      f.rule_id = "concurrently_in_transaction";
      f.action = a == Outcome::rewrite ? Outcome::reject : a;
      f.message = "the rewrite of " + d.statement.tag + " must run outside a transaction block" +
                  (ctx.in_transaction ? "" : " (this multi-statement string is one)");
      const Phase* blocking = &plan->phases.front();
      for (const auto& ph : plan->phases)
        if (ph.outside_transaction()) {
          blocking = &ph;
          break;
        }
      f.detail = "Phase '" + blocking->description + "' cannot run inside a transaction block.";
      f.hint = std::string(find_rule("concurrently_in_transaction")->alternative) + " " + tool_hint();
      d.findings.insert(d.findings.begin(), f);
      d.outcome = f.action;
      d.rule_ids = {f.rule_id};
      return;
    }
    d.plan = std::move(plan);
  }
};

// Fills a statement's trimmed text and the position of its first character.
void piece_text(std::string_view sql, StatementSpan sp, SourcePos& pos, std::string& out) {
  const std::size_t start = trim(sql, sp, out);
  pos = position_at(sql, start);
}

}  // namespace

BatchDecision PolicyEngine::run(std::string_view sql, const SessionInfo& session, const CatalogFacts* facts,
                                bool script) const {
  BatchDecision out;
  out.enforced = policy_.mode == config::PolicyMode::enforce;
  out.lock_timeout_set_after = session.lock_timeout_set;
  if (!script && !might_change_schema(sql)) {
    out.fast_path = true;
    return out;
  }
  RuleContext ctx;
  ctx.thresholds = &policy_.thresholds;
  ctx.facts = facts;
  ctx.server_version_num = session.server_version_num > 0                     ? session.server_version_num
                           : facts && facts->server_version_num() > 0 ? facts->server_version_num()
                                                                              : 150000;
  ctx.assume_large_tables = facts && facts->assume_large_tables();
  ctx.in_transaction = session.tx_status == 'T' || session.tx_status == 'E';
  ctx.lock_timeout_set = session.lock_timeout_set;
  Decider decider{policy_, *planner_, session, sql};

  auto add = [&](StatementDecision d) {
    out.outcome = max_outcome(out.outcome, d.outcome);
    out.statements.push_back(std::move(d));
  };
  auto judge = [&](const PgQuery__Node* node, std::string_view text, StatementSpan span, std::size_t index) {
    Statement st;
    st.index = index;
    st.span = span;
    piece_text(text, span, st.pos, st.text);
    classify(node, facts, st);
    StatementDecision d = decider.decide(std::move(st), ctx);
    update_context(d.statement, ctx);
    d.statement.node = nullptr;  // the tree is owned by the parse cache; do not let callers keep it
    add(std::move(d));
  };

  const ParseOutcome parsed = parser_->parse(sql);
  if (parsed.batch) {
    const auto* tree = parsed.batch->tree();
    ctx.implicit_transaction = !script && tree->n_stmts > 1;
    for (std::size_t i = 0; i < tree->n_stmts; ++i)
      judge(tree->stmts[i]->stmt, parsed.batch->text(), parsed.batch->span(i), i);
    out.lock_timeout_set_after = ctx.lock_timeout_set;
    return out;
  }

  // The grammar rejected the text. PostgreSQL 15 would execute none of it, but a newer server
  // might accept it, so each piece the scanner finds is judged on its own where possible.
  out.syntax_error = parsed.error;
  const SplitResult split = split_statements(sql);
  ctx.implicit_transaction = !script && split.spans.size() > 1;
  for (std::size_t i = 0; i < split.spans.size(); ++i) {
    const auto sp = split.spans[i];
    const std::string_view piece = sql.substr(sp.offset, sp.length);
    const ParseOutcome one = parser_->parse(piece);
    if (one.batch) {  // usually one statement; none for a comment-only gap
      const auto* t = one.batch->tree();
      for (std::size_t k = 0; k < t->n_stmts; ++k) {
        StatementSpan inner = one.batch->span(k);
        inner.offset += sp.offset;
        judge(t->stmts[k]->stmt, sql, inner, out.statements.size());
      }
      continue;
    }
    StatementDecision d;
    d.statement.index = i;
    d.statement.span = sp;
    piece_text(sql, sp, d.statement.pos, d.statement.text);
    if (d.statement.text.empty()) continue;
    d.statement.node_type = "Unparsable";
    d.statement.tag = "UNPARSABLE";
    d.statement.operation = "unparsable statement";
    SyntaxError e = one.error.value_or(SyntaxError{"syntax error", 0, {}});
    e.offset += sp.offset;
    e.pos = position_at(sql, e.offset);
    d.syntax_error = e;
    if (might_change_schema(piece)) {
      d.statement.klass = StatementClass::ddl;
      const PolicyScope* scope = decider.scope_for(d.statement);
      Finding f;
      f.rule_id = "unparsable";
      f.action = scope && scope->action ? *scope->action : decider.action_for("unparsable", scope);
      f.message = "could not parse a statement that may change the schema: " + e.message;
      f.detail = std::string(find_rule("unparsable")->why);
      f.hint = std::string(find_rule("unparsable")->alternative);
      d.outcome = f.action;
      if (f.action != Outcome::pass) d.rule_ids.push_back(f.rule_id);
      d.findings.push_back(std::move(f));
      decider.explain(d);
    }
    add(std::move(d));
  }
  out.lock_timeout_set_after = ctx.lock_timeout_set;
  return out;
}

std::vector<QualifiedName> PolicyEngine::referenced_tables(std::string_view sql) const {
  std::vector<QualifiedName> out;
  if (!might_change_schema(sql)) return out;
  const ParseOutcome parsed = parser_->parse(sql);
  if (!parsed.batch) return out;
  const auto* tree = parsed.batch->tree();
  for (std::size_t i = 0; i < tree->n_stmts; ++i) {
    Statement st;
    classify(tree->stmts[i]->stmt, nullptr, st);
    if (!is_schema_changing(st.klass)) continue;
    for (const auto& o : st.objects) {
      if (o.created || (o.kind != "table" && o.kind != "materialized view")) continue;
      QualifiedName q{o.schema, o.name};
      if (std::none_of(out.begin(), out.end(), [&](const QualifiedName& x) { return x.schema == q.schema && x.name == q.name; }))
        out.push_back(std::move(q));
    }
  }
  return out;
}

std::vector<config::ConfigError> validate_policy(const config::Policy& policy) {
  std::vector<config::ConfigError> errors;
  const std::string prefix = policy.key_prefix.empty() ? "" : policy.key_prefix + ".";
  auto check = [&](const std::map<std::string, Outcome>& rules, const std::map<std::string, int>& lines,
                   const std::string& path) {
    for (const auto& [id, action] : rules) {
      if (find_rule(id)) continue;
      const auto it = lines.find(id);
      errors.push_back({path + "." + id, it == lines.end() ? 0 : it->second,
                        "unknown rule id (see docs/rules.md for the catalogue)"});
    }
  };
  check(policy.rules, policy.rule_lines, prefix + "rules");
  for (std::size_t i = 0; i < policy.scopes.size(); ++i)
    check(policy.scopes[i].rules, policy.scopes[i].rule_lines, prefix + "scopes[" + std::to_string(i) + "].rules");
  return errors;
}

config::PolicyLoadResult load_policy_file(const std::string& path) {
  auto r = config::load_policy_file(path);
  for (auto& e : validate_policy(r.policy)) r.errors.push_back(std::move(e));
  return r;
}

config::PolicyLoadResult load_policy_text(const std::string& yaml_text) {
  auto r = config::load_policy_text(yaml_text);
  for (auto& e : validate_policy(r.policy)) r.errors.push_back(std::move(e));
  return r;
}

}  // namespace schemagate::policy
