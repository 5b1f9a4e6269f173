#include "proxy/policy_interceptor.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdio>

#include <nlohmann/json.hpp>
#include <string_view>

#include "policy/engine.h"
#include "policy/pre_classifier.h"
#include "policy/sql_parser.h"
#include "protocol/frontend.h"
#include "protocol/tags.h"

namespace schemagate::proxy {

namespace tag = protocol::tag;
using policy::Outcome;

namespace {

// The server's own report of how it reads text; before its first report, its defaults.
policy::LexicalSettings lexical_settings(const SessionState& s) {
  policy::LexicalSettings l;
  l.standard_conforming_strings = s.parameter("standard_conforming_strings") != "off";
  l.encoding = policy::client_encoding_named(s.parameter("client_encoding"));
  return l;
}

policy::SessionInfo session_info(const SessionState& s) {
  policy::SessionInfo info;
  info.user = s.user;
  info.database = s.database;
  info.application_name = s.application_name;
  info.client_addr = s.client_addr;
  info.tx_status = s.tx_status;
  info.server_version_num = server_version_num(s.parameter("server_version"));
  info.lock_timeout_set = s.lock_timeout_set;
  // The session user as the server reports it (changed by SET SESSION AUTHORIZATION).
  if (const auto& auth = s.parameter("session_authorization"); !auth.empty() && auth != s.user) info.role = auth;
  info.lexical = lexical_settings(s);
  info.replies_pending = s.replies_pending;
  info.exclusive_lock_held = s.exclusive_lock_held;
  info.time_zone = s.parameter("TimeZone");
  return info;
}

void append_notice(std::vector<std::byte>& out, const policy::StatementDecision& d) {
  // The engine's message already names schemagate and the rule.
  protocol::write_error_response(out, protocol::ErrorFields{"WARNING", "01000", d.message, d.detail, d.hint},
                                 tag::kNoticeResponse);
}

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

/// Everything an approver needs to judge a held statement without a database at hand.
Hold make_hold(const policy::StatementDecision& d, const std::string& rule, const policy::CatalogFacts* facts) {
  using json = nlohmann::json;
  Hold h;
  h.statement = d.statement.text;
  h.normalized = policy::normalize(d.statement.text).value_or(d.statement.text);
  h.canonical = policy::canonical_statement(d.statement.text);
  h.fingerprint = d.fingerprint ? hex64(*d.fingerprint) : "";
  h.command_tag = d.statement.tag;
  h.rule_id = rule;
  h.message = d.message;
  h.detail = d.detail;
  h.hint = d.hint;
  json rules = json::array();
  for (const auto& f : d.findings)
    rules.push_back({{"id", f.rule_id},
                     {"action", policy::outcome_name(f.action)},
                     {"message", f.message},
                     {"detail", f.detail},
                     {"hint", f.hint}});
  h.rules_json = rules.dump(-1, ' ', false, json::error_handler_t::replace);
  json objects = json::array();
  for (const auto& o : d.statement.objects) {
    json obj = {{"kind", o.kind}, {"name", o.display()}, {"lock", policy::lock_name(o.lock)}, {"created", o.created}};
    if (o.kind == "table" && !o.created) {
      const policy::QualifiedName t{o.schema, o.name};
      h.tables.push_back(t);
      if (facts)
        if (const auto size = facts->table_size(t)) {
          obj["estimated_rows"] = size->rows;
          obj["total_bytes"] = size->bytes;
        }
    }
    objects.push_back(std::move(obj));
  }
  const json fj = {{"operation", d.statement.operation},
                   {"lock", policy::lock_name(d.statement.lock)},
                   {"lock_effect", policy::lock_effect(d.statement.lock)},
                   {"rewrites_table", d.statement.rewrites_table},
                   {"scans_table", d.statement.scans_table},
                   {"scope", d.scope},
                   {"objects", objects}};
  h.facts_json = fj.dump(-1, ' ', false, json::error_handler_t::replace);
  if (d.plan) {
    h.plan = std::make_shared<policy::Plan>(*d.plan);
    h.plan_announcement = "schemagate: " + d.statement.tag + " approved: running it as a phased rewrite (rule " +
                          d.plan->rule_id + ", " + std::to_string(d.plan->phases.size()) + " phases)";
  }
  return h;
}

Judgement judgement_of(const policy::StatementDecision& d, bool enforced) {
  Judgement j;
  j.command_tag = d.statement.tag;
  j.normalized = policy::normalize(d.statement.text).value_or(d.statement.text);
  j.fingerprint = d.fingerprint ? hex64(*d.fingerprint) : "";
  j.outcome = d.outcome;
  j.enforced = enforced;
  j.rule = d.rule_ids.empty() ? std::string("default_action") : d.rule_ids.front();
  for (const auto& f : d.findings) j.matched.push_back(f.rule_id);
  if (d.outcome != Outcome::pass) j.message = d.message;
  j.scope = d.scope;
  for (const auto& o : d.statement.objects)
    if (!o.created && o.lock == policy::LockLevel::access_exclusive && (o.kind == "table" || o.kind == "materialized view"))
      j.exclusive_lock = true;
  return j;
}

}  // namespace

int server_version_num(const std::string& v) {
  int major = 0, minor = 0;
  const char* p = v.data();
  const char* end = v.data() + v.size();
  auto r = std::from_chars(p, end, major);
  if (r.ec != std::errc{} || major <= 0) return 0;
  if (r.ptr < end && *r.ptr == '.') std::from_chars(r.ptr + 1, end, minor);
  return major >= 10 ? major * 10000 + minor : 0;
}

InterceptorStats PolicyInterceptor::stats() const {
  const auto s = engine_->cache_stats();
  return {s.hits, s.misses};
}

PolicyInterceptor::PolicyInterceptor(std::shared_ptr<const policy::PolicyEngine> engine) : engine_(std::move(engine)) {}

Verdict PolicyInterceptor::on_request(const RequestView& request, const SessionState& session,
                                      const policy::CatalogFacts* facts, Judged& judged) const {
  judged = {};
  if (facts == nullptr) {
    // First pass. The hot path ends here: a request whose SQL is all ordinary DML is forwarded
    // after one pre-classifier scan. Otherwise ask for the live facts of the existing tables
    // the SQL names (in a failed transaction block nothing can be read: judge without them).
    bool schema_changing = false;
    bool settle = false;
    NeedFacts need;
    for (std::size_t i = 0; i < request.frame_count(); ++i) {
      const std::string_view sql = protocol::statement_sql(request.frame(i));
      if (sql.empty() || !(policy::might_change_schema(sql) || session.exclusive_lock_held)) continue;
      schema_changing = true;
      // A text whose reading depends on settings that a reply still due may change: wait for
      // the replies (the facts round trip does), then judge it under the settings in force.
      settle = settle || (session.replies_pending && policy::reading_depends_on_settings(sql));
      if (session.tx_status == 'E') continue;
      for (auto& t : engine_->referenced_tables(sql, lexical_settings(session), session.exclusive_lock_held))
        need.tables.push_back(std::move(t));
    }
    if (!schema_changing) return Forward{};
    judged.parsed = true;
    // Scopes that name users or roles follow the role the server runs the statement as, which
    // SET ROLE (or set_config, or a function) may have changed: ask the server.
    need.identity = engine_->scopes_match_identity() && session.tx_status != 'E';
    if (!need.tables.empty() || settle || need.identity) return need;
  }
  Verdict verdict = Forward{};
  std::vector<std::byte> notices;
  std::optional<bool> lock_timeout_set;
  auto info = session_info(session);
  bool earlier_sql = false;
  for (std::size_t i = 0; i < request.frame_count(); ++i) {
    const std::string_view sql = protocol::statement_sql(request.frame(i));
    if (sql.empty()) continue;
    // A later Parse of the same request runs after the earlier ones have executed: they may
    // change the settings before the server reads it.
    info.replies_pending = session.replies_pending || earlier_sql;
    earlier_sql = true;
    if (!session.exclusive_lock_held && !policy::might_change_schema(sql)) continue;  // the hot path: ordinary DML

    judged.parsed = true;
    const auto batch = engine_->evaluate(sql, info, facts);
    if (batch.lock_timeout_set_after != session.lock_timeout_set) lock_timeout_set = batch.lock_timeout_set_after;
    for (const auto& st : batch.statements)
      if (policy::is_schema_changing(st.statement.klass) || st.outcome != Outcome::pass)
        judged.statements.push_back(judgement_of(st, batch.enforced));
    if (batch.outcome == Outcome::pass) continue;
    const int at = batch.decisive_index();
    if (at < 0) continue;
    const auto& d = batch.statements[static_cast<std::size_t>(at)];
    const std::string rule = d.rule_ids.empty() ? std::string("default_action") : d.rule_ids.front();
    if (!batch.enforced) {
      spdlog::info("[{}] observe: {} would be {} by rule {} (user={} database={})", session.id, d.statement.tag,
                   policy::outcome_name(batch.outcome), rule, session.user, session.database);
      continue;
    }
    spdlog::info("[{}] policy: {} {} by rule {} (user={} database={})", session.id, d.statement.tag,
                 policy::outcome_name(batch.outcome), rule, session.user, session.database);
    switch (batch.outcome) {
      case Outcome::pass:
        break;
      case Outcome::warn:
        append_notice(notices, d);
        break;
      case Outcome::reject:
        return respond_error(d.sqlstate.empty() ? policy::kSqlStateRejected : d.sqlstate, d.message, d.detail, d.hint);
      case Outcome::rewrite:
        if (d.plan) {
          auto plan = std::make_shared<policy::Plan>(*d.plan);
          verdict = RunPlan{std::move(plan), d.statement.tag, d.message, d.statement.text};
        } else {
          return respond_error(policy::kSqlStateRejected, d.message, d.detail, d.hint);
        }
        break;
      case Outcome::hold:
        verdict = make_hold(d, rule, facts);
        break;
    }
  }
  if (auto* fwd = std::get_if<Forward>(&verdict)) {
    fwd->notices = std::move(notices);
    fwd->lock_timeout_set = lock_timeout_set;
  }
  return verdict;
}

}  // namespace schemagate::proxy
