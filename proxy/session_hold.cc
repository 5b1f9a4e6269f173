// Session, held stage: a statement the policy holds waits on the client's own connection
// until approvers decide (approvals/service.h), then runs.
//
//   held ──approved (claimed)──► running it: its plan (running_plan) or forwarded as written
//   held ──denied──► SG002            held ──wait over──► SG003, the request stays pending
//   held ──expired / used elsewhere──► SG003
//   held ──CancelRequest / client gone──► request withdrawn, 57014
//
// Holding costs no thread and no polling loop of its own: the coroutine sleeps on the
// session's event timer until the registry posts a wake-up (a decision through any replica),
// a CancelRequest wakes it, a reminder is due or the wait is over.
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "policy/commands/output.h"
#include "policy/quote.h"
#include "protocol/backend.h"
#include "protocol/tags.h"
#include "proxy/session.h"
#include "proxy/state_store.h"

namespace schemagate::proxy {

namespace tag = protocol::tag;
using approvals::ApprovalRequest;
using approvals::RequestStatus;

namespace {

std::string duration_text(std::int64_t ms) {
  if (ms >= 120000 && ms % 60000 == 0) return std::to_string(ms / 60000) + " min";
  if (ms >= 1000) return std::to_string((ms + 500) / 1000) + " s";
  return std::to_string(ms) + " ms";
}

std::string instance_name() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(::getpid());
}

/// The evidence query: one row, one JSON text. Table names are quoted literals resolved by
/// to_regclass on the server, so nothing from the statement is spliced in as SQL.
std::string evidence_query(const std::vector<policy::QualifiedName>& tables) {
  std::string oids = "ARRAY[]::pg_catalog.regclass[]";
  if (!tables.empty()) {
    oids = "ARRAY[";
    for (std::size_t i = 0; i < tables.size(); ++i) {
      const auto& t = tables[i];
      const std::string name = t.schema.empty() ? policy::quote_ident(t.name) : policy::quote_qualified(t.schema, t.name);
      oids += (i ? ", " : "") + std::string("pg_catalog.to_regclass(") + policy::quote_literal(name) + ")";
    }
    oids += "]";
  }
  return "WITH t AS (SELECT c FROM pg_catalog.unnest(" + oids + ") AS u(c) WHERE c IS NOT NULL) "
         "SELECT pg_catalog.json_build_object("
         "'tables', (SELECT pg_catalog.json_agg(pg_catalog.json_build_object('table', c::text, "
         "'estimated_rows', GREATEST(r.reltuples, 0)::bigint, 'total_bytes', pg_catalog.pg_total_relation_size(c))) "
         "FROM t JOIN pg_catalog.pg_class r ON r.oid = c), "
         "'lock_holders', (SELECT pg_catalog.json_agg(pg_catalog.json_build_object('pid', a.pid, 'user', a.usename, "
         "'application_name', a.application_name, 'state', a.state, 'mode', l.mode, 'granted', l.granted, "
         "'table', l.relation::regclass::text, 'xact_start', a.xact_start, 'query_start', a.query_start, "
         "'query', pg_catalog.left(a.query, 200))) "
         "FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
         "WHERE l.relation IN (SELECT c FROM t) AND l.pid <> pg_catalog.pg_backend_pid()), "
         "'long_transactions', (SELECT pg_catalog.json_agg(pg_catalog.json_build_object('pid', a.pid, 'user', a.usename, "
         "'application_name', a.application_name, 'state', a.state, 'xact_start', a.xact_start, "
         "'query', pg_catalog.left(a.query, 200))) FROM pg_catalog.pg_stat_activity a "
         "WHERE a.xact_start < pg_catalog.now() - interval '1 minute' AND a.pid <> pg_catalog.pg_backend_pid() "
         "AND a.datname = pg_catalog.current_database()), "
         "'replication_lag_bytes', CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL ELSE (SELECT "
         "pg_catalog.max(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.replay_lsn))::bigint "
         "FROM pg_catalog.pg_stat_replication s) END, "
         "'gathered_at', pg_catalog.now())::text";
}

}  // namespace

awaitable<bool> Session::write_notice(const std::string& text) {
  std::vector<std::byte> out;
  protocol::write_error_response(out, protocol::ErrorFields{"NOTICE", "00000", text, {}, {}}, tag::kNoticeResponse);
  const bool ok = co_await write_client(out);
  co_return ok;
}

awaitable<void> Session::wait_event_until(std::chrono::steady_clock::time_point deadline) {
  ++waiters_;
  error_code ec;
  event_.expires_at(deadline);
  co_await event_.async_wait(net::redirect_error(use_awaitable, ec));
  --waiters_;
}

