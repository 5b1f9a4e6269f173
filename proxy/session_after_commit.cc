// Session: plan phases that wait for the client's COMMIT (policy::PhaseKind::after_commit).
//
// A plan run inside the client's transaction block stops before its after_commit phases (the
// VALIDATE of a constraint it added NOT VALID there) and leaves them in after_commit_, its
// journal entry still running. Then:
//   - a plain COMMIT (one statement: a simple Query, or Parse/Bind/Execute/Sync) is sent by the
//     proxy itself; once it has committed the waiting phases run, with their NOTICEs, and only
//     then does the client get COMMIT's reply — a migration tool's COMMIT returns when the
//     constraint is validated. A phase that fails after the commit cannot undo it: the client
//     gets a WARNING saying what is left (a NOT VALID constraint, still enforced for new rows)
//     and how to finish it;
//   - a plain ROLLBACK/ABORT, a failed COMMIT, or a client that disconnects drops them (the
//     journal says failed: nothing of them was committed);
//   - a transaction that ends any other way (COMMIT pipelined with more statements, in a
//     multi-statement string, COMMIT AND CHAIN, PREPARE TRANSACTION) leaves them interrupted
//     in the journal, for `schemagate migrations resume ID`, and the log says so.
#include <cctype>
#include <optional>
#include <random>

#include <spdlog/spdlog.h>

#include "protocol/backend.h"
#include "protocol/frontend.h"
#include "protocol/tags.h"
#include "proxy/monotonic_clock.h"
#include "proxy/session.h"

namespace schemagate::proxy {

namespace tag = protocol::tag;

namespace {

// COMMIT | END [WORK | TRANSACTION] [;], or the same for ROLLBACK | ABORT; nothing else (no
// comments, no AND CHAIN): what is not recognised falls back to the journal.
bool is_word(std::string_view text, std::size_t& at, std::string_view word) {
  while (at < text.size() && std::isspace(static_cast<unsigned char>(text[at]))) ++at;
  if (text.size() - at < word.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[at + i])) != word[i]) return false;
  const std::size_t end = at + word.size();
  if (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_')) return false;
  at = end;
  return true;
}

bool is_transaction_end(std::string_view text, bool commit) {
  std::size_t at = 0;
  if (!(commit ? is_word(text, at, "commit") || is_word(text, at, "end")
               : is_word(text, at, "rollback") || is_word(text, at, "abort")))
    return false;
  if (!is_word(text, at, "work")) is_word(text, at, "transaction");
  while (at < text.size() && std::isspace(static_cast<unsigned char>(text[at]))) ++at;
  if (at < text.size() && text[at] == ';') ++at;
  while (at < text.size() && std::isspace(static_cast<unsigned char>(text[at]))) ++at;
  return at == text.size();
}

// The one statement of a request that is a single Query, or Parse, Bind, [Describe,] Execute,
// Sync; nullopt for any other shape.
std::optional<std::string_view> sole_statement(const RequestView& view) {
  const std::size_t n = view.frame_count();
  if (n == 1 && view.frame(0).tag == tag::kQuery) {
    protocol::Query q;
    if (protocol::parse_query(view.frame(0), q)) return std::nullopt;
    return q.sql;
  }
  if (n < 4 || view.frame(0).tag != tag::kParse || view.frame(1).tag != tag::kBind ||
      view.frame(n - 2).tag != tag::kExecute || view.frame(n - 1).tag != tag::kSync)
    return std::nullopt;
  for (std::size_t i = 2; i + 2 < n; ++i)
    if (view.frame(i).tag != tag::kDescribe) return std::nullopt;
  protocol::Parse p;
  if (protocol::parse_parse(view.frame(0), p)) return std::nullopt;
  return p.sql;
}

}  // namespace

bool Session::is_plain_commit(std::size_t at) const {
  const RequestView view{request_, cbuf_.span(at).first(request_.size())};
  const auto text = sole_statement(view);
  return text && is_transaction_end(*text, true);
}

void Session::note_transaction_end_request(std::size_t at) {
  const RequestView view{request_, cbuf_.span(at).first(request_.size())};
  const auto text = sole_statement(view);
  // Sticky until they are given up: a pipelined request after the ROLLBACK does not undo it.
  if (text && is_transaction_end(*text, false)) rollback_requested_ = true;
}

