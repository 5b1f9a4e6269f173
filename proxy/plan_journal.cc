#include "proxy/plan_journal.h"

#include <nlohmann/json.hpp>

namespace schemagate::proxy {

namespace {
constexpr std::int64_t kJournalEveryMs = 1000;
}  // namespace

std::string backfill_key_json(const std::vector<std::string>& key) { return nlohmann::json(key).dump(); }

std::vector<std::string> backfill_key_from_json(const std::string& text) {
  std::vector<std::string> key;
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_array())
    for (const auto& v : j)
      if (v.is_string()) key.push_back(v.get<std::string>());
  return key;
}

ResumePoint resume_point_of(const PlanJournalEntry& e) {
  ResumePoint r;
  r.phase = static_cast<std::size_t>(e.phases_done);
  r.rows_backfilled = e.rows_backfilled;
  r.last_key = backfill_key_from_json(e.backfill_resume);
  return r;
}

bool PlanJournalProgress::update(const PlanRunner& runner, std::int64_t now_ms, bool force, std::string& error) {
  bool ok = true;
  if (runner.phases_done() != phases_) {
    phases_ = runner.phases_done();
    rows_ = runner.rows_backfilled();
    ok = store_.record_phase_done(id_, static_cast<int>(phases_), error);
  }
  if (runner.rows_backfilled() != rows_ && (force || now_ms - at_ms_ >= kJournalEveryMs)) {
    rows_ = runner.rows_backfilled();
    at_ms_ = now_ms;
    ok = store_.record_backfill(id_, rows_, backfill_key_json(runner.last_key()), error) && ok;
  }
  return ok;
}

PlanStatus PlanJournalProgress::finish(const PlanRunner& runner, const PlanStep& last, bool in_client_transaction,
                                       std::string& error) {
  // A passthrough query that fails after the statement's own phases does not undo them.
  const PlanStatus status = last.kind == PlanStep::done || runner.statement_completed() ? PlanStatus::succeeded
                            : runner.resumable() && !in_client_transaction ? PlanStatus::interrupted
                                                                             : PlanStatus::failed;
  const std::string why = last.kind == PlanStep::done ? std::string() : last.error.sqlstate + ": " + last.error.message;
  error.clear();
  if (!store_.finish_plan(id_, status, why, error) && error.empty()) error = "the journal refused the end of the plan";
  return status;
}

}  // namespace schemagate::proxy
