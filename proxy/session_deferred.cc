// Session: statements prepared with Parse that the proxy answered for itself (DeferredStatement).
//
// A DDL statement the policy rewrites or holds may arrive as a Parse that a later message
// executes: pgx's statement cache prepares every statement by name first, pgjdbc names its
// statements past prepareThreshold, psycopg does with prepare=True. Forwarding such a Parse would
// let the later Bind/Execute run the statement as written, past the plan; refusing it breaks the
// migration tool. So the proxy answers the Parse itself (ParseComplete, and for Describe the
// statement's parameters and NoData), keeps the text here, and the server never sees it.
//
// A later request whose Bind or Describe names a deferred statement is judged as if that Parse
// were in it (inline_view), under the facts and the transaction of that moment:
//   rewrite / hold with a plan  the plan runs, the replies are synthesized (the Parse gets none)
//   reject                      the error, as for any refused request
//   pass / warn                 the statement is prepared on the server first (materialize),
//                               forgotten here, and the request forwarded as written
//   plain hold                  the same, but only once approved (run_approved): prepared on
//                               the server earlier, a later Bind would run it after a denial
// Close of a deferred statement, or a new Parse of its name, forgets it (the server accepts a
// Close of a statement it never had).
#include <spdlog/spdlog.h>

#include "protocol/backend.h"
#include "protocol/frontend.h"
#include "protocol/tags.h"
#include "proxy/session.h"

namespace schemagate::proxy {

namespace tag = protocol::tag;

bool Session::names_deferred(std::size_t at) {
  const auto bytes = cbuf_.span(at).first(request_.size());
  const RequestView view{request_, bytes};
  inlined_name_.clear();
  bool found = false;
  for (std::size_t i = 0; i < view.frame_count(); ++i) {
    const auto f = view.frame(i);
    if (f.tag == tag::kParse) {
      protocol::Parse p;
      // Prepared again: the server gets this one (or the verdict defers it again).
      if (!protocol::parse_parse(f, p) && !found) deferred_.erase(std::string(p.statement));
    } else if (f.tag == tag::kClose) {
      protocol::DescribeTarget c;
      if (!protocol::parse_close(f, c) && c.kind == 'S') deferred_.erase(std::string(c.name));
    } else if (f.tag == tag::kBind || f.tag == tag::kDescribe) {
      std::string name;
      if (f.tag == tag::kBind) {
        protocol::Bind b;
        if (protocol::parse_bind(f, b)) continue;
        name = std::string(b.statement);
      } else {
        protocol::DescribeTarget d;
        if (protocol::parse_describe(f, d) || d.kind != 'S') continue;
        name = std::string(d.name);
      }
      if (!found && deferred_.count(name)) {
        found = true;
        inlined_name_ = std::move(name);
      }
    }
  }
  return found;
}

RequestView Session::inline_view(std::size_t at) {
  // Built once per request that needs it (rare): the Parse the server never saw, then the
  // client's frames as they are.
  const auto& st = deferred_.at(inlined_name_);
  const auto bytes = cbuf_.span(at).first(request_.size());
  inlined_bytes_.clear();
  protocol::write_parse(inlined_bytes_, inlined_name_, st.sql, st.param_types);
  if (!inlined_request_) inlined_request_.emplace();
  inlined_request_->clear();
  inlined_request_->add(tag::kParse, inlined_bytes_.size());
  for (const auto& f : request_.frames()) inlined_request_->add(f.tag, f.wire_size);
  inlined_bytes_.insert(inlined_bytes_.end(), bytes.begin(), bytes.end());
  inlined_ = true;
  return RequestView{*inlined_request_, inlined_bytes_};
}

RequestView Session::judged_view(std::size_t size) {
  if (inlined_) return RequestView{*inlined_request_, inlined_bytes_};
  return RequestView{request_, cbuf_.span().first(size)};
}

void Session::remember_deferred(const PlanRequestShape& shape) {
  if (!shape.prepared) return;
  spdlog::debug("[{}] prepared statement \"{}\" is answered by the proxy", state_.id, *shape.prepared);
  deferred_[*shape.prepared] = shape.statement;
}

awaitable<bool> Session::materialize_deferred() {
  const auto it = deferred_.find(inlined_name_);
  if (it == deferred_.end()) co_return true;
  std::vector<std::byte> messages;
  protocol::write_parse(messages, it->first, it->second.sql, it->second.param_types);
  protocol::write_sync(messages);
  deferred_.erase(it);
  QueryResult result;
  const bool ok = co_await server_exchange(messages, tag::kSync, result);
  // A failure (a syntax the server refuses, an aborted transaction) shows up again, as the
  // server's own error, when the client's Bind reaches it.
  if (ok && !result.ok())
    spdlog::debug("[{}] preparing a deferred statement failed: {}", state_.id, result.sqlstate());
  co_return ok;
}

awaitable<bool> Session::answer_prepared(const std::vector<std::byte>& replies, char terminator) {
  co_await wait_for_server_idle();
  if (closed_) co_return false;
  std::vector<std::byte> out = replies;
  // Nothing failed: after a Flush the client goes on with the same request (a Bind, an
  // Execute), and its Sync reaches the server, which answers it.
  if (terminator == tag::kSync) protocol::write_ready_for_query(out, state_.tx_status);
  const bool ok = co_await write_client(out);
  co_return ok;
}

}  // namespace schemagate::proxy
