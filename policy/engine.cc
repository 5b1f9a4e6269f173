#include "policy/engine.h"

#include <pg_query/pg_query.pb-c.h>

#include <algorithm>
#include <cctype>

#include "policy/bodies.h"
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

template <typename Judge, typename Action>
void judge_body(StatementDecision& d, const RuleContext& outer, int depth, const Judge& judge, const Action& action) {
  const std::optional<Body> body = extract_body(d.statement.node);
  if (!body) return;
  const bool is_do = body->kind == Body::Kind::do_block;
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
  const RuleInfo* dyn = find_rule("dynamic_sql");
  for (const auto& site : body->dynamic)
    add("dynamic_sql", action("dynamic_sql"),
        site.construct + " of a string built at run time " + where +
            (site.line ? " (body line " + std::to_string(site.line) + ")" : std::string()) + ": " + site.expression,
        std::string(dyn->facts), std::string(dyn->alternative));

  const RuleInfo* fbd = find_rule("function_body_ddl");
  for (const auto& sql : body->statements) {
    SyntaxError err;
    const auto batch = ParsedBatch::parse(sql.text, &err);
    const std::string via = sql.source == BodySql::Source::constant_execute ? " via EXECUTE" : "";
    if (!batch) {
      opaque("has a statement" + via + " that does not parse (body line " + std::to_string(sql.line) +
             "): " + err.message);
      continue;
    }
    for (std::size_t k = 0; k < batch->tree()->n_stmts; ++k) {
      Statement st;
      st.index = k;
      st.span = batch->span(k);
      const std::size_t start = trim(batch->text(), st.span, st.text);
      const int line = sql.line ? sql.line + position_at(batch->text(), start).line - 1 : 0;
      classify(batch->tree()->stmts[k]->stmt, ctx.facts, st);
      const StatementDecision in = judge(std::move(st), ctx, depth + 1);
      update_context(in.statement, ctx);
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
      const std::string by = in.rule_ids.empty() ? std::string(" by policy") : " by rule " + join_ids(in.rule_ids);
      add("function_body_ddl", in.outcome == Outcome::reject ? Outcome::reject : action("function_body_ddl"),
          at + " would be " + would_be(in.outcome) + by + (lead ? ": " + lead->message : std::string()),
          lead ? lead->detail : std::string(fbd->facts), std::string(fbd->alternative));
    }
  }
}

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

  // `body_depth` > 0: a statement inside a DO block or function body (judge_body); it is judged
  // like any other but never planned, because nothing inside a body can be rewritten.
  StatementDecision decide(Statement st, const RuleContext& ctx, int body_depth = 0) const {
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
    judge_body(
        d, ctx, body_depth,
        [this](Statement inner, const RuleContext& c, int depth) { return decide(std::move(inner), c, depth); },
        [&](const std::string& id) { return action_for(id, scope); });
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

// The identity the statements start with: the live one when the proxy has read it.
SessionInfo with_live_identity(const SessionInfo& s, const CatalogFacts* facts) {
  SessionInfo who = s;
  if (const auto id = facts ? facts->identity() : std::nullopt) {
    who.role = id->current_role;
    who.roles = id->member_of;
  }
  return who;
}

std::string set_value(const PgQuery__VariableSetStmt* v) {
  if (v->n_args != 1 || !v->args[0] || v->args[0]->node_case != PG_QUERY__NODE__NODE_A_CONST) return {};
  const auto* c = v->args[0]->a_const;
  return c->val_case == PG_QUERY__A__CONST__VAL_SVAL && c->sval && c->sval->sval ? c->sval->sval : "";
}

// SET [LOCAL] ROLE, RESET ROLE and SET SESSION AUTHORIZATION earlier in the same message change
// whose scope applies to the statements after them (the server runs them as that role).
void follow_role_change(const Statement& st, SessionInfo& who, std::string& session_user) {
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
  who.role = role;
  who.roles.clear();  // the new role's memberships are not known
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
  if (!script && !might_change_schema(sql)) {
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
  std::string session_user = session.role.empty() ? session.user : session.role;
  Decider decider{policy_, *planner_, who, sql};

  auto add = [&](StatementDecision d) {
    // Statement spans are in the client's bytes; texts are what the server executes (UTF-8).
    d.statement.span = server.to_client(d.statement.span);
    if (server.converted) keep_runnable_as_written(d, lexical.encoding);
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
    follow_role_change(d.statement, who, session_user);
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

std::vector<QualifiedName> PolicyEngine::referenced_tables(std::string_view client_sql,
                                                           const LexicalSettings& lexical) const {
  std::vector<QualifiedName> out;
  if (!might_change_schema(client_sql)) return out;
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
    if (!is_schema_changing(st.klass)) continue;
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
