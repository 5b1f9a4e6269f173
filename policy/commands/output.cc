#include "policy/commands/output.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "config/loader.h"

namespace schemagate::policy::commands {

using nlohmann::json;

namespace {

bool take_value(const std::vector<std::string>& args, std::size_t& i, std::string& out, std::string& error) {
  const std::string& a = args[i];
  if (const auto eq = a.find('='); eq != std::string::npos) {
    out = a.substr(eq + 1);
    return true;
  }
  if (i + 1 >= args.size()) {
    error = "option " + a + " needs a value";
    return false;
  }
  out = args[++i];
  return true;
}

std::string opt_name(const std::string& a) {
  const auto eq = a.find('=');
  return eq == std::string::npos ? a : a.substr(0, eq);
}

}  // namespace

bool parse_common(const std::vector<std::string>& args, bool explain, CommonOptions& out, std::string& error) {
  bool only_positional = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (only_positional || a.empty() || a[0] != '-' || a == "-") {
      out.positional.push_back(a);
      continue;
    }
    const std::string name = opt_name(a);
    std::string v;
    if (a == "--") {
      only_positional = true;
    } else if (name == "--config") {
      if (!take_value(args, i, out.config_file, error)) return false;
    } else if (name == "--policy") {
      if (!take_value(args, i, out.policy_file, error)) return false;
    } else if (name == "--format") {
      if (!take_value(args, i, out.format, error)) return false;
      const bool ok = out.format == "text" || out.format == "json" || (!explain && out.format == "github");
      if (!ok) {
        error = "unknown --format '" + out.format + "' (use text, json" + (explain ? "" : " or github") + ")";
        return false;
      }
    } else if (name == "--pg-version") {
      if (!take_value(args, i, v, error)) return false;
      out.facts.server_version_num = parse_pg_version(v);
      if (out.facts.server_version_num < 90000) {
        error = "bad --pg-version '" + v + "' (use e.g. 15 or 12.4)";
        return false;
      }
    } else if (name == "--assume-large-tables") {
      out.facts.assume_large_tables = true;
    } else if (name == "--table-rows") {
      if (!take_value(args, i, v, error)) return false;
      std::int64_t n = 0;
      const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc{} || p != v.data() + v.size() || n < 0) {
        error = "bad --table-rows '" + v + "'";
        return false;
      }
      out.facts.table_rows = n;
    } else if (name == "--in-transaction" && explain) {
      out.in_transaction = true;
    } else if (name == "--user") {
      if (!take_value(args, i, out.user, error)) return false;
    } else if (name == "--database") {
      if (!take_value(args, i, out.database, error)) return false;
    } else if (name == "--application-name") {
      if (!take_value(args, i, out.application_name, error)) return false;
    } else {
      error = "unknown option " + a;
      return false;
    }
  }
  if (!out.config_file.empty() && !out.policy_file.empty()) {
    error = "use either --config or --policy, not both";
    return false;
  }
  return true;
}

std::optional<config::Policy> load_policy(const CommonOptions& o, std::vector<std::string>& errors) {
  std::string policy_path = o.policy_file;
  if (!o.config_file.empty()) {
    const auto c = config::load_config_file(o.config_file);
    if (!c.ok()) {
      for (const auto& e : c.errors) errors.push_back(o.config_file + ": " + e.to_string());
      return std::nullopt;
    }
    const auto& ref = c.config.policy;
    if (ref.inline_policy) {
      auto errs = validate_policy(*ref.inline_policy);
      for (const auto& e : errs) errors.push_back(o.config_file + ": " + e.to_string());
      if (!errs.empty()) return std::nullopt;
      config::Policy p = *ref.inline_policy;
      if (ref.mode) p.mode = *ref.mode;
      return p;
    }
    if (ref.file.empty()) {
      config::Policy p;
      if (ref.mode) p.mode = *ref.mode;
      return p;
    }
    policy_path = ref.file;
    // A relative policy path is relative to the config file's directory.
    if (!policy_path.empty() && policy_path[0] != '/') {
      const auto slash = o.config_file.rfind('/');
      if (slash != std::string::npos) policy_path = o.config_file.substr(0, slash + 1) + policy_path;
    }
  }
  if (policy_path.empty()) return config::Policy{};
  auto r = policy::load_policy_file(policy_path);
  if (!r.ok()) {
    for (const auto& e : r.errors) errors.push_back(policy_path + ": " + e.to_string());
    return std::nullopt;
  }
  return r.policy;
}

