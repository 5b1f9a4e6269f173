#pragma once
// Shared by `check` and `explain`: option parsing and rendering of decisions. Internal to sg_policy.
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "policy/decision.h"
#include "policy/engine.h"
#include "policy/facts.h"

namespace schemagate::policy::commands {

/// Options common to check and explain.
struct CommonOptions {
  std::string config_file;  // --config: the proxy config (its policy: section)
  std::string policy_file;  // --policy
  std::string format = "text";
  OfflineFacts::Options facts;
  bool in_transaction = false;  // --in-transaction (explain)
  std::string user;             // --user (to exercise scopes)
  std::string database;         // --database
  std::string application_name; // --application-name
  std::vector<std::string> positional;
};

/// Parses argv-style options; returns false with `error` set on a bad option or value.
bool parse_common(const std::vector<std::string>& args, bool explain, CommonOptions& out, std::string& error);

/// Loads the policy named by --policy / --config, or the built-in defaults. Errors are appended
/// to `errors` as printable lines.
std::optional<config::Policy> load_policy(const CommonOptions& o, std::vector<std::string>& errors);

/// The human-readable decision `explain` prints: per statement its kind, locks, outcome, rules,
/// explanation and plan phases.
void print_decision_text(const BatchDecision& d, const config::Policy& policy, std::ostream& out);

/// One plan as the JSON object explain prints under "plan" (the journal stores it too).
std::string plan_json_text(const Plan& plan);
/// The inverse of plan_json_text (a plan read back from the journal); nullopt with `error` for
/// text it did not write.
std::optional<Plan> plan_from_json_text(std::string_view text, std::string& error);

/// The stable JSON document for a batch decision (schema in docs/policy.md), serialised.
std::string decision_json(const BatchDecision& d, const config::Policy& policy, int indent);

}  // namespace schemagate::policy::commands
