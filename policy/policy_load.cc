// A policy file as the engine accepts it: config's YAML loading plus the check that every rule
// id it names is in the catalogue (policy/rules.cc).
#include "policy/engine.h"
#include "policy/rules.h"

namespace schemagate::policy {

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