namespace {

json plan_json(const Plan& p) {
  json phases = json::array();
  for (const auto& ph : p.phases)
    phases.push_back({{"description", ph.description},
                      {"kind", phase_kind_name(ph.kind)},
                      {"sql", ph.sql},
                      {"table", ph.table.empty() ? json(nullptr) : json(ph.table)},
                      {"outside_transaction", ph.outside_transaction()},
                      {"lock_timeout_ms", ph.lock_timeout_ms},
                      {"max_attempts", ph.retry.max_attempts},
                      {"backoff_ms", ph.retry.backoff_ms},
                      {"repeat_until_no_rows", ph.kind == PhaseKind::backfill},
                      {"on_failure_sql", ph.cleanup_sql.empty() ? json(nullptr) : json(ph.cleanup_sql)},
                      {"backfill", ph.backfill ? json{{"table", ph.backfill->table},
                                                      {"column", ph.backfill->column},
                                                      {"value", ph.backfill->value},
                                                      {"batch_rows", ph.backfill->batch_rows},
                                                      {"pause_ms", ph.backfill->pause_ms},
                                                      {"max_replica_lag_bytes", ph.backfill->max_replica_lag_bytes}}
                                               : json(nullptr)},
                      {"failure_message", ph.failure_message.empty() ? json(nullptr) : json(ph.failure_message)}});
  return {{"rule", p.rule_id}, {"summary", p.summary}, {"phases", phases}};
}

json error_json(const std::optional<SyntaxError>& e) {
  if (!e) return nullptr;
  return {{"message", e->message}, {"line", e->pos.line}, {"column", e->pos.column}};
}

std::string hex(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

std::string decision_json(const BatchDecision& d, const config::Policy& policy, int indent) {
  json statements = json::array();
  for (const auto& sd : d.statements) {
    const auto& s = sd.statement;
    json objects = json::array();
    for (const auto& o : s.objects)
      objects.push_back({{"kind", o.kind},
                         {"schema", o.schema.empty() ? json(nullptr) : json(o.schema)},
                         {"name", o.name},
                         {"lock", lock_name(o.lock)},
                         {"created", o.created}});
    json findings = json::array();
    for (const auto& f : sd.findings)
      findings.push_back({{"rule", f.rule_id},
                          {"action", outcome_name(f.action)},
                          {"message", f.message},
                          {"detail", f.detail},
                          {"hint", f.hint}});
    statements.push_back({{"index", s.index},
                          {"line", s.pos.line},
                          {"column", s.pos.column},
                          {"text", s.text},
                          {"tag", s.tag},
                          {"operation", s.operation},
                          {"class", class_name(s.klass)},
                          {"outcome", outcome_name(sd.outcome)},
                          {"rules", sd.rule_ids},
                          {"scope", sd.scope.empty() ? json(nullptr) : json(sd.scope)},
                          {"message", sd.message},
                          {"detail", sd.detail},
                          {"hint", sd.hint},
                          {"sqlstate", sd.sqlstate.empty() ? json(nullptr) : json(sd.sqlstate)},
                          {"lock", lock_name(s.lock)},
                          {"rewrites_table", s.rewrites_table},
                          {"scans_table", s.scans_table},
                          {"allowed_in_transaction", s.allowed_in_transaction},
                          {"opaque", s.opaque},
                          {"objects", objects},
                          {"findings", findings},
                          {"plan", sd.plan ? plan_json(*sd.plan) : json(nullptr)},
                          {"fingerprint", sd.fingerprint ? json(hex(*sd.fingerprint)) : json(nullptr)},
                          {"syntax_error", error_json(sd.syntax_error)}});
  }
  json doc = {{"version", 1},
              {"mode", config::to_string(policy.mode)},
              {"enforced", d.enforced},
              {"outcome", outcome_name(d.outcome)},
              {"fast_path", d.fast_path},
              {"syntax_error", error_json(d.syntax_error)},
              {"statements", statements}};
  return doc.dump(indent, ' ', false, json::error_handler_t::replace);
}

std::string plan_json_text(const Plan& plan) { return plan_json(plan).dump(); }

std::optional<Plan> plan_from_json_text(std::string_view text, std::string& error) {
  const json j = json::parse(text, nullptr, false);
  const auto str = [](const json& o, const char* k) {
    const auto it = o.find(k);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const auto num = [](const json& o, const char* k) -> std::uint64_t {
    const auto it = o.find(k);
    return it != o.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
  };
  if (!j.is_object() || !j.contains("phases") || !j["phases"].is_array()) {
    error = "not a plan (no phases)";
    return std::nullopt;
  }
  Plan p;
  p.rule_id = str(j, "rule");
  p.summary = str(j, "summary");
  for (const auto& ph : j["phases"]) {
    if (!ph.is_object()) {
      error = "a phase is not an object";
      return std::nullopt;
    }
    Phase x;
    const std::string kind = str(ph, "kind");
    bool known = false;
    for (const auto k : {PhaseKind::precheck, PhaseKind::guarded, PhaseKind::online, PhaseKind::autocommit,
                         PhaseKind::backfill, PhaseKind::after_commit, PhaseKind::passthrough})
      if (kind == phase_kind_name(k)) {
        x.kind = k;
        known = true;
      }
    if (!known) {
      error = "unknown phase kind '" + kind + "'";
      return std::nullopt;
    }
    x.description = str(ph, "description");
    x.sql = str(ph, "sql");
    x.table = str(ph, "table");
    x.lock_timeout_ms = static_cast<std::uint32_t>(num(ph, "lock_timeout_ms"));
    x.retry.max_attempts = std::max<std::uint32_t>(1, static_cast<std::uint32_t>(num(ph, "max_attempts")));
    x.retry.backoff_ms = static_cast<std::uint32_t>(num(ph, "backoff_ms"));
    x.cleanup_sql = str(ph, "on_failure_sql");
    x.failure_message = str(ph, "failure_message");
    if (const auto b = ph.find("backfill"); b != ph.end() && b->is_object()) {
      Backfill f;
      f.table = str(*b, "table");
      f.column = str(*b, "column");
      f.value = str(*b, "value");
      f.batch_rows = std::max<std::uint32_t>(1, static_cast<std::uint32_t>(num(*b, "batch_rows")));
      f.pause_ms = static_cast<std::uint32_t>(num(*b, "pause_ms"));
      f.max_replica_lag_bytes = num(*b, "max_replica_lag_bytes");
      x.backfill = std::move(f);
    }
    if (x.kind == PhaseKind::backfill && !x.backfill) {
      error = "a backfill phase without its backfill";
      return std::nullopt;
    }
    p.phases.push_back(std::move(x));
  }
  return p;
}

}  // namespace schemagate::policy::commands
