// Session, ready state: the two pumps that move bytes once authentication is done.
//
// client_pump: frames client bytes into requests (ClientRequest). CopyData is streamed as it
//   arrives; everything else is held until the request is complete, then either forwarded
//   as one byte range (the common case: no copy, no re-encoding) or handed to the
//   interceptor when it carries SQL.
// server_pump: forwards server bytes by range. Only ReadyForQuery, ParameterStatus,
//   ErrorResponse and the Copy*Response messages are looked at, to track state.
#include <spdlog/spdlog.h>

#include "policy/plan.h"
#include "protocol/backend.h"
#include "protocol/frontend.h"
#include "protocol/tags.h"
#include "proxy/session.h"

namespace schemagate::proxy {

namespace tag = protocol::tag;
using protocol::DecodeStatus;

namespace {
constexpr std::size_t kMinReadBytes = 4096;
}  // namespace

bool Session::idle_for_drain() const {
  return expected_z_.empty() && state_.tx_status == 'I' && request_.empty() && !server_copy_in_ &&
         cdec_.at_boundary() && !client_writing_;
}

void Session::drain() {
  draining_ = true;
  if (phase_ != Phase::ready) {
    abort("57P01", "terminating connection due to administrator command");
    return;
  }
  if (idle_for_drain()) abort("57P01", "terminating connection due to administrator command");
}

void Session::abort_if_idle(const char* sqlstate, const char* message) {
  if (phase_ == Phase::ready && idle_for_drain()) abort(sqlstate, message);
}

void Session::on_ready_for_query(char status) {
  if (status != 0) state_.tx_status = status;
  if (!expected_z_.empty()) expected_z_.pop_front();
  server_copy_in_ = false;
  notify();
}

// ---------------------------------------------------------------------------- client → server

awaitable<void> Session::client_pump() {
  for (;;) {
    if (!co_await process_client_bytes()) co_return;
    auto space = cbuf_.prepare(kMinReadBytes);
    error_code ec;
    const auto n = co_await client_.read_some(net::buffer(space.data(), space.size()), ec);
    if (ec) {
      if (ec != net::error::eof && !closed_) spdlog::debug("[{}] client read failed: {}", state_.id, ec.message());
      co_return;
    }
    touch();
    cbuf_.commit(n);
  }
}

awaitable<bool> Session::process_client_bytes() {
  // cbuf_ layout: [0, begin) decided and to be forwarded | [begin, pos) frames of the request
  // being assembled | [pos, size) not framed yet.
  std::size_t begin = 0;
  std::size_t pos = request_.size();
  for (;;) {
    const bool holding = !request_.empty() || discard_until_sync_;
    const auto r = cdec_.next(cbuf_.span(pos), [holding](char t) { return holding || t != tag::kCopyData; });
    if (r.status == DecodeStatus::need_more) {
      cbuf_.reserve_total(pos + r.needed);
      break;
    }
    if (r.status == DecodeStatus::error) {
      ctx_->stats->protocol_errors.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("[{}] invalid message from client {}: {}", state_.id, state_.client_addr, r.error.message());
      if (begin > 0 && !co_await write_server(cbuf_.span().first(begin))) co_return false;
      co_await send_fatal("08P01", "invalid frontend message: " + r.error.message());
      co_return false;
    }
    if (r.status == DecodeStatus::passthrough) {  // streamed CopyData: forward as it comes
      pos += r.consumed;
      begin = pos;
      continue;
    }
    if (discard_until_sync_) {  // skipping the rest of a request we already answered
      if (begin > 0) {
        if (!co_await write_server(cbuf_.span().first(begin))) co_return false;
        cbuf_.consume(begin);
        pos -= begin;
        begin = 0;
      }
      cbuf_.consume(r.consumed);
      if (r.tag == tag::kSync) {
        discard_until_sync_ = false;
        co_await wait_for_server_idle();
        scratch_.clear();
        protocol::write_ready_for_query(scratch_, state_.tx_status);
        if (!co_await write_client(scratch_)) co_return false;
      }
      continue;
    }
    request_.add(r.tag, r.consumed);
    pos += r.consumed;
    if (!ClientRequest::ends_request(r.tag)) continue;
    // A complete request sits at [begin, pos).
    if (!request_.needs_inspection()) {
      // Bookkeeping for the ReadyForQuery this request will produce. The server ignores Sync
      // while in copy-in mode, so those do not count.
      const char t = request_.terminator();
      if (t == tag::kQuery || t == tag::kFunctionCall || (t == tag::kSync && !server_copy_in_)) {
        if (expected_z_.full()) expected_z_.set_capacity(expected_z_.capacity() * 2);
        expected_z_.push_back(t);
      }
      if (t == tag::kCopyDone || t == tag::kCopyFail) server_copy_in_ = false;
      if (t == tag::kTerminate) {
        if (!co_await write_server(cbuf_.span().first(pos))) co_return false;
        co_return false;
      }
      request_.clear();
      begin = pos;
      continue;
    }
    // The request carries SQL: forward what was decided before it, then let the interceptor judge.
    if (begin > 0) {
      if (!co_await write_server(cbuf_.span().first(begin))) co_return false;
      cbuf_.consume(begin);
      pos -= begin;
      begin = 0;
    }
    if (!co_await handle_request(0)) co_return false;
    // handle_request consumed or forwarded the request bytes.
    pos = 0;
    begin = 0;
    if (closed_) co_return false;
  }
  if (begin > 0) {
    if (!co_await write_server(cbuf_.span().first(begin))) co_return false;
    cbuf_.consume(begin);
  }
  if (draining_ && idle_for_drain()) {
    abort("57P01", "terminating connection due to administrator command");
    co_return false;
  }
  co_return true;
}

awaitable<bool> Session::handle_request(std::size_t request_begin) {
  const auto bytes = cbuf_.span(request_begin).first(request_.size());
  Verdict verdict = ctx_->interceptor->on_request(RequestView{request_, bytes}, state_);
  const char terminator = request_.terminator();
  if (auto* fwd = std::get_if<Forward>(&verdict)) {
    if (!fwd->notices.empty()) {  // policy warnings go out before the statement's own replies
      co_await wait_for_server_idle();
      if (!co_await write_client(fwd->notices)) co_return false;
    }
    if (terminator == tag::kQuery || terminator == tag::kFunctionCall ||
        (terminator == tag::kSync && !server_copy_in_)) {
      if (expected_z_.full()) expected_z_.set_capacity(expected_z_.capacity() * 2);
      expected_z_.push_back(terminator);
    }
    const bool ok = co_await write_server(bytes);
    const bool terminate = terminator == tag::kTerminate;
    cbuf_.consume(request_begin + request_.size());
    request_.clear();
    co_return ok && !terminate;
  }
  ctx_->stats->requests_intercepted.fetch_add(1, std::memory_order_relaxed);
  cbuf_.consume(request_begin + request_.size());
  request_.clear();
  // (GCC 12 miscompiles `co_return co_await f(temporary)`: results go through locals.)
  Respond answer;
  if (auto* r = std::get_if<Respond>(&verdict)) {
    answer = std::move(*r);
  } else if (auto* run = std::get_if<RunPlan>(&verdict)) {
    // Executing plans arrives with the rewrite work; until then the statement is refused with
    // the phases a developer can run by hand, never let through.
    std::string hint = "run these phases instead:";
    for (std::size_t i = 0; i < run->plan->phases.size(); ++i)
      hint += "\n  " + std::to_string(i + 1) + ". " + run->plan->phases[i].sql + ";";
    answer = respond_error("SG001",
                           "schemagate: " + run->command_tag + " must be run as a phased rewrite (rule " +
                               run->plan->rule_id + "), which this version cannot execute yet",
                           run->plan->summary, std::move(hint));
  } else {
    const auto& hold = std::get<Hold>(verdict);
    answer = respond_error("SG003", "schemagate: statement needs approval, which this version cannot request yet",
                           hold.summary);
  }
  const bool ok = co_await respond(std::move(answer), terminator);
  co_return ok;
}

awaitable<void> Session::wait_for_server_idle() {
  // Answers the proxy writes itself must come after every reply still owed for earlier
  // requests, so wait until the server has sent all outstanding ReadyForQuery messages.
  while (!expected_z_.empty() && !closed_) {
    error_code ec;
    event_.expires_at(net::steady_timer::time_point::max());
    co_await event_.async_wait(net::redirect_error(use_awaitable, ec));
  }
}

awaitable<bool> Session::respond(Respond r, char terminator) {
  co_await wait_for_server_idle();
  if (closed_) co_return false;
  if (state_.tx_status == 'T') {
    // Inside a transaction block an error must abort the block on the server too, or a later
    // COMMIT would commit what came before the refused statement. Make the server fail a
    // harmless statement and hide its reply; the client then sees our error and status 'E'.
    scratch_.clear();
    protocol::write_query(scratch_,
                          "DO $schemagate$BEGIN RAISE EXCEPTION 'schemagate: statement refused by the proxy'; "
                          "END$schemagate$");
    swallow_until_z_ = true;
    expected_z_.push_back(tag::kQuery);
    if (!co_await write_server(scratch_)) co_return false;
    co_await wait_for_server_idle();
    if (closed_) co_return false;
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
        ctx_->stats->upstream_errors.fetch_add(1, std::memory_order_relaxed);
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
    sbuf_.commit(n);
    if (!co_await process_server_bytes()) {
      close_streams();
      co_return;
    }
  }
}

awaitable<bool> Session::process_server_bytes() {
  // sbuf_ layout: [0, begin) dropped (replies to the proxy's own statements) |
  // [begin, pos) to forward | [pos, size) incomplete frame.
  std::size_t begin = 0;
  std::size_t pos = 0;
  side_out_.clear();
  for (;;) {
    const bool swallow = swallow_until_z_;
    const auto r = sdec_.next(sbuf_.span(pos), [swallow](char t) {
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
      sbuf_.reserve_total(pos + r.needed);
      break;
    }
    if (r.status == DecodeStatus::error) {
      ctx_->stats->protocol_errors.fetch_add(1, std::memory_order_relaxed);
      spdlog::error("[{}] invalid message from the database server: {}", state_.id, r.error.message());
      co_return false;
    }
    const auto* frame_bytes = sbuf_.data() + pos;
    pos += r.consumed;
    if (r.status == DecodeStatus::passthrough) continue;
    if (swallow_until_z_) {
      // Everything up to here that was meant for the client goes out first, in order.
      side_out_.insert(side_out_.end(), static_cast<const std::byte*>(sbuf_.data() + begin), frame_bytes);
      begin = pos;
      if (r.tag == tag::kNotificationResponse || r.tag == tag::kParameterStatus)
        side_out_.insert(side_out_.end(), frame_bytes, frame_bytes + r.consumed);
      if (r.tag == tag::kReadyForQuery) {
        swallow_until_z_ = false;
        on_ready_for_query(protocol::ready_for_query_status(r.frame));
      }
      continue;
    }
    switch (r.tag) {
      case tag::kReadyForQuery:
        on_ready_for_query(protocol::ready_for_query_status(r.frame));
        break;
      case tag::kParameterStatus: {
        protocol::ParameterStatus ps;
        if (!protocol::parse_parameter_status(r.frame, ps)) {
          auto& v = state_.parameters[std::string(ps.name)];
          v.assign(ps.value);
          if (ps.name == "application_name") state_.application_name = ps.value;
        }
        break;
      }
      case tag::kErrorResponse:
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
  if (!side_out_.empty() && !co_await write_client(side_out_)) co_return false;
  if (pos > begin && !co_await write_client(sbuf_.span(begin).first(pos - begin))) co_return false;
  sbuf_.consume(pos);
  if (draining_ && idle_for_drain()) {
    abort("57P01", "terminating connection due to administrator command");
    co_return false;
  }
  co_return true;
}

}  // namespace schemagate::proxy
