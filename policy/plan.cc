#include "policy/plan.h"

namespace schemagate::policy {

const char* phase_kind_name(PhaseKind k) {
  switch (k) {
    case PhaseKind::precheck: return "precheck";
    case PhaseKind::guarded: return "guarded";
    case PhaseKind::online: return "online";
    case PhaseKind::autocommit: return "autocommit";
    case PhaseKind::backfill: return "backfill";
    case PhaseKind::after_commit: return "after_commit";
    case PhaseKind::passthrough: return "passthrough";
  }
  return "?";
}

bool defer_to_commit(Plan& plan) {
  std::size_t first = plan.phases.size();
  for (std::size_t i = 0; i < plan.phases.size(); ++i)
    if (plan.phases[i].outside_transaction()) {
      first = i;
      break;
    }
  if (first == 0 || first == plan.phases.size()) return false;
  for (std::size_t i = first; i < plan.phases.size(); ++i)
    if (plan.phases[i].kind != PhaseKind::online) return false;
  for (std::size_t i = first; i < plan.phases.size(); ++i) {
    plan.phases[i].kind = PhaseKind::after_commit;
    plan.phases[i].cleanup_sql.clear();
  }
  return true;
}

void split_message(Plan& plan, const std::vector<std::string>& before, const std::vector<std::string>& after) {
  auto query = [](const std::string& sql) {
    Phase p;
    p.kind = PhaseKind::passthrough;
    p.description = "another statement of the message, run as written";
    p.sql = sql;
    return p;
  };
  std::vector<Phase> phases;
  phases.reserve(before.size() + plan.phases.size() + after.size());
  for (const auto& sql : before) phases.push_back(query(sql));
  for (auto& p : plan.phases) phases.push_back(std::move(p));
  for (const auto& sql : after) phases.push_back(query(sql));
  plan.phases = std::move(phases);
}

}  // namespace schemagate::policy
