#pragma once
// What the rule files share: how a rule reports a finding, and the case folding of the names
// they compare. Internal to sg_policy.
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include "policy/decision.h"
#include "policy/rules.h"

namespace schemagate::policy::detail {

/// Appends findings with the catalogue's default action, facts and alternative (rules.cc).
struct FindingSink {
  std::vector<Finding>& out;
  void add(std::string_view id, std::string message, std::string detail = {}) {
    const RuleInfo* r = find_rule(id);
    Finding f;
    f.rule_id = std::string(id);
    f.action = r ? r->default_action : Outcome::warn;
    f.message = std::move(message);
    f.detail = detail.empty() && r ? std::string(r->facts) : std::move(detail);
    if (r) f.hint = std::string(r->alternative);
    for (const auto& e : out)
      if (e.rule_id == f.rule_id && e.message == f.message) return;  // same finding twice (multi-column)
    out.push_back(std::move(f));
  }
};

/// ASCII lower case, as the rule contexts key table names.
inline std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace schemagate::policy::detail
