#include "policy/plan.h"

namespace schemagate::policy {

const char* phase_kind_name(PhaseKind k) {
  switch (k) {
    case PhaseKind::precheck: return "precheck";
    case PhaseKind::guarded: return "guarded";
    case PhaseKind::online: return "online";
    case PhaseKind::autocommit: return "autocommit";
    case PhaseKind::backfill: return "backfill";
  }
  return "?";
}

}  // namespace schemagate::policy