awaitable<std::string> Session::gather_evidence(const Hold& hold) {
  // On the client's own connection, in its transaction if it has one: what the approver
  // should know about the table right now. Best effort: a failure leaves the evidence empty.
  // Inside the client's transaction block it runs under a savepoint: should it fail, the
  // client's transaction must not be the one that pays.
  QueryResult result, ignored;
  const bool in_block = state_.tx_status == 'T';
  const std::string savepoint = "SAVEPOINT schemagate_evidence";
  const std::string rollback = "ROLLBACK TO SAVEPOINT schemagate_evidence";
  const std::string release = "RELEASE SAVEPOINT schemagate_evidence";
  if (in_block && (!co_await server_query(savepoint, ignored) || !ignored.ok())) co_return std::string("{}");
  const std::string sql = evidence_query(hold.tables);
  const bool ran = co_await server_query(sql, result);
  if (in_block && ran) {
    if (!result.ok()) co_await server_query(rollback, ignored);
    co_await server_query(release, ignored);
  }
  if (!ran || !result.ok() || result.rows.empty() || result.rows.front().empty() || !result.rows.front().front()) {
    spdlog::warn("[{}] evidence for the approval request could not be read{}{}", state_.id,
                 result.error ? ": " : "", result.error ? result.error->message : "");
    co_return std::string("{}");
  }
  co_return *result.rows.front().front();
}