void Session::give_up_waiting(bool maybe_committed, const std::string& why) {
  std::string error;
  for (const auto& w : after_commit_) {
    const PlanStatus status = maybe_committed ? PlanStatus::interrupted : PlanStatus::failed;
    if (!ctx_->store->finish_plan(w.plan_id, status, "SG004: " + why, error))
      spdlog::warn("[{}] plan journal: {}", state_.id, error);
    if (!ctx_->audit->plan_finished(audit_session(), w.plan_id, maybe_committed ? "interrupted" : "failed",
                                    monotonic_ms() - w.started_ms, why))
      ctx_->metrics->add(Counter::audit_failures);
    ctx_->metrics->add(Counter::plans_failed);
    if (maybe_committed)
      spdlog::warn("[{}] the phases of migration {} ({}) that wait for COMMIT did not run: {}; finish them with "
                   "`schemagate migrations resume {}`",
                   state_.id, w.plan_id, w.command_tag, why, w.plan_id);
    else
      spdlog::info("[{}] the phases of migration {} ({}) that waited for COMMIT are dropped: {}", state_.id, w.plan_id,
                   w.command_tag, why);
  }
  after_commit_.clear();
  rollback_requested_ = false;
}

awaitable<bool> Session::commit_and_run_waiting(std::size_t size, char terminator) {
  const auto bytes = cbuf_.span().first(size);
  const std::vector<std::byte> request(bytes.begin(), bytes.end());
  cbuf_.consume(size);
  request_.clear();
  // Out of after_commit_ while COMMIT runs: its ReadyForQuery must not count as an unseen end.
  auto waiting = std::move(after_commit_);
  after_commit_.clear();
  QueryResult commit;
  commit.keep_replies = true;
  const bool sent = co_await server_exchange(request, terminator, commit);
  const bool committed = sent && commit.ok() && !commit.command_tags.empty() &&
                         commit.command_tags.back() == "COMMIT" && commit.tx_status == 'I';
  if (!committed) {
    after_commit_ = std::move(waiting);
    give_up_waiting(!sent, !sent ? "the server connection ended during COMMIT"
                           : commit.error ? "COMMIT failed: " + commit.error->message
                                          : "the transaction rolled back");
    if (!sent) co_return false;
    std::vector<std::byte> out = std::move(commit.replies);
    protocol::write_ready_for_query(out, state_.tx_status);
    const bool ok = co_await write_client(out);
    co_return ok;
  }

  stage_ = Stage::running_plan;
  cancel_flag_->store(false, std::memory_order_relaxed);
  auto busy = std::make_shared<bool>(true);
  auto self = shared_from_this();
  net::co_spawn(executor(), [self, busy]() { return self->watch_client_gone(busy); }, net::detached);
  bool client_ok = true;
  std::vector<std::byte> out;
  for (const auto& w : waiting) {
    const std::size_t n = w.plan->phases.size();
    spdlog::info("[{}] transaction committed: running phases {}-{} of migration {} ({})", state_.id, w.first_phase + 1,
                 n, w.plan_id, w.command_tag);
    ResumePoint from;
    from.phase = w.first_phase;
    PlanRunner runner(*w.plan, std::random_device{}(), from, false);
    PlanJournalProgress journal(*ctx_->store, w.plan_id, from, monotonic_ms());
    PlanStep step = co_await drive_plan(runner, journal, w.plan_id, client_ok);
    end_plan_run(runner, journal, step, false, w.plan_id, w.started_ms);
    if (step.kind == PlanStep::done) continue;
    const auto& phase = w.plan->phases[std::min(runner.phases_done(), n - 1)];
    spdlog::warn("[{}] migration {} ({}): phase after COMMIT failed: {} {}", state_.id, w.plan_id, w.command_tag,
                 step.error.sqlstate, step.error.message);
    ctx_->metrics->count_error(step.error.sqlstate);
    if (!client_ok) continue;
    out.clear();
    protocol::write_error_response(
        out,
        protocol::ErrorFields{
            "WARNING", "01000",
            "schemagate: the transaction committed, but the " + w.command_tag + " it contained is not finished: " +
                phase.description + " failed (" + step.error.sqlstate + ": " + step.error.message + ")",
            step.error.detail,
            "What that phase leaves is committed (a constraint added NOT VALID is still enforced for new rows). Fix "
            "the cause, then run `" + phase.sql + "` or `schemagate migrations resume " + w.plan_id + "`."},
        tag::kNoticeResponse);
    client_ok = co_await write_client(out);
  }
  *busy = false;
  stage_ = Stage::relaying;
  if (closed_ || server_closed_) co_return false;
  out = std::move(commit.replies);
  protocol::write_ready_for_query(out, state_.tx_status);
  const bool ok = client_ok && co_await write_client(out);
  co_return ok;
}

}  // namespace schemagate::proxy
