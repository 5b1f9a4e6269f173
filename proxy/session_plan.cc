// Session, running_plan stage: executes a rewrite plan on the client's own server connection.
//
// The step logic (which statement next, retries, backoff, cleanup, backfill batches) is
// PlanRunner's, with no I/O; this file only does what a step asks: one simple Query through
// the server exchange, a sleep, or a NOTICE to the client. At the end the client gets the
// replies the server would have sent for the original statement (synthesize_plan_replies),
// or the plan's error, and then ReadyForQuery.
#include <sys/socket.h>

#include <cerrno>
#include <random>

#include <spdlog/spdlog.h>

#include "policy/commands/output.h"
#include "protocol/backend.h"
#include "protocol/tags.h"
#include "proxy/monotonic_clock.h"
#include "proxy/plan_journal.h"
#include "proxy/plan_runner.h"
#include "proxy/session.h"
#include "proxy/state_store.h"

namespace schemagate::proxy {

namespace tag = protocol::tag;

namespace {

void append_notice(std::vector<std::byte>& out, const std::string& text) {
  protocol::write_error_response(out, protocol::ErrorFields{"NOTICE", "00000", text, {}, {}}, tag::kNoticeResponse);
}

}  // namespace

awaitable<void> Session::sleep_unless_cancelled(std::uint32_t ms) {
  // In short slices, so that a CancelRequest (which only raises a flag) ends a long backoff soon.
  net::steady_timer timer(executor());
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!closed_ && !cancel_requested() && std::chrono::steady_clock::now() < until) {
    timer.expires_at(std::min(until, std::chrono::steady_clock::now() + std::chrono::milliseconds(100)));
    error_code ec;
    co_await timer.async_wait(net::redirect_error(use_awaitable, ec));
  }
}

