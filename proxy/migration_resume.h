#pragma once
#include <ostream>
#include <string>

#include "proxy/state_store.h"

namespace schemagate::proxy {

/// `schemagate migrations resume ID`: runs the rest of an interrupted plan of the journal on a
/// libpq connection of its own — `conninfo`, which must log in as the plan's user on its
/// database (ownership and privileges stay the client's) — from its first unfinished phase, a
/// backfill after its last key. NOTICEs go to `out`. Ctrl-C cancels the running phase and
/// leaves the plan interrupted again. Exit code: 0 done, 1 the plan failed or could not start.
int resume_migration(StateStore& store, const std::string& id, const std::string& conninfo, std::ostream& out,
                     std::ostream& err);

}  // namespace schemagate::proxy
