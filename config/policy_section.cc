#include "config/policy_section.h"

#include <charconv>
#include <fstream>
#include <sstream>

namespace schemagate::config {

const char* to_string(RuleAction a) {
  switch (a) {
    case RuleAction::pass: return "pass";
    case RuleAction::warn: return "warn";
    case RuleAction::rewrite: return "rewrite";
    case RuleAction::hold: return "hold";
    case RuleAction::reject: return "reject";
  }
  return "?";
}

const char* to_string(PolicyMode m) { return m == PolicyMode::observe ? "observe" : "enforce"; }

namespace {

const std::initializer_list<std::string_view> kActions = {"pass", "warn", "rewrite", "hold", "reject"};

// Keys that make `policy:` in the proxy config an inline policy rather than a reference.
const std::initializer_list<std::string_view> kBodyKeys = {"mode",       "default_action", "unparsable", "check",
                                                               "thresholds", "rules",          "scopes"};

bool read_action(const Section& s, std::string_view key, RuleAction& out) {
  const int i = s.choice(key, kActions);
  if (i < 0) return false;
  out = static_cast<RuleAction>(i);
  return true;
}

// A scalar or a sequence of scalars, both accepted so `user: app` and `user: [app, web]` work.
void read_list(const Section& s, std::string_view key, std::vector<std::string>& out) {
  const auto n = s.node(key);
  if (!n.IsDefined() || n.IsNull()) return;
  if (n.IsScalar()) {
    out.push_back(n.Scalar());
    return;
  }
  if (!n.IsSequence()) {
    s.errors().add(s.key_path(key), n, "expected a name or a list of names");
    return;
  }
  for (std::size_t i = 0; i < n.size(); ++i) {
    if (!n[i].IsScalar()) {
      s.errors().add(s.key_path(key) + "[" + std::to_string(i) + "]", n[i], "expected a name");
      continue;
    }
    out.push_back(n[i].Scalar());
  }
}

void read_duration(const Section& s, std::string_view key, std::uint32_t& out) {
  const auto n = s.node(key);
  if (!n.IsDefined() || n.IsNull()) return;
  if (!n.IsScalar() || !parse_duration_ms(n.Scalar(), out))
    s.errors().add(s.key_path(key), n, "expected a duration such as 500ms, 2s or 1min");
}

void read_size(const Section& s, std::string_view key, std::uint64_t& out) {
  const auto n = s.node(key);
  if (!n.IsDefined() || n.IsNull()) return;
  if (!n.IsScalar() || !parse_size_bytes(n.Scalar(), out))
    s.errors().add(s.key_path(key), n, "expected a size such as 0, 64MB, 512kB or 1GB");
}

void read_rule_map(const YAML::Node& node, const std::string& path, ErrorSink& errors,
                   std::map<std::string, RuleAction>& out, std::map<std::string, int>& lines) {
  if (!node.IsDefined() || node.IsNull()) return;
  if (!node.IsMap()) {
    errors.add(path, node, "expected a mapping of rule id to action");
    return;
  }
  for (const auto& kv : node) {
    const std::string id = kv.first.IsScalar() ? kv.first.Scalar() : std::string();
    const std::string key = path + "." + id;
    const std::string v = kv.second.IsScalar() ? kv.second.Scalar() : std::string();
    int i = 0, found = -1;
    for (auto a : kActions) {
      if (a == v) found = i;
      ++i;
    }
    if (found < 0) {
      errors.add(key, kv.second, "expected one of pass | warn | rewrite | hold | reject, got '" + v + "'");
      continue;
    }
    out[id] = static_cast<RuleAction>(found);
    lines[id] = line_of(kv.first);
  }
}

void read_scope(const YAML::Node& node, const std::string& path, ErrorSink& errors, PolicyScope& out) {
  Section s(node, path, errors, {"name", "match", "action", "default_action", "rules"});
  out.line = line_of(node);
  if (!s.valid()) return;
  s.get("name", out.name);
  Section m(s.node("match"), s.key_path("match"), errors,
            {"user", "role", "database", "application_name", "table"});
  read_list(m, "user", out.match.users);
  read_list(m, "role", out.match.roles);
  read_list(m, "database", out.match.databases);
  read_list(m, "application_name", out.match.application_names);
  read_list(m, "table", out.match.tables);
  RuleAction a{};
  if (read_action(s, "action", a)) out.action = a;
  if (read_action(s, "default_action", a)) out.default_action = a;
  read_rule_map(s.node("rules"), s.key_path("rules"), errors, out.rules, out.rule_lines);
  if (out.action && (!out.rules.empty() || out.default_action))
    errors.add(s.key_path("action"), s.node("action"),
               "a scope with a forced `action` cannot also set `rules` or `default_action`");
}

}  // namespace

bool parse_size_bytes(const std::string& text, std::uint64_t& out_bytes) {
  std::uint64_t v = 0;
  const char* b = text.data();
  const char* e = b + text.size();
  const auto [p, ec] = std::from_chars(b, e, v);
  if (ec != std::errc{} || p == b) return false;
  const std::string unit(p, e);
  // PostgreSQL's own memory units (postgresql.conf), powers of 1024.
  unsigned shift = 0;
  if (unit.empty() || unit == "B") shift = 0;
  else if (unit == "kB") shift = 10;
  else if (unit == "MB") shift = 20;
  else if (unit == "GB") shift = 30;
  else if (unit == "TB") shift = 40;
  else return false;
  if (v > (~std::uint64_t{0} >> shift)) return false;
  out_bytes = v << shift;
  return true;
}

bool parse_duration_ms(const std::string& text, std::uint32_t& out_ms) {
  std::uint64_t v = 0;
  const char* b = text.data();
  const char* e = b + text.size();
  const auto [p, ec] = std::from_chars(b, e, v);
  if (ec != std::errc{} || p == b) return false;
  const std::string unit(p, e);
  std::uint64_t mult = 0;
  if (unit.empty() || unit == "ms") mult = 1;
  else if (unit == "s") mult = 1000;
  else if (unit == "min") mult = 60000;
  else return false;
  const std::uint64_t ms = v * mult;
  if (v > 0xffffffffULL || ms > 0xffffffffULL) return false;
  out_ms = static_cast<std::uint32_t>(ms);
  return true;
}

void load_policy_body(const YAML::Node& node, const std::string& path, ErrorSink& errors, Policy& out) {
  Section s(node, path, errors, kBodyKeys);
  out.key_prefix = path;
  if (!s.valid()) return;
  if (const int m = s.choice("mode", {"observe", "enforce"}); m >= 0) out.mode = static_cast<PolicyMode>(m);
  read_action(s, "default_action", out.default_action);
  read_action(s, "unparsable", out.unparsable);
  Section c(s.node("check"), s.key_path("check"), errors, {"fail_level"});
  read_action(c, "fail_level", out.check_fail_level);
  Section t(s.node("thresholds"), s.key_path("thresholds"), errors,
            {"small_table_rows", "lock_timeout", "retry_attempts", "retry_backoff", "backfill_batch_rows",
             "backfill_pause", "backfill_max_replica_lag", "max_index_columns"});
  std::uint32_t rows = out.thresholds.small_table_rows > 0xffffffffULL
                           ? 0xffffffffU
                           : static_cast<std::uint32_t>(out.thresholds.small_table_rows);
  t.get("small_table_rows", rows, 0, 0xffffffffU);
  out.thresholds.small_table_rows = rows;
  read_duration(t, "lock_timeout", out.thresholds.lock_timeout_ms);
  t.get("retry_attempts", out.thresholds.retry_attempts, 1, 100);
  read_duration(t, "retry_backoff", out.thresholds.retry_backoff_ms);
  t.get("backfill_batch_rows", out.thresholds.backfill_batch_rows, 1, 10000000);
  read_duration(t, "backfill_pause", out.thresholds.backfill_pause_ms);
  read_size(t, "backfill_max_replica_lag", out.thresholds.backfill_max_replica_lag_bytes);
  t.get("max_index_columns", out.thresholds.max_index_columns, 1, 32);
  read_rule_map(s.node("rules"), s.key_path("rules"), errors, out.rules, out.rule_lines);
  const auto scopes = s.node("scopes");
  if (scopes.IsDefined() && !scopes.IsNull()) {
    if (!scopes.IsSequence()) {
      errors.add(s.key_path("scopes"), scopes, "expected a list of scopes");
    } else {
      for (std::size_t i = 0; i < scopes.size(); ++i) {
        PolicyScope scope;
        read_scope(scopes[i], s.key_path("scopes") + "[" + std::to_string(i) + "]", errors, scope);
        out.scopes.push_back(std::move(scope));
      }
    }
  }
}

void load_policy_section(const YAML::Node& node, ErrorSink& errors, PolicyRef& out) {
  std::initializer_list<std::string_view> keys = {"file",   "mode",  "default_action", "unparsable", "check",
                                                  "thresholds", "rules", "scopes"};
  Section s(node, "policy", errors, keys);
  if (!s.valid()) return;
  s.get("file", out.file);
  if (const int m = s.choice("mode", {"observe", "enforce"}); m >= 0) out.mode = static_cast<PolicyMode>(m);
  bool inline_keys = false;
  for (auto k : kBodyKeys)
    if (k != "mode" && s.has(k)) inline_keys = true;
  if (!inline_keys) return;
  if (!out.file.empty()) {
    errors.add("policy.file", s.node("file"), "set either policy.file or inline policy keys, not both");
    return;
  }
  Policy p;
  load_policy_body(node, "policy", errors, p);
  out.inline_policy = std::move(p);
}

std::string PolicyLoadResult::error_text(const std::string& source) const {
  std::string s;
  for (const auto& e : errors) s += source + ": " + e.to_string() + "\n";
  return s;
}

PolicyLoadResult load_policy_text(const std::string& yaml_text) {
  PolicyLoadResult r;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    r.errors.push_back({"", e.mark.line >= 0 ? e.mark.line + 1 : 0, "invalid YAML: " + e.msg});
    return r;
  }
  ErrorSink errors;
  try {
    load_policy_body(root, "", errors, r.policy);
  } catch (const YAML::Exception& e) {  // defensive: a conversion we did not foresee
    errors.add("", e.mark.line >= 0 ? e.mark.line + 1 : 0, e.msg);
  }
  r.errors = errors.errors();
  return r;
}

PolicyLoadResult load_policy_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    PolicyLoadResult r;
    r.errors.push_back({"", 0, "cannot read policy file " + path});
    return r;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return load_policy_text(ss.str());
}

}  // namespace schemagate::config
