// Session: the admin console (a startup naming admin.console_database), and the summary that
// SHOW CLIENTS / SHOW SERVERS read from other threads.
#include <spdlog/spdlog.h>

#include "protocol/backend.h"
#include "protocol/frontend.h"
#include "protocol/tags.h"
#include "protocol/writer.h"
#include "proxy/console/console.h"
#include "proxy/session.h"

namespace schemagate::proxy {

namespace tag = protocol::tag;

void Session::publish_summary() {
  std::lock_guard lock(summary_mu_);
  summary_.user = state_.user;
  summary_.database = state_.database;
  summary_.application_name = state_.application_name;
  summary_.client_addr = state_.client_addr;
  summary_.client_tls = client_.is_tls();
  summary_.server_tls = server_.is_tls() && !console_;
  summary_.console = console_;
  summary_.server_pid = console_ ? 0 : server_key_.pid;
  summary_.connected_ms = connected_wall_ms_;
}

SessionSummary Session::summary() const {
  SessionSummary s;
  {
    std::lock_guard lock(summary_mu_);
    s = summary_;
  }
  s.id = state_.id;  // set at construction, never changed
  s.stage = to_string(stage());
  s.tx_status = tx_status_seen_.load(std::memory_order_relaxed);
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count();
  s.idle_ms = now - last_activity_ms();
  return s;
}

awaitable<void> Session::console_loop() {
  // The upstream has authenticated the user; the console needs nothing more from the server.
  {
    std::vector<std::byte> bye;
    protocol::MessageWriter(bye).begin(tag::kTerminate).finish();
    co_await write_server(bye);
    server_.close();
    server_closed_ = true;
    if (server_counted_) ctx_->live->servers.fetch_sub(1, std::memory_order_relaxed);
    server_counted_ = false;
  }
  stage_ = Stage::console;
  bool extended_failed = false;  // an extended-protocol message was refused; skip to Sync
  for (;;) {
    if (draining_) {
      co_await send_fatal("57P01", "terminating connection due to administrator command");
      co_return;
    }
    protocol::Frame f;
    if (!co_await read_client_frame(f)) co_return;
    touch();
    refresh_context();  // RELOAD's new configuration (SHOW CONFIG) from the next query on
    std::vector<std::byte> out;
    switch (f.tag) {
      case tag::kQuery: {
        protocol::Query q;
        if (protocol::parse_query(f, q)) {
          protocol::write_error_response(out, {"ERROR", "08P01", "invalid Query message", {}, {}});
        } else {
          // The commands read and write the stores (SQLite, or PostgreSQL over libpq) and RELOAD
          // reads files: off the I/O thread, which other sessions share.
          auto run = [&] {
            std::vector<std::byte> answer;
            const console::Caller caller{*ctx_, ctx_->control, state_.user};
            console::run_query(q.sql, caller, answer);
            return answer;
          };
          out = co_await off_io_thread(run);
          if (closed_) co_return;
        }
        protocol::write_ready_for_query(out, 'I');
        break;
      }
      case tag::kTerminate:
        co_return;
      case tag::kSync:
        extended_failed = false;
        protocol::write_ready_for_query(out, 'I');
        break;
      case tag::kParse:
      case tag::kBind:
      case tag::kDescribe:
      case tag::kExecute:
      case tag::kClose:
      case tag::kFlush:
      case tag::kFunctionCall:
        if (!extended_failed) {
          protocol::write_error_response(
              out, {"ERROR", "0A000", "schemagate console: only the simple query protocol is supported", {},
                    "use psql, or a client in simple-query mode (e.g. psql -c, pgx QueryExecModeSimpleProtocol)"});
          extended_failed = true;
        }
        if (f.tag == tag::kFunctionCall) {
          protocol::write_ready_for_query(out, 'I');
          extended_failed = false;
        }
        break;
      default: {
        ctx_->metrics->add(Counter::protocol_errors);
        cbuf_.consume(f.wire_size);
        const std::string why = "unexpected message type '" + std::string(1, f.tag) + "' on the admin console";
        co_await send_fatal("08P01", why);
        co_return;
      }
    }
    cbuf_.consume(f.wire_size);
    count_errors(out);
    if (!out.empty() && !co_await write_client(out)) co_return;
  }
}

}  // namespace schemagate::proxy
