#pragma once
// Rules for statements about objects other than tables and indexes (views, sequences, types,
// enums, domains, functions, policies, triggers, publications, subscriptions, extensions, roles,
// privileges): drop_object, rename_object, replace_view, alter_enum_rename_value, … — the
// catalogue entries are in rules.cc, the reasons in docs/rules.md.
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "policy/decision.h"

namespace schemagate::policy {

struct Statement;
struct RuleContext;

/// What earlier statements of the same message (or file) established for these rules.
struct ObjectRuleState {
  /// "kind:schema.name" / "kind:name", lower case, of objects created earlier (a DROP of them is harmless).
  std::set<std::string> created;
  /// (type, label) added by ALTER TYPE … ADD VALUE inside the open transaction: PostgreSQL refuses
  /// to use such a label before COMMIT ("unsafe use of new value").
  std::vector<std::pair<std::string, std::string>> new_enum_labels;
};

/// Appends the findings of the object rules for `s` to `out` (with the rules' default actions).
void check_object_rules(const Statement& s, const RuleContext& ctx, std::vector<Finding>& out);

/// Records what `s` establishes for the object rules of later statements.
void update_object_context(const Statement& s, RuleContext& ctx);

}  // namespace schemagate::policy
