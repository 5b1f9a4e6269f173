// Session, ready state: the two pumps that move bytes once authentication is done.
//
// client_pump: frames client bytes into requests (ClientRequest). CopyData is streamed as it
//   arrives; everything else is held until the request is complete, then forwarded as one
//   byte range (no copy, no re-encoding), or — when the interceptor wants something else —
//   handled by the slow path.
// server_pump: forwards server bytes by range. Only ReadyForQuery, ParameterStatus,
//   ErrorResponse and Copy{In,Both}Response are looked at, to track state.
//
// The fast path allocates nothing: scanning and deciding are plain functions, and each pump
// co_awaits one socket operation at a time (Asio recycles that operation's frame). Nested
// coroutines are kept for the rare paths (answers written by the proxy, drain, errors).
#include <chrono>

#include <spdlog/spdlog.h>

#include "policy/plan.h"
#include "protocol/backend.h"
#include "protocol/frontend.h"
#include "protocol/tags.h"
#include "proxy/live_facts.h"
#include "proxy/policy_interceptor.h"
#include "proxy/session.h"

namespace schemagate::proxy {

namespace tag = protocol::tag;
using protocol::DecodeStatus;

namespace {
constexpr std::size_t kMinReadBytes = 4096;
constexpr std::string_view kAbortPortal = "schemagate: abort the pipeline";
constexpr const char* kUnsyncedPipeline =
    "it cannot start inside a pipeline whose earlier request ended in Flush instead of Sync (its transaction is open)";

bool produces_ready_for_query(char terminator, bool server_copy_in) {
  // The server ignores Sync while in copy-in mode, so those produce no ReadyForQuery.
  return terminator == tag::kQuery || terminator == tag::kFunctionCall ||
         (terminator == tag::kSync && !server_copy_in);
}
}  // namespace

bool Session::idle_for_drain() const {
  return expected_z_.empty() && state_.tx_status == 'I' && request_.empty() && !server_copy_in_ &&
         cdec_.at_boundary() && !client_writing_;
}

void Session::drain() {
  draining_ = true;
  if (!is_ready(stage_) || stage_ == Stage::console || (stage_ == Stage::relaying && idle_for_drain())) abort("57P01", "terminating connection due to administrator command");
}

void Session::abort_if_idle(const char* sqlstate, const char* message) {
  if ((stage_ == Stage::relaying && idle_for_drain()) || stage_ == Stage::console) abort(sqlstate, message);
}

void Session::on_ready_for_query(char status) {
  if (status != 0) {
    state_.tx_status = status;
    tx_status_seen_.store(status, std::memory_order_relaxed);
  }
  if (!expected_z_.empty()) expected_z_.pop_front();
  if (expected_z_.empty()) unsynced_ = false;
  if (status == 'I' && expected_z_.empty() && !unsynced_) state_.exclusive_lock_held = false;  // every lock is gone
  if (status == 'I' && !after_commit_.empty())  // the transaction ended without the COMMIT they wait for
    give_up_waiting(!rollback_requested_, rollback_requested_ ? "the transaction rolled back"
                                                              : "the transaction ended without a plain COMMIT the "
                                                                "proxy could wait for");
  server_copy_in_ = false;
  notify();
}

void Session::expect_ready_for_query(char terminator) {
  if (terminator == tag::kFlush) unsynced_ = true;
  if (!produces_ready_for_query(terminator, server_copy_in_)) return;
  if (expected_z_.full()) expected_z_.set_capacity(expected_z_.capacity() * 2);
  expected_z_.push_back(terminator);
}

// ---------------------------------------------------------------------------- client → server

Session::ClientScan Session::scan_client() {
  // cbuf_ layout: [0, forward) decided, to be written to the server | [forward, pos) frames of
  // the request being assembled | [pos, size) not framed yet.
  ClientScan out;
  std::size_t pos = out.forward + request_.size();
  for (;;) {
    if (discard_until_sync_) {
      out.next = ClientScan::slow;  // rare: handled frame by frame in slow_client_path
      return out;
    }
    const bool holding = !request_.empty();
    const auto r = cdec_.next(cbuf_.span(pos), [holding](char t) { return holding || t != tag::kCopyData; });
    if (r.status == DecodeStatus::need_more) {
      cbuf_.reserve_total(pos + r.needed);
      out.next = ClientScan::read_more;
      return out;
    }
    if (r.status == DecodeStatus::error) {
      ctx_->metrics->add(Counter::protocol_errors);
      spdlog::warn("[{}] invalid message from client {}: {}", state_.id, state_.client_addr, r.error.message());
      client_error_ = r.error;
      out.next = ClientScan::error;
      return out;
    }
    pos += r.consumed;
    if (r.status == DecodeStatus::passthrough) {  // streamed CopyData
      out.forward = pos;
      continue;
    }
    request_.add(r.tag, r.consumed);
    if (!ClientRequest::ends_request(r.tag)) continue;
    const char terminator = request_.terminator();
    // Statements the proxy answered a Parse for (session_deferred.cc): none, nearly always.
    inlined_ = false;
    const bool deferred = !deferred_.empty() && names_deferred(out.forward);
    if (!after_commit_.empty()) {  // phases wait for this transaction's COMMIT (session_after_commit.cc)
      if (is_plain_commit(out.forward)) {
        commit_request_ = true;
        out.next = ClientScan::slow;
        return out;
      }
      note_transaction_end_request(out.forward);
    }
    if (request_.needs_inspection() || deferred) {
      const auto bytes = cbuf_.span(out.forward).first(request_.size());
      state_.replies_pending = !expected_z_.empty() || unsynced_;
      refresh_context();
      const RequestView view = deferred ? inline_view(out.forward) : RequestView{request_, bytes};
      pending_verdict_ = ctx_->interceptor->on_request(view, state_, nullptr, judged_);
      ctx_->metrics->add(judged_.parsed ? Counter::requests_parsed : Counter::requests_fast);
      const auto* fwd = std::get_if<Forward>(&pending_verdict_);
      if (fwd != nullptr && fwd->lock_timeout_set) state_.lock_timeout_set = *fwd->lock_timeout_set;
      // Judged statements go the slow way too: they are counted and audited before they run.
      if (fwd == nullptr || !fwd->notices.empty() || !judged_.statements.empty() || deferred) {
        out.next = ClientScan::slow;  // the request stays at [forward, pos) for the slow path
        return out;
      }
    }
    if (terminator == tag::kCopyDone || terminator == tag::kCopyFail) server_copy_in_ = false;
    expect_ready_for_query(terminator);
    request_.clear();
    out.forward = pos;
    if (terminator == tag::kTerminate) {
      out.next = ClientScan::terminate;
      return out;
    }
  }
}

awaitable<void> Session::client_pump() {
  for (;;) {
    const auto scan = scan_client();
    if (scan.forward > 0) {
      error_code ec;
      const auto rest = server_.try_write(net::buffer(cbuf_.data(), scan.forward), ec);
      if (!ec && rest.size() > 0) co_await server_.write_all(rest, ec);
      if (ec) co_return;
      cbuf_.consume(scan.forward);
    }
    switch (scan.next) {
      case ClientScan::read_more:
        break;
      case ClientScan::slow: {
        const auto next = co_await slow_client_path();
        if (next == SlowResult::stop) co_return;
        if (next == SlowResult::rescan) continue;
        break;  // read more
      }
      case ClientScan::terminate:
        co_return;
      case ClientScan::error:
      {
        const std::string why = "invalid frontend message: " + client_error_.message();
        co_await send_fatal("08P01", why);
      }
        co_return;
    }
    if (draining_ && idle_for_drain()) {
      abort("57P01", "terminating connection due to administrator command");
      co_return;
    }
    auto space = cbuf_.prepare(kMinReadBytes);
    error_code ec;
    const auto n = co_await client_.read_some(net::buffer(space.data(), space.size()), ec);
    if (ec) {
      if (ec != net::error::eof && !closed_) spdlog::debug("[{}] client read failed: {}", state_.id, ec.message());
      co_return;
    }
    touch();
    BusyPoller::note_activity();
    cbuf_.commit(n);
    ctx_->metrics->add(Counter::client_bytes, n);
  }
}

awaitable<Session::SlowResult> Session::slow_client_path() {
  if (discard_until_sync_) {
    // Skipping the rest of a request the proxy already answered (it ended with Flush): drop
    // frames up to the client's Sync, which gets the ReadyForQuery.
    for (;;) {
      const auto r = cdec_.next(cbuf_.span(), [](char) { return true; });
      if (r.status == DecodeStatus::need_more) {
        cbuf_.reserve_total(r.needed);
        co_return SlowResult::read;  // read more, then come back here
      }
      if (r.status == DecodeStatus::error) {
        const std::string why = "invalid frontend message: " + r.error.message();
        co_await send_fatal("08P01", why);
        co_return SlowResult::stop;
      }
      cbuf_.consume(r.consumed);
      if (r.tag == tag::kSync) {
        discard_until_sync_ = false;
        co_await wait_for_server_idle();
        scratch_.clear();
        protocol::write_ready_for_query(scratch_, state_.tx_status);
        const bool ok = co_await write_client(scratch_);
        co_return ok ? SlowResult::rescan : SlowResult::stop;
      }
      if (r.tag == tag::kTerminate) co_return SlowResult::stop;
    }
  }
  // A complete request sits at the start of cbuf_ with the interceptor's verdict pending.
  Verdict verdict = std::move(pending_verdict_);
  pending_verdict_ = Forward{};
  const char terminator = request_.terminator();
  const std::size_t size = request_.size();
  if (commit_request_) {
    commit_request_ = false;
    const bool ok = co_await commit_and_run_waiting(size, terminator);
    co_return ok ? SlowResult::rescan : SlowResult::stop;
  }
  if (auto* need = std::get_if<NeedFacts>(&verdict)) {
    const std::vector<policy::QualifiedName> tables = std::move(need->tables);
    const bool identity = need->identity;
    LiveFacts facts(server_version_num(state_.parameter("server_version")));
    co_await fetch_facts(tables, identity, facts);
    if (closed_) co_return SlowResult::stop;
    state_.replies_pending = !expected_z_.empty() || unsynced_;
    verdict = ctx_->interceptor->on_request(judged_view(size), state_, &facts, judged_);
    if (std::holds_alternative<NeedFacts>(verdict)) verdict = Forward{};  // asked twice: a broken interceptor
  }
  // A statement that will run (now, as a plan, or once approved) and takes ACCESS EXCLUSIVE
  // may leave the lock held by the transaction: its DML is judged from now on.
  if (!std::holds_alternative<Respond>(verdict))
    for (const auto& j : judged_.statements)
      if (j.exclusive_lock) state_.exclusive_lock_held = true;
  // PAUSE (admin console) stops every schema change the interceptor judged, whatever the policy
  // said (the audit line then says "refused").
  std::string paused_by;
  if (!judged_.statements.empty() && ctx_->control != nullptr && ctx_->control->ddl_paused(&paused_by) &&
      !std::holds_alternative<Respond>(verdict))
    verdict = respond_error("SG001", "schemagate: schema changes are paused by an administrator", "PAUSE by " + paused_by,
                            "Nothing was run. Send the statement again after RESUME (admin console).");
  // A deferred statement (below) inside an unsynced pipeline would need a Sync of its own, which commits the
  // pipeline's transaction half-way: refused instead.
  if (inlined_ && unsynced_ && std::holds_alternative<Forward>(verdict))
    verdict = respond_error("SG005", std::string("schemagate: a schema change prepared earlier cannot run here: ") + kUnsyncedPipeline,
                            "", "Send Sync before executing it.");
  if (!record_judgements(verdict))
    verdict = respond_error("SG001", "schemagate: the audit log cannot be written, and audit.fail_closed refuses DDL meanwhile",
                            "audit.path: " + ctx_->audit->path(),
                            "Nothing was run. Free space or fix the audit log's file, then send the statement again.");
  // A deferred statement that may now run as written goes to the server before the request
  // that names it (a plain hold: only once approved, in run_approved — prepared on the server
  // earlier, a later Bind would run it unjudged after a denial).
  if (inlined_ && std::holds_alternative<Forward>(verdict))
    if (!co_await materialize_deferred()) co_return SlowResult::stop;
  if (auto* fwd = std::get_if<Forward>(&verdict)) {
    if (fwd->lock_timeout_set) state_.lock_timeout_set = *fwd->lock_timeout_set;
    if (!fwd->notices.empty()) {
      // Policy warnings go out before the statement's own replies.
      co_await wait_for_server_idle();
      if (!co_await write_client(fwd->notices)) co_return SlowResult::stop;
    }
    expect_ready_for_query(terminator);
    const bool ok = co_await write_server(cbuf_.span().first(size));
    cbuf_.consume(size);
    request_.clear();
    co_return ok && terminator != tag::kTerminate ? SlowResult::rescan : SlowResult::stop;
  }
  // The replies the server would have sent for the rewritten request, decided while its frames
  // are still in the buffer.
  std::vector<std::byte> plan_replies;
  std::string cannot_run;
  PlanRequestShape shape;
  const std::size_t first_frame = inlined_ ? 1 : 0;  // the inlined Parse gets no reply
  if (auto* run = std::get_if<RunPlan>(&verdict))
    synthesize_plan_replies(judged_view(size), run->command_tag, plan_replies, cannot_run, &shape, first_frame);
  std::vector<std::byte> held_bytes;  // a held request is forwarded as written once approved
  if (auto* hold = std::get_if<Hold>(&verdict)) {
    std::string plain_why;  // a plain hold forwards the request as written: any shape will do
    synthesize_plan_replies(judged_view(size), hold->command_tag, plan_replies,
                            hold->plan ? cannot_run : plain_why, &shape, first_frame);
    const auto bytes = cbuf_.span().first(size);
    held_bytes.assign(bytes.begin(), bytes.end());
  }
  // Only prepared (or described), not executed: answer as the server would, and judge it again
  // when a later message executes it (session_deferred.cc).
  const bool prepare_only = cannot_run.empty() && shape.prepared && !shape.executes && state_.tx_status != 'E' &&
                            (std::holds_alternative<RunPlan>(verdict) || std::holds_alternative<Hold>(verdict));
  if (prepare_only && !can_defer(*shape.prepared))
    verdict = respond_error("54000", "schemagate: too many prepared schema changes on this connection",
                            "The proxy keeps at most " + std::to_string(kMaxDeferred) +
                                " statements it answered a Parse for; each is judged when executed.",
                            "Close (DEALLOCATE) prepared statements that are no longer needed.");
  else if (prepare_only) {
    cbuf_.consume(size);
    request_.clear();
    remember_deferred(shape);
    const bool ok = co_await answer_prepared(plan_replies, terminator);
    co_return ok ? SlowResult::rescan : SlowResult::stop;
  }
  // The plan runs in place of a Parse the server never sees: a later Bind of the same name
  // comes back to the proxy.
  const bool replaces_parse = std::holds_alternative<RunPlan>(verdict) ||
                              (std::holds_alternative<Hold>(verdict) && std::get<Hold>(verdict).plan);
  cbuf_.consume(size);
  request_.clear();
  // (GCC 12 miscompiles `co_return co_await f(temporary)`: results go through locals.)
  Respond answer;
  if (auto* r = std::get_if<Respond>(&verdict)) {
    answer = std::move(*r);
  } else if (auto* run = std::get_if<RunPlan>(&verdict)) {
    // Inside the client's transaction only plans that need none of their own can run (guarded
    // steps under savepoints); the engine already refused the others with SG005.
    const bool can_start = !unsynced_ && (state_.tx_status == 'I' ||
                                          (state_.tx_status == 'T' && !run->plan->needs_outside_transaction()));
    if (cannot_run.empty() && can_start) {
      if (replaces_parse) remember_deferred(shape);
      const bool ok = co_await run_plan(*run, plan_replies, terminator);
      co_return ok ? SlowResult::rescan : SlowResult::stop;
    }
    // Never forwarded as written: the policy said this statement must not run as is.
    if (cannot_run.empty() && unsynced_) cannot_run = kUnsyncedPipeline;
    if (cannot_run.empty()) cannot_run = "a rewrite plan cannot start inside a transaction block";
    answer = respond_error(state_.tx_status == 'I' && !unsynced_ ? "SG001" : "SG005",
                           "schemagate: " + run->command_tag + " must run as a phased rewrite (rule " +
                               run->plan->rule_id + "), and " + cannot_run,
                           run->plan->summary,
                           "Send the statement on its own (one statement per message), outside a transaction block.");
  } else {
    const auto& hold = std::get<Hold>(verdict);
    // Waiting for an approval inside an unsynced pipeline would keep its transaction (and
    // locks) open for as long as the approver takes, and its evidence query could commit it.
    const bool can_start = !unsynced_ && (!hold.plan || state_.tx_status == 'I' ||
                                          (state_.tx_status == 'T' && !hold.plan->needs_outside_transaction()));
    if (cannot_run.empty() && can_start) {
      if (replaces_parse) remember_deferred(shape);
      const bool ok = co_await hold_request(hold, held_bytes, plan_replies, terminator);
      co_return ok ? SlowResult::rescan : SlowResult::stop;
    }
    // Approving it would be pointless: its plan could not run for this request.
    if (cannot_run.empty() && unsynced_) cannot_run = kUnsyncedPipeline;
    if (cannot_run.empty()) cannot_run = "its rewrite plan cannot start inside a transaction block";
    answer = respond_error(unsynced_ ? "SG005" : "SG001",
                           "schemagate: " + hold.command_tag + " needs approval and then runs as a phased rewrite (rule " +
                               hold.rule_id + "), and " + cannot_run,
                           hold.detail,
                           "Send the statement on its own (one statement per message), outside a transaction block.");
  }
  stage_ = Stage::answering;
  const bool ok = co_await respond(std::move(answer), terminator);
  stage_ = Stage::relaying;
  co_return ok ? SlowResult::rescan : SlowResult::stop;
}

awaitable<void> Session::wait_for_server_idle() {
  // Answers the proxy writes itself must come after every reply still owed for earlier
  // requests, so wait until the server has sent all outstanding ReadyForQuery messages.
  while (!expected_z_.empty() && !closed_) co_await wait_event();
}

awaitable<void> Session::wait_event() {
  ++waiters_;
  error_code ec;
  event_.expires_at(net::steady_timer::time_point::max());
  co_await event_.async_wait(net::redirect_error(use_awaitable, ec));
  --waiters_;
}

awaitable<bool> Session::respond(Respond r, char terminator) {
  count_errors(r.messages);
  co_await wait_for_server_idle();
  if (closed_) co_return false;
  if (unsynced_) {
    // A request ended in Flush before this one: the server holds the pipeline's implicit
    // transaction (or block) open, or skips everything until Sync after an error. An error
    // must end it as the server's own would — a later Sync would otherwise commit what came
    // before the refused statement. Execute a portal just closed (it cannot exist), then Sync:
    // exactly one ReadyForQuery whether the server was skipping or not. The replies are hidden.
    std::vector<std::byte> abort_pipeline;
    protocol::write_close(abort_pipeline, 'P', kAbortPortal);
    protocol::write_execute(abort_pipeline, kAbortPortal);
    protocol::write_sync(abort_pipeline);
    QueryResult ignored;
    if (!co_await server_exchange(abort_pipeline, tag::kSync, ignored)) co_return false;
  } else if (state_.tx_status == 'T') {
    // Inside a transaction block an error must abort the block on the server too, or a later
    // COMMIT would commit what came before the refused statement. Make the server fail a
    // harmless statement and hide its reply; the client then sees our error and status 'E'.
    const std::string abort_block =
        "DO $schemagate$BEGIN RAISE EXCEPTION 'schemagate: statement refused by the proxy'; END$schemagate$";
    QueryResult ignored;
    if (!co_await server_query(abort_block, ignored)) co_return false;
  }
  if (terminator == tag::kSync || terminator == tag::kQuery || terminator == tag::kFunctionCall) {
    protocol::write_ready_for_query(r.messages, state_.tx_status);
  } else if (terminator == tag::kFlush) {
    discard_until_sync_ = true;  // the client's Sync will get the ReadyForQuery
  }
  const bool ok = co_await write_client(r.messages);
  co_return ok;
}

// ---------------------------------------------------------------------------- server → client

awaitable<void> Session::server_pump() {
  auto self = shared_from_this();
  for (;;) {
    auto space = sbuf_.prepare(kMinReadBytes);
    error_code ec;
    const auto n = co_await server_.read_some(net::buffer(space.data(), space.size()), ec);
    if (ec) {
      if (!closed_) {
        server_closed_ = true;  // the server ended on its own: nothing left to cancel
        ctx_->metrics->add(Counter::server_lost);
        spdlog::warn("[{}] database server connection lost: {}", state_.id, ec.message());
        // Tell the client why, unless the server already did (FATAL), or that would cut a
        // message in half.
        if (!server_sent_fatal_ && sdec_.at_boundary() && !client_writing_) {
          co_await send_fatal("08006", "schemagate: the database server closed the connection unexpectedly");
        }
        close_streams();
      }
      co_return;
    }
    BusyPoller::note_activity();
    sbuf_.commit(n);
    ctx_->metrics->add(Counter::server_bytes, n);
    const auto scan = scan_server();
    if (!scan.ok) {
      close_streams();
      co_return;
    }
    if (!side_out_.empty()) {
      if (!co_await write_client(side_out_)) co_return;
    }
    if (scan.end > scan.begin) {
      if (client_writing_) {  // the client pump is writing an answer of its own: wait (rare)
        if (!co_await write_client(sbuf_.span(scan.begin).first(scan.end - scan.begin))) co_return;
      } else {
        client_writing_ = true;
        error_code wec;
        const auto rest = client_.try_write(net::buffer(sbuf_.data() + scan.begin, scan.end - scan.begin), wec);
        if (!wec && rest.size() > 0) co_await client_.write_all(rest, wec);
        client_writing_ = false;
        notify();
        if (wec) {
          close_streams();
          co_return;
        }
      }
    }
    sbuf_.consume(scan.end);
    if (draining_ && idle_for_drain()) {
      abort("57P01", "terminating connection due to administrator command");
      co_return;
    }
  }
}

Session::ServerScan Session::scan_server() {
  // sbuf_ layout: [0, begin) dropped or copied to side_out_ | [begin, end) to forward |
  // [end, size) incomplete frame.
  ServerScan out;
  side_out_.clear();
  for (;;) {
    const bool swallow = exchange_ != nullptr;
    const auto r = sdec_.next(sbuf_.span(out.end), [swallow](char t) {
      switch (t) {
        case tag::kReadyForQuery:
        case tag::kParameterStatus:
        case tag::kErrorResponse:
        case tag::kCopyInResponse:
        case tag::kCopyBothResponse:
          return true;
        default:
          return swallow;
      }
    });
    if (r.status == DecodeStatus::need_more) {
      sbuf_.reserve_total(out.end + r.needed);
      return out;
    }
    if (r.status == DecodeStatus::error) {
      ctx_->metrics->add(Counter::protocol_errors);
      spdlog::error("[{}] invalid message from the database server: {}", state_.id, r.error.message());
      out.ok = false;
      return out;
    }
    const std::byte* frame_bytes = sbuf_.data() + out.end;
    out.end += r.consumed;
    if (r.status == DecodeStatus::passthrough) continue;
    if (exchange_ != nullptr) {
      // The answer to a statement the proxy sent itself: collected, hidden from the client,
      // except for asynchronous messages. Everything before it that was meant for the client
      // goes first.
      const std::byte* base = sbuf_.data();
      side_out_.insert(side_out_.end(), base + out.begin, frame_bytes);
      out.begin = out.end;
      collect_exchange_frame(r.tag, r.frame, frame_bytes, r.consumed);
      if (r.tag == tag::kReadyForQuery) {
        exchange_->tx_status = protocol::ready_for_query_status(r.frame);
        exchange_ = nullptr;
        on_ready_for_query(protocol::ready_for_query_status(r.frame));
      }
      if (r.tag != tag::kParameterStatus) continue;  // ParameterStatus is also tracked below
    }
    switch (r.tag) {
      case tag::kReadyForQuery:
        on_ready_for_query(protocol::ready_for_query_status(r.frame));
        break;
      case tag::kParameterStatus: {
        protocol::ParameterStatus ps;
        if (!protocol::parse_parameter_status(r.frame, ps)) {
          auto it = state_.parameters.find(ps.name);
          if (it == state_.parameters.end()) it = state_.parameters.emplace(std::string(ps.name), std::string()).first;
          it->second.assign(ps.value);
          if (ps.name == "application_name") {
            state_.application_name = ps.value;
            publish_summary();
          }
        }
        break;
      }
      case tag::kErrorResponse:
        ++server_errors_;
        ctx_->metrics->count_error(protocol::error_sqlstate(r.frame));
        if (protocol::is_fatal_error(r.frame)) server_sent_fatal_ = true;
        break;
      case tag::kCopyInResponse:
      case tag::kCopyBothResponse:
        // An extended-protocol COPY FROM STDIN: the Sync the client already sent behind the
        // Execute is ignored by the server in copy-in mode and will produce no ReadyForQuery.
        if (!expected_z_.empty() && expected_z_.front() == tag::kSync) expected_z_.pop_front();
        server_copy_in_ = true;
        break;
      default:
        break;
    }
  }
}

}  // namespace schemagate::proxy