awaitable<bool> Session::hold_request(const Hold& hold, const std::vector<std::byte>& request_bytes,
                                      const std::vector<std::byte>& plan_replies, char terminator) {
  co_await wait_for_server_idle();
  if (closed_) co_return false;
  auto& service = *ctx_->approvals;
  const auto& cfg = service.config();
  // The approval key: the statement in its canonical spelling (deparsed: whitespace, comments
  // and keyword case do not matter), user and database. Not the normalized form: that replaces
  // constants by $n, and `SET DEFAULT 5` approved must not let `SET DEFAULT 6` run.
  const std::string key = statement_hash(hold.canonical.empty() ? hold.statement : hold.canonical);
  std::string error;

  // Approved earlier (the client's wait ran out before the decision): it runs now, once.
  // Store calls (SQLite, or PostgreSQL over libpq) run on the blocking pool: a slow store
  // must not stall the other sessions of this I/O thread.
  auto find_approved = [&] { return service.find_approved(key, state_.user, state_.database, error); };
  if (auto earlier = co_await off_io_thread(find_approved)) {
    ApprovalRequest claimed;
    auto claim_earlier = [&] { return service.claim(earlier->id, claimed, error); };
    if (co_await off_io_thread(claim_earlier)) {
      const std::string text = "schemagate: " + hold.command_tag + " runs under approval request " + earlier->id +
                               " (approved by " + approvals::decided_by(*earlier) + ")";
      if (!co_await write_notice(text)) co_return false;
      const bool ok = co_await run_approved(hold, earlier->id, request_bytes, plan_replies, terminator);
      co_return ok;
    }
  }
  if (state_.tx_status == 'E') {
    auto refusal = respond_error("25P02", "current transaction is aborted, commands ignored until end of transaction block");
    const bool ok = co_await respond(std::move(refusal), terminator);
    co_return ok;
  }

  const bool in_transaction = state_.tx_status == 'T';
  // A resend while the first request is still pending waits on that request, not a new one.
  ApprovalRequest request;
  bool reused = false;
  auto find_pending = [&] { return service.find_pending(key, state_.user, state_.database, error); };
  if (auto pending = co_await off_io_thread(find_pending)) {
    request = std::move(*pending);
    reused = true;
  } else {
    request.statement = hold.statement;
    request.normalized = hold.normalized;
    request.fingerprint = hold.fingerprint;
    request.statement_hash = key;
    request.command_tag = hold.command_tag;
    request.user = state_.user;
    request.database = state_.database;
    request.client_addr = state_.client_addr;
    request.application_name = state_.application_name;
    request.rule_id = hold.rule_id;
    request.rules_json = hold.rules_json;
    request.facts_json = hold.facts_json;
    request.plan_json = hold.plan ? policy::commands::plan_json_text(*hold.plan) : "";
    request.in_transaction = in_transaction;
    request.proxy_instance = instance_name();
    stage_ = Stage::fetching_facts;
    request.evidence_json = co_await gather_evidence(hold);
    stage_ = Stage::relaying;
    if (closed_) co_return false;
    auto submit = [&] { return service.submit(request, error); };
    if (!co_await off_io_thread(submit)) {
      spdlog::error("[{}] approval request for {} cannot be stored: {}", state_.id, hold.command_tag, error);
      auto refusal = respond_error("SG003", "schemagate: " + hold.command_tag +
                                                " needs approval, and the approval request cannot be stored",
                                   error, "The statement was not run. Try again once the approvals store is back.");
      const bool ok = co_await respond(std::move(refusal), terminator);
      co_return ok;
    }
  }
  ctx_->metrics->add(Counter::holds_started);

  const std::int64_t wait_ms = in_transaction ? cfg.wait_in_transaction_ms : cfg.wait_ms;
  std::string announce = "schemagate: " + hold.command_tag + " held for approval: request " + request.id +
                         " (rule " + hold.rule_id + "); waiting up to " + duration_text(wait_ms);
  if (reused) announce += " (the same statement is already waiting for approval)";
  if (!service.base_url().empty()) announce += "; approve: POST " + service.request_url(request.id) + "/approve";
  announce += "; or: schemagate requests approve " + request.id;
  if (in_transaction) announce += ". Your transaction keeps its locks while it waits.";
  spdlog::info("[{}] {} held for approval as request {} (rule {}, user={} database={})", state_.id, hold.command_tag,
               request.id, hold.rule_id, state_.user, state_.database);
  const auto withdraw = [&](const char* why) -> awaitable<void> {
    auto call = [&] { service.withdraw(request.id, why); };
    co_await off_io_thread(call);
  };
  if (!co_await write_notice(announce)) {
    co_await withdraw("the client went away before the request was announced");
    co_return false;
  }

  stage_ = Stage::held;
  cancel_flag_->store(false, std::memory_order_relaxed);  // a cancel meant for an earlier statement
  waiting_in_proxy_->store(true, std::memory_order_seq_cst);  // cancels now withdraw, not reach the server
  client_gone_ = false;
  auto busy = std::make_shared<bool>(true);
  auto self = shared_from_this();
  net::co_spawn(executor(), [self, busy]() { return self->watch_client_gone(busy); }, net::detached);
  std::weak_ptr<Session> weak = self;
  const auto watch = service.registry().watch(request.id, executor(), [weak] {
    if (auto s = weak.lock()) {
      ++s->approval_wakeups_;
      s->notify();
    }
  });

  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const auto deadline = start + std::chrono::milliseconds(wait_ms);
  auto next_reminder = start + std::chrono::milliseconds(cfg.reminder_ms);
  std::uint64_t seen_wakeups = approval_wakeups_;
  // Read once more after the watch is in place: a decision made before it (a decide webhook
  // answering at once, a fallback applied in submit) posted no wake-up to this session.
  bool reread = true;
  enum class End { approved, denied, timed_out, gone, cancelled, closed } end = End::timed_out;
  ApprovalRequest current = request;
  bool client_ok = true;
  for (;;) {
    if (closed_) {
      end = End::closed;
      break;
    }
    if (client_gone_) {
      end = End::gone;
      break;
    }
    if (cancel_requested()) {
      end = End::cancelled;
      break;
    }
    if (reread || seen_wakeups != approval_wakeups_) {
      reread = false;
      seen_wakeups = approval_wakeups_;
      auto get = [&] { return service.get(request.id, error); };
      if (auto fresh = co_await off_io_thread(get)) current = std::move(*fresh);
      else if (!error.empty()) spdlog::warn("[{}] approval request {}: {}", state_.id, request.id, error);
    }
    if (current.status == RequestStatus::approved) {
      end = End::approved;
      break;
    }
    if (current.status != RequestStatus::pending) {
      end = End::denied;  // denied, expired, withdrawn elsewhere, executed by another session
      break;
    }
    const auto now = clock::now();
    if (now >= deadline) break;
    if (now >= next_reminder && client_ok) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
      client_ok = co_await write_notice("schemagate: still waiting for approval of request " + request.id + " (" +
                                        duration_text(left) + " left)");
      next_reminder = now + std::chrono::milliseconds(cfg.reminder_ms);
      continue;
    }
    co_await wait_event_until(std::min(deadline, next_reminder));
  }
  // Cleared before the cancel flag is read again: a cancel that saw the flag set was not
  // forwarded, so it must end the wait even when it raced with the approval (send_cancel).
  waiting_in_proxy_->store(false, std::memory_order_seq_cst);
  if (end == End::approved && cancel_flag_->load(std::memory_order_seq_cst)) end = End::cancelled;
  service.registry().unwatch(watch);
  ctx_->metrics->observe(Histogram::hold_seconds,
                         std::chrono::duration<double>(clock::now() - start).count());
  *busy = false;
  stage_ = Stage::relaying;

  std::vector<std::byte> messages;
  switch (end) {
    case End::approved: {
      ApprovalRequest claimed;
      auto claim = [&] { return service.claim(request.id, claimed, error); };
      if (co_await off_io_thread(claim)) {
        ctx_->metrics->add(Counter::holds_approved);
        const std::string text = "schemagate: request " + request.id + " approved by " + approvals::decided_by(current) +
                                 (approvals::decision_reason(current).empty() ? "" : " (" + approvals::decision_reason(current) + ")") +
                                 "; running " + hold.command_tag;
        if (!co_await write_notice(text)) co_return false;
        const bool ok = co_await run_approved(hold, request.id, request_bytes, plan_replies, terminator);
        co_return ok;
      }
      auto refusal = respond_error("SG003", "schemagate: the approval of request " + request.id + " cannot be used",
                                   error, "Send the statement again to ask for a new approval.");
      ctx_->metrics->add(Counter::holds_refused);
      const bool ok = co_await respond(std::move(refusal), terminator);
      co_return ok;
    }
    case End::denied: {
      ctx_->metrics->add(Counter::holds_refused);
      Respond refusal;
      if (current.status == RequestStatus::denied) {
        const std::string reason = approvals::decision_reason(current);
        refusal = respond_error("SG002", "schemagate: " + hold.command_tag + " denied by " +
                                             approvals::decided_by(current) + " (request " + request.id + ")",
                                reason.empty() ? std::string() : "Reason: " + reason);
      } else {
        refusal = respond_error("SG003", "schemagate: approval request " + request.id + " is " +
                                             approvals::to_string(current.status) + "; " + hold.command_tag +
                                             " was not run",
                                current.outcome, "Send the statement again to ask for a new approval.");
      }
      const bool ok = co_await respond(std::move(refusal), terminator);
      co_return ok;
    }
    case End::timed_out: {
      ctx_->metrics->add(Counter::holds_refused);
      auto refusal = respond_error(
          "SG003", "schemagate: approval of " + hold.command_tag + " timed out after " + duration_text(wait_ms) +
                       " (request " + request.id + ")",
          "The request stays pending until " + std::to_string(current.expires_ms / 1000) + " (Unix time).",
          "Once it is approved, send the same statement again: it then runs without waiting.");
      const bool ok = co_await respond(std::move(refusal), terminator);
      co_return ok;
    }
    case End::cancelled: {
      co_await withdraw("cancelled by the client (CancelRequest)");
      co_await wait_for_cancel_delivery();  // the idle backend drops it; the next statement must not get it
      cancel_flag_->store(false, std::memory_order_relaxed);
      auto refusal = respond_error("57014", "canceling statement due to user request",
                                   "schemagate: approval request " + request.id + " was withdrawn.");
      const bool ok = co_await respond(std::move(refusal), terminator);
      co_return ok;
    }
    case End::gone:
    case End::closed:
      co_await withdraw("the client disconnected while waiting");
      co_return false;
  }
  co_return false;
}

