#pragma once
// Writing a running plan's progress to the journal: shared by the proxy's sessions
// (session_plan.cc) and `schemagate migrations resume` (migration_resume.cc).
#include <cstdint>
#include <string>
#include <vector>

#include "proxy/plan_runner.h"
#include "proxy/state_store.h"

namespace schemagate::proxy {

/// The last key of a backfill as the journal stores it (JSON array of text), and back.
std::string backfill_key_json(const std::vector<std::string>& key);
std::vector<std::string> backfill_key_from_json(const std::string& text);
/// Where a journaled plan picks up again.
ResumePoint resume_point_of(const PlanJournalEntry& e);

class PlanJournalProgress {
 public:
  PlanJournalProgress(StateStore& store, std::string id, const ResumePoint& from, std::int64_t now_ms)
      : store_(store), id_(std::move(id)), phases_(from.phase), rows_(from.rows_backfilled), at_ms_(now_ms) {}

  /// After a step: phases finished since the last call, and the backfill position at most once
  /// a second (every time with `force`). Returns false with `error` when the journal refused.
  bool update(const PlanRunner& runner, std::int64_t now_ms, bool force, std::string& error);
  /// The end: succeeded, interrupted (resumable, outside a client transaction) or failed.
  /// Returns the status written.
  PlanStatus finish(const PlanRunner& runner, const PlanStep& last, bool in_client_transaction, std::string& error);

 private:
  StateStore& store_;
  std::string id_;
  std::size_t phases_;
  std::int64_t rows_, at_ms_;
};

}  // namespace schemagate::proxy
