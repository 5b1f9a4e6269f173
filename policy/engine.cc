#include "policy/engine.h"

#include <pg_query/pg_query.pb-c.h>

#include <algorithm>
#include <cctype>

#include "policy/body_judge.h"
#include "policy/classifier.h"
#include "policy/message_split.h"
#include "policy/migration_tools.h"
#include "policy/pre_classifier.h"
#include "policy/rules.h"
#include "policy/session_effects.h"
#include "policy/transaction_rules.h"

namespace schemagate::policy {

namespace {

using config::PolicyScope;

bool contains(const std::vector<std::string>& list, std::string_view v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

// Scopes follow the role statements run as (after SET ROLE / SET SESSION AUTHORIZATION), not
// the name the client logged in with: that is whose privileges the server applies.
bool scope_matches(const PolicyScope& sc, const SessionInfo& who, const Statement& s) {
  const auto& m = sc.match;
  const std::string& role = who.role.empty() ? who.user : who.role;
  if (!m.users.empty() && !contains(m.users, role)) return false;
  if (!m.roles.empty()) {
    bool any = contains(m.roles, role);
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

  const PolicyScope* scope_for(const Statement& s) const { return scope_for(s, session); }
  const PolicyScope* scope_for(const Statement& s, const SessionInfo& who) const {
    for (const auto& sc : policy.scopes)
      if (scope_matches(sc, who, s)) return &sc;
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
      case Outcome::rewrite: {
        const std::size_t own = d.plan ? d.plan->own_phase_count() : 0;
        const std::size_t around = d.plan ? d.plan->phases.size() - own : 0;
        d.message = "schemagate: " + s.tag + " rewritten by rule " + who + " (" + std::to_string(own) + " phase" +
                    (own == 1 ? "" : "s") +
                    (around ? "; the message's " + std::to_string(around) + " other statement" +
                                  (around == 1 ? " runs" : "s run") + " as written, in order"
                            : "") +
                    ")";
        break;
      }
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

  // `body_depth` > 0: a statement inside a DO block or function body (judge_body); it is judged
  // like any other but never planned, because nothing inside a body can be rewritten.
  // `as`: the role a body statement runs as after a SET ROLE inside the body (else the session's).
  StatementDecision decide(Statement st, const RuleContext& ctx, int body_depth = 0, const SessionInfo* as = nullptr) const {
    const SessionInfo& who = as ? *as : session;
    StatementDecision d;
    d.statement = std::move(st);
    const Statement& s = d.statement;
    const bool governed = is_schema_changing(s.klass);
    if (governed) d.fingerprint = fingerprint(s.text);
    d.findings = check_rules(s, ctx);
    const PolicyScope* scope = scope_for(s, who);
    if (scope) d.scope = scope->name.empty() ? "#" + std::to_string(scope - policy.scopes.data()) : scope->name;
    for (auto& f : d.findings) f.action = action_for(f.rule_id, scope);
    for (auto& f : d.findings)
      if (is_tx_rule(f.rule_id)) f.hint += " " + tool_hint();
    judge_body(
        d, ctx, body_depth,
        [this](Statement inner, const RuleContext& c, int depth, const SessionInfo& as_role) {
          return decide(std::move(inner), c, depth, &as_role);
        },
        [&](const std::string& id) { return action_for(id, scope); }, who);
    const bool forced = governed && scope && scope->action;
    std::optional<Plan> early = forced || body_depth > 0 ? std::nullopt : plan_guarding_lock_timeout(d, ctx);

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
    if (d.outcome == Outcome::rewrite && body_depth == 0) plan(d, ctx, scope, std::move(early));
    if (d.outcome == Outcome::hold && body_depth == 0) plan_after_approval(d, ctx);
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
    if (p && p->needs_outside_transaction() && deferrable_to_commit(ctx)) defer_to_commit(*p);
    if (p && !(p->needs_outside_transaction() && ctx.transactional())) d.plan = std::move(p);
  }

  // The lone schema change of a message whose other statements are read-only queries, judged as
  // if it were alone (they will run apart from it): its decision when that gives it a plan to run,
  // else nullopt. A statement PostgreSQL refuses in a transaction block that the policy passes
  // (CONCURRENTLY, VACUUM) gets a plan of its own: the statement, under lock_timeout.
  std::optional<StatementDecision> decide_apart(const Statement& st, const RuleContext& ctx) const {
    RuleContext alone = ctx;
    alone.implicit_transaction = false;
    StatementDecision d = decide(st, alone);
    if (!d.plan && !d.statement.allowed_in_transaction && (d.outcome == Outcome::pass || d.outcome == Outcome::warn)) {
      const std::string rule = d.statement.concurrent ? "concurrently_in_transaction" : "transaction_block_forbidden";
      Finding f;
      f.rule_id = std::string(kLockTimeoutRule);
      f.action = Outcome::rewrite;
      std::string why_not;
      auto p = planner.plan(d.statement, {f}, plan_context(alone), why_not);
      if (!p) return std::nullopt;
      p->rule_id = rule;
      f.rule_id = rule;
      f.message = d.statement.operation + " cannot run inside the implicit transaction of a multi-statement message; "
                  "it runs on its own, between the message's other statements";
      d.findings.insert(d.findings.begin(), f);
      d.rule_ids = {rule};
      d.outcome = Outcome::rewrite;
      d.plan = std::move(p);
    }
    if (!d.plan) return std::nullopt;
    return d;
  }

  // A plan for one statement of a multi-statement message that is not split cannot run: it would
  // take the place of the whole message. A rewrite is refused; a held statement runs as written
  // (with its message) once approved.
  void keep_in_message(StatementDecision& d) const {
    if (!d.plan) return;
    const Plan plan = std::move(*d.plan);
    d.plan.reset();
    if (d.outcome != Outcome::rewrite) return;
    Finding f;
    f.rule_id = plan.rule_id;
    f.action = Outcome::reject;
    f.message = "it must run as a phased rewrite, and it shares its message with statements that are not read-only "
                "queries";
    f.detail = "The plan (" + plan.summary + ") would run in place of the whole message.";
    f.hint = "Send it in a message of its own; read-only queries (SELECT, SHOW) may share its message.";
    d.findings.insert(d.findings.begin(), f);
    d.outcome = Outcome::reject;
    d.rule_ids = {f.rule_id};
    explain(d);
    d.sqlstate = kSqlStateRejected;
  }

  // Only a transaction block the client opened has a COMMIT the proxy can wait for; a
  // multi-statement string commits with its last statement.
  static bool deferrable_to_commit(const RuleContext& ctx) { return ctx.in_transaction && !ctx.implicit_transaction; }

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
    // Inside an explicit transaction a trailing VALIDATE waits for the client's COMMIT.
    if (plan->needs_outside_transaction() && deferrable_to_commit(ctx)) defer_to_commit(*plan);
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
  const std::size_t start = trim_statement(sql, sp, out);
  pos = position_at(sql, start);
}

// A text the proxy cannot read the way the server will: one statement, refused by
// unreadable_text (or whatever the policy says for it).
BatchDecision unreadable(const Decider& decider, std::string_view sql, std::string message, std::string detail,
                         bool enforced) {
  BatchDecision out;
  out.enforced = enforced;
  StatementDecision d;
  piece_text(sql, StatementSpan{0, sql.size()}, d.statement.pos, d.statement.text);
  d.statement.span = StatementSpan{0, sql.size()};
  d.statement.node_type = "Unreadable";
  d.statement.tag = "UNREADABLE";
  d.statement.operation = "text read differently by the server";
  d.statement.klass = StatementClass::ddl;
  const PolicyScope* scope = decider.scope_for(d.statement);
  const RuleInfo* rule = find_rule("unreadable_text");
  Finding f;
  f.rule_id = "unreadable_text";
  f.action = scope && scope->action ? *scope->action : decider.action_for(f.rule_id, scope);
  f.message = std::move(message);
  f.detail = std::move(detail);
  f.hint = std::string(rule->alternative);
  d.outcome = f.action;
  if (f.action != Outcome::pass) d.rule_ids.push_back(f.rule_id);
  d.findings.push_back(std::move(f));
  decider.explain(d);
  out.outcome = d.outcome;
  out.statements.push_back(std::move(d));
  return out;
}

// A multi-statement message: the split statement's plan runs the others, as the client wrote
// them, before and after its own phases; any other plan cannot run (keep_in_message).
void settle_shared_message(BatchDecision& out, int split_at, std::string_view client_sql, const Decider& decider) {
  std::vector<std::string> before, after;
  for (std::size_t i = 0; i < out.statements.size(); ++i) {
    auto& d = out.statements[i];
    if (static_cast<int>(i) == split_at) continue;
    if (split_at >= 0 && !d.statement.text.empty()) {
      std::string_view text = client_sql.substr(d.statement.span.offset, d.statement.span.length);
      while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
      while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
      (static_cast<int>(i) < split_at ? before : after).emplace_back(text);
    }
    decider.keep_in_message(d);
  }
  if (split_at >= 0) {
    auto& d = out.statements[static_cast<std::size_t>(split_at)];
    split_message(*d.plan, before, after);
    decider.explain(d);
  }
  out.outcome = Outcome::pass;
  for (const auto& d : out.statements) out.outcome = max_outcome(out.outcome, d.outcome);
}

}  // namespace

bool PolicyEngine::scopes_match_identity() const {
  return std::any_of(policy_.scopes.begin(), policy_.scopes.end(),
                     [](const PolicyScope& sc) { return !sc.match.users.empty() || !sc.match.roles.empty(); });
}

BatchDecision PolicyEngine::run(std::string_view sql, const SessionInfo& session, const CatalogFacts* facts,
                                bool script) const {
  // The pre-classifier reads every setting conservatively (any backslash where a setting could
  // matter sends the text here), so the fast path holds whatever the session's settings are.
  if (!script && !session.exclusive_lock_held && !might_change_schema(sql)) {
    BatchDecision out;
    out.enforced = policy_.mode == config::PolicyMode::enforce;
    out.lock_timeout_set_after = session.lock_timeout_set;
    out.fast_path = true;
    return out;
  }
  if (!session.replies_pending || !reading_depends_on_settings(sql))
    return read_and_judge(sql, session, facts, script, session.lexical);
  // A SET of standard_conforming_strings or client_encoding may be in flight: judge every
  // reading the server could apply. If they agree, the current one stands; if not, nobody can
  // know which statements the server will run, so the text is refused.
  const auto readings = possible_readings(sql, session.lexical);
  BatchDecision current = read_and_judge(sql, session, facts, script, readings.front());
  for (std::size_t i = 1; i < readings.size(); ++i) {
    const BatchDecision other = read_and_judge(sql, session, facts, script, readings[i]);
    if (same_reading(current, other)) continue;
    Decider decider{policy_, *planner_, session, sql};
    return unreadable(decider, sql,
                      "the text reads differently under " + describe(readings[i]) + " than under " +
                          describe(readings.front()) + ", and an earlier request that may change them is still unanswered",
                      std::string(find_rule("unreadable_text")->why), current.enforced);
  }
  return current;
}

BatchDecision PolicyEngine::read_and_judge(std::string_view client_sql, const SessionInfo& session,
                                           const CatalogFacts* facts, bool script,
                                           const LexicalSettings& lexical) const {
  const ServerText server = to_server_text(client_sql, lexical.encoding);
  const bool enforced = policy_.mode == config::PolicyMode::enforce;
  if (server.error) {
    Decider decider{policy_, *planner_, session, client_sql};
    return unreadable(decider, client_sql, "the text is not valid in client_encoding " +
                                               std::string(encoding_name(lexical.encoding)) + ": " + *server.error,
                      "PostgreSQL refuses a message it cannot convert to the server encoding.", enforced);
  }
  // PostgreSQL's lexer reads the converted text under the session's string syntax.
  const StringSyntaxScope string_syntax(lexical.standard_conforming_strings);
  const std::string_view sql = server.text;

  BatchDecision out;
  out.enforced = enforced;
  out.lock_timeout_set_after = session.lock_timeout_set;
  RuleContext ctx;
  ctx.thresholds = &policy_.thresholds;
  ctx.facts = facts;
  ctx.server_version_num = session.server_version_num > 0                     ? session.server_version_num
                           : facts && facts->server_version_num() > 0 ? facts->server_version_num()
                                                                              : 150000;
  ctx.assume_large_tables = facts && facts->assume_large_tables();
  ctx.in_transaction = session.tx_status == 'T' || session.tx_status == 'E';
  ctx.lock_timeout_set = session.lock_timeout_set;
  // Tables an earlier message of this transaction created are as new as ones created in this
  // message: nobody else sees them yet.
  if (facts)
    for (const auto& t : facts->created_in_transaction()) {
      std::string key = t.schema.empty() ? t.name : t.schema + "." + t.name;
      for (auto& ch : key) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      ctx.created_tables.insert(std::move(key));
    }
  SessionInfo who = with_live_identity(session, facts);
  const SessionInfo start_who = who;
  std::string session_user = session.role.empty() ? session.user : session.role;
  Decider decider{policy_, *planner_, who, sql};

  auto add = [&](StatementDecision d) {
    // Statement spans are in the client's bytes; texts are what the server executes (UTF-8).
    d.statement.span = server.to_client(d.statement.span);
    if (server.converted) keep_runnable_as_written(d, lexical.encoding);
    out.outcome = max_outcome(out.outcome, d.outcome);
    out.statements.push_back(std::move(d));
  };
  int split_at = -1;  // the statement whose plan runs the message's other statements around it
  auto judge = [&](const PgQuery__Node* node, std::string_view text, StatementSpan span, std::size_t index,
                   bool apart = false, std::string_view time_zone = {}) {
    Statement st;
    st.index = index;
    st.span = span;
    piece_text(text, span, st.pos, st.text);
    ctx.time_zone = std::string(time_zone);
    classify(node, facts, st, time_zone);
    std::optional<StatementDecision> alone = apart ? decider.decide_apart(st, ctx) : std::nullopt;
    if (alone) split_at = static_cast<int>(out.statements.size());
    StatementDecision d = alone ? std::move(*alone) : decider.decide(std::move(st), ctx);
    update_context(d.statement, ctx);
    follow_role_change(d.statement, who, session_user, start_who);
    d.statement.node = nullptr;  // the tree is owned by the parse cache; do not let callers keep it
    add(std::move(d));
  };

  const ParseOutcome parsed = parser_->parse(sql);
  if (parsed.batch && session.tx_status == 'E' && !session.replies_pending &&
      !leaves_failed_transaction(parsed.batch->tree())) {
    // In a failed transaction block PostgreSQL refuses every statement but the ones that end it,
    // and a message stops at its first error: none of this runs, so nothing is stopped. (Not
    // while earlier requests are unanswered: one of them may be the ROLLBACK.)
    return out;
  }
  if (parsed.batch) {
    const auto* tree = parsed.batch->tree();
    ctx.implicit_transaction = !script && tree->n_stmts > 1;
    const int lone = ctx.implicit_transaction && session.tx_status == 'I' ? lone_schema_change(tree, facts) : -1;
    // The session's TimeZone (settled: the facts round trip waited for every reply) holds for a
    // statement nothing before it in the message may change it for.
    const bool zone_known = !script && !session.replies_pending && !session.time_zone.empty();
    for (std::size_t i = 0; i < tree->n_stmts; ++i) {
      const std::string_view zone =
          zone_known && time_zone_unchanged_before(tree, i) ? std::string_view(session.time_zone) : std::string_view();
      judge(tree->stmts[i]->stmt, parsed.batch->text(), parsed.batch->span(i), i, static_cast<int>(i) == lone, zone);
    }
    if (ctx.implicit_transaction) settle_shared_message(out, split_at, client_sql, decider);
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
  if (ctx.implicit_transaction) settle_shared_message(out, -1, client_sql, decider);
  out.lock_timeout_set_after = ctx.lock_timeout_set;
  return out;
}

std::vector<QualifiedName> PolicyEngine::referenced_tables(std::string_view client_sql, const LexicalSettings& lexical,
                                                           bool include_dml) const {
  std::vector<QualifiedName> out;
  if (!include_dml && !might_change_schema(client_sql)) return out;
  const ServerText server = to_server_text(client_sql, lexical.encoding);
  if (server.error) return out;
  const StringSyntaxScope string_syntax(lexical.standard_conforming_strings);
  // The catalog query is written in UTF-8: a name with other characters cannot be spelled in a
  // client-only encoding, so its facts stay unknown (and the rules assume a large table).
  auto spellable = [&](const std::string& name) {
    return !server.converted || std::none_of(name.begin(), name.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
  };
  const ParseOutcome parsed = parser_->parse(server.text);
  if (!parsed.batch) return out;
  const auto* tree = parsed.batch->tree();
  for (std::size_t i = 0; i < tree->n_stmts; ++i) {
    Statement st;
    classify(tree->stmts[i]->stmt, nullptr, st);
    if (!is_schema_changing(st.klass)) {
      // Ordinary DML matters only where it runs over a whole table (transaction_rules.h).
      auto run = include_dml ? whole_table_run(st, nullptr) : std::nullopt;
      if (!run) continue;
      st.objects = {std::move(run->table)};
    }
    for (const auto& o : st.objects) {
      if (o.created || (o.kind != "table" && o.kind != "materialized view")) continue;
      if (!spellable(o.schema) || !spellable(o.name)) continue;
      QualifiedName q{o.schema, o.name};
      if (std::none_of(out.begin(), out.end(), [&](const QualifiedName& x) { return x.schema == q.schema && x.name == q.name; }))
        out.push_back(std::move(q));
    }
  }
  return out;
}

}  // namespace schemagate::policy