awaitable<void> Session::watch_client_gone(std::shared_ptr<bool> busy) {
  auto self = shared_from_this();
  // The client pump is inside the plan and reads nothing, so nobody would notice the client
  // hanging up. Wait for the socket to become readable: end of stream means the client is gone
  // and the phase running for it is cancelled; bytes (a pipelined request) end the watch, and
  // the pump reads them after the plan.
  error_code ec;
  co_await client_.socket().async_wait(net::socket_base::wait_read, net::redirect_error(use_awaitable, ec));
  if (ec || !*busy || closed_) co_return;
  char byte = 0;
  const auto n = ::recv(client_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  // libpq's PQfinish sends Terminate before it closes: on a plain socket that byte is visible.
  const bool terminate = n == 1 && byte == tag::kTerminate && !client_.is_tls();
  if (n == 0 || terminate || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    spdlog::warn("[{}] client went away during a {}: cancelling it", state_.id,
                 stage_ == Stage::held ? "held statement" : "rewrite plan");
    client_gone_ = true;
    cancel_flag_->store(true, std::memory_order_relaxed);
    notify();
    if (server_key_.pid != 0 && !server_closed_) co_await send_cancel(server_key_);
  }
}

awaitable<PlanStep> Session::drive_plan(PlanRunner& runner, PlanJournalProgress& journal, const std::string& plan_id,
                                        bool& client_ok, const std::vector<std::byte>* statement_replies) {
  const auto who = audit_session();
  std::string journal_error;
  std::int64_t rows_counted = runner.rows_backfilled();
  // Phases that ended: counted, timed and audited as they end (a plan may run for an hour).
  auto report_phases = [&] {
    for (const auto& p : runner.take_phase_records()) {
      ctx_->metrics->add(p.ok ? Counter::phases_succeeded : Counter::phases_failed);
      ctx_->metrics->observe(Histogram::phase_seconds, static_cast<double>(p.duration_ms) / 1000.0);
      if (!ctx_->audit->plan_phase(who, plan_id, p)) ctx_->metrics->add(Counter::audit_failures);
    }
    if (runner.rows_backfilled() > rows_counted) {
      ctx_->metrics->add(Counter::backfill_rows, static_cast<std::uint64_t>(runner.rows_backfilled() - rows_counted));
      rows_counted = runner.rows_backfilled();
    }
  };
  auto journal_progress = [&](bool force) {
    if (!journal.update(runner, monotonic_ms(), force, journal_error))
      spdlog::warn("[{}] plan journal: {}", state_.id, journal_error);
  };
  PlanStep step;
  std::vector<std::byte> out;
  for (;;) {
    if (cancel_requested() || !client_ok) runner.cancel();
    step = runner.next(monotonic_ms());
    if (step.kind == PlanStep::done || step.kind == PlanStep::failed) break;
    switch (step.kind) {
      case PlanStep::query: {
        // After a Ctrl-C the runner sends only what puts things back (cleanup, settings); the
        // server's copy of the cancel must not land on those, nor on the client's next statement.
        if (cancel_requested()) co_await wait_for_cancel_delivery();
        QueryResult result;
        result.relay_to_client = step.relay && client_ok;
        co_await server_query(step.sql, result);
        runner.on_result(result, monotonic_ms());
        journal_progress(false);
        report_phases();
        break;
      }
      case PlanStep::sleep:
        journal_progress(true);  // a pause is a checkpoint: a proxy killed in it resumes exactly here
        co_await sleep_unless_cancelled(step.sleep_ms);
        break;
      case PlanStep::statement_done:
        if (client_ok && statement_replies) client_ok = co_await write_client(*statement_replies);
        break;
      case PlanStep::notice:
        if (client_ok) {
          out.clear();
          append_notice(out, step.text);
          client_ok = co_await write_client(out);
        }
        break;
      default:
        break;
    }
  }
  journal_progress(true);
  report_phases();
  co_return step;
}

void Session::end_plan_run(const PlanRunner& runner, PlanJournalProgress& journal, PlanStep& step, bool in_transaction,
                           const std::string& plan_id, std::int64_t started) {
  std::string journal_error;
  const std::string why = step.kind == PlanStep::done ? std::string() : step.error.sqlstate + ": " + step.error.message;
  const PlanStatus status = journal.finish(runner, step, in_transaction, journal_error);
  if (!journal_error.empty()) spdlog::warn("[{}] plan journal: {}", state_.id, journal_error);
  ctx_->metrics->add(step.kind == PlanStep::done ? Counter::plans_succeeded : Counter::plans_failed);
  ctx_->metrics->add(Counter::lock_timeout_retries, runner.lock_timeout_retries());
  ctx_->metrics->add(Counter::backfill_replica_waits, runner.replica_waits());
  ctx_->metrics->observe(Histogram::plan_seconds, static_cast<double>(monotonic_ms() - started) / 1000.0);
  const char* status_name = status == PlanStatus::succeeded ? "succeeded"
                            : status == PlanStatus::interrupted ? "interrupted"
                                                                : "failed";
  if (!ctx_->audit->plan_finished(audit_session(), plan_id, status_name, monotonic_ms() - started, why))
    ctx_->metrics->add(Counter::audit_failures);
  if (status == PlanStatus::interrupted && step.error.hint.empty())
    step.error.hint = "Send the same statement again to resume migration " + plan_id + " where it stopped.";
}

awaitable<bool> Session::run_plan(const RunPlan& run, const std::vector<std::byte>& replies, char terminator,
                                  std::string* failure) {
  co_await wait_for_server_idle();
  if (closed_) co_return false;
  stage_ = Stage::running_plan;
  cancel_flag_->store(false, std::memory_order_relaxed);  // a cancel meant for an earlier statement
  auto busy = std::make_shared<bool>(true);
  auto self = shared_from_this();
  net::co_spawn(executor(), [self, busy]() { return self->watch_client_gone(busy); }, net::detached);

  spdlog::info("[{}] running plan of rule {} for {} ({} phases; user={} database={})", state_.id, run.plan->rule_id,
               run.command_tag, run.plan->phases.size(), state_.user, state_.database);
  ctx_->metrics->add(Counter::plans_started);
  std::vector<std::byte> out;
  append_notice(out, run.announcement);
  bool client_ok = co_await write_client(out);

  // The journal: an interrupted run of the same plan for the same statement, user and database
  // resumes where it stopped; anything else starts a new entry.
  auto& store = *ctx_->store;
  std::string journal_error;
  PlanJournalEntry entry;
  entry.statement_hash = statement_hash(run.statement);
  entry.plan_json = policy::commands::plan_json_text(*run.plan);
  ResumePoint resume;
  std::string refusal;
  const bool in_transaction = state_.tx_status == 'T';
  // A plan inside the client's transaction commits or rolls back with it: nothing to resume.
  if (auto prior = in_transaction ? std::nullopt
                                  : store.find_resumable(entry.statement_hash, state_.user, state_.database, journal_error);
      prior && prior->plan_json == entry.plan_json) {
    // Claimed when interrupted, or running under a lease its proxy abandoned; refused while a
    // live session (here or in another proxy on the file) runs it, or won the claim just now.
    if (!store.resume_plan(prior->id, journal_error)) {
      refusal = prior->status == PlanStatus::running
                    ? "the same statement is already running as migration " + prior->id
                    : "migration " + prior->id + " of the same statement could not be claimed: " + journal_error;
      refusal += " (schemagate migrations show " + prior->id + ")";
    } else {
      entry = *prior;
      resume = resume_point_of(*prior);
      out.clear();
      append_notice(out, "schemagate: resuming migration " + prior->id + " at phase " +
                             std::to_string(resume.phase + 1) + "/" + std::to_string(run.plan->phases.size()));
      client_ok = client_ok && co_await write_client(out);
    }
  }
  if (entry.id.empty() && refusal.empty()) {
    entry.user = state_.user;
    entry.database = state_.database;
    entry.client_addr = state_.client_addr;
    entry.application_name = state_.application_name;
    entry.statement = run.statement;
    entry.rule_id = run.plan->rule_id;
    entry.phase_count = static_cast<int>(run.plan->phases.size());
    if (!store.begin_plan(entry, journal_error)) refusal = "the plan journal cannot be written: " + journal_error;
  }

  PlanRunner runner(*run.plan, std::random_device{}(), resume, in_transaction);
  PlanStep step;
  if (!refusal.empty()) {
    step.kind = PlanStep::failed;
    step.error = protocol::ErrorFields{"ERROR", "SG004", "schemagate: " + run.command_tag + " was not started: " + refusal,
                                       "Nothing was changed.", {}};
  }
  const auto started = monotonic_ms();
  const auto who = audit_session();
  if (refusal.empty() && !ctx_->audit->plan_started(who, entry.id, run.plan->rule_id, run.command_tag, run.statement,
                                                    run.plan->phases.size()))
    ctx_->metrics->add(Counter::audit_failures);
  PlanJournalProgress journal(store, entry.id, resume, started);
  if (refusal.empty()) step = co_await drive_plan(runner, journal, entry.id, client_ok, &replies);
  const std::size_t waits_from = runner.deferred_from();
  if (refusal.empty() && step.kind == PlanStep::done && waits_from < run.plan->phases.size()) {
    // Its last phases wait for the client's COMMIT (session_after_commit.cc); the journal entry
    // stays running until then.
    after_commit_.push_back(AfterCommit{run.plan, entry.id, waits_from, run.command_tag, started});
    out.clear();
    append_notice(out, "schemagate: phase" + std::string(run.plan->phases.size() - waits_from > 1 ? "s " : " ") +
                           std::to_string(waits_from + 1) + "/" + std::to_string(run.plan->phases.size()) + " (" +
                           run.plan->phases[waits_from].description +
                           ") will run when this transaction commits, before COMMIT returns; a rollback drops it");
    client_ok = client_ok && co_await write_client(out);
  } else if (refusal.empty()) {
    end_plan_run(runner, journal, step, in_transaction, entry.id, started);
  }
  *busy = false;
  stage_ = Stage::relaying;
  const auto took = monotonic_ms() - started;
  if (step.kind == PlanStep::done) {
    spdlog::info("[{}] plan of rule {} for {} done in {} ms{}", state_.id, run.plan->rule_id, run.command_tag, took,
                 waits_from < run.plan->phases.size() ? " up to the phases that wait for COMMIT" : "");
    if (!runner.statement_replied()) out = replies;  // else it went out between the message's queries
  } else if (step.error_relayed) {
    // A query of the message failed: the client has its error, and the message ends there.
    spdlog::info("[{}] plan of rule {} for {}: a statement of its message failed after {} ms: {} {}", state_.id,
                 run.plan->rule_id, run.command_tag, took, step.error.sqlstate, step.error.message);
    out.clear();
    if (failure) *failure = step.error.sqlstate + ": " + step.error.message;
  } else {
    spdlog::warn("[{}] plan of rule {} for {} stopped after {} ms: {} {}", state_.id, run.plan->rule_id,
                 run.command_tag, took, step.error.sqlstate, step.error.message);
    out.clear();
    protocol::write_error_response(out, step.error);
    ctx_->metrics->count_error(step.error.sqlstate);
    if (failure) *failure = step.error.sqlstate + ": " + step.error.message;
  }
  if (closed_ || server_closed_) co_return false;
  if (step.kind == PlanStep::failed && state_.tx_status == 'T') {
    // The statement failed inside the client's transaction: the block must fail too, as it
    // would have on the server (and that rolls back every phase the plan ran in it).
    const std::string abort_block =
        "DO $schemagate$BEGIN RAISE EXCEPTION 'schemagate: the rewritten statement failed'; END$schemagate$";
    QueryResult ignored;
    if (!co_await server_query(abort_block, ignored)) co_return false;
  }
  if (terminator == tag::kSync || terminator == tag::kQuery) {
    protocol::write_ready_for_query(out, state_.tx_status);
  } else if (terminator == tag::kFlush) {
    discard_until_sync_ = true;  // the client's Sync gets the ReadyForQuery
  }
  const bool ok = client_ok && co_await write_client(out);
  co_return ok;
}

}  // namespace schemagate::proxy