awaitable<void> Session::record_outcome(const std::string& request_id, bool succeeded, std::string result) {
  auto& service = *ctx_->approvals;
  auto call = [&] { service.finish(request_id, succeeded, result); };
  co_await off_io_thread(call);  // a store write, like every other of a held session
}

awaitable<bool> Session::run_approved(const Hold& hold, const std::string& request_id,
                                      const std::vector<std::byte>& request_bytes,
                                      const std::vector<std::byte>& plan_replies, char terminator) {
  if (hold.plan) {
    const RunPlan run{hold.plan, hold.command_tag, hold.plan_announcement, hold.statement};
    std::string failure;
    const bool ok = co_await run_plan(run, plan_replies, terminator, &failure);
    const bool succeeded = failure.empty();
    std::string result = succeeded ? hold.command_tag : failure;
    co_await record_outcome(request_id, succeeded, std::move(result));
    co_return ok;
  }
  // As written: the very bytes the client sent, so its replies (and its error, if any) are
  // the server's own. How it ended is read from the ErrorResponses relayed before its
  // ReadyForQuery.
  co_await wait_for_server_idle();
  if (closed_) co_return false;
  // A statement whose Parse the proxy answered (session_deferred.cc) reaches the server now.
  if (inlined_ && !co_await materialize_deferred()) co_return false;
  const auto errors_before = server_errors_;
  expect_ready_for_query(terminator);
  if (!co_await write_server(request_bytes)) co_return false;
  const bool waits_for_z = terminator == tag::kSync || terminator == tag::kQuery;
  if (waits_for_z) co_await wait_for_server_idle();
  const bool failed = server_errors_ != errors_before;
  std::string result = !waits_for_z ? "forwarded" : failed ? "the database returned an error" : hold.command_tag;
  co_await record_outcome(request_id, !failed, std::move(result));
  co_return !closed_ && terminator != tag::kTerminate;
}

}  // namespace schemagate::proxy
