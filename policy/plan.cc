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

}  // namespace schemagate::policy
