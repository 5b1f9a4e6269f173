#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "config/model.h"
#include "proxy/approvals/service.h"
#include "proxy/audit_log.h"
#include "proxy/busy_poller.h"
#include "proxy/cancel_map.h"
#include "proxy/interceptor.h"
#include "proxy/metrics.h"
#include "proxy/net.h"
#include "proxy/server_control.h"
#include "proxy/state_store.h"
#include "proxy/tls_contexts.h"

namespace schemagate::proxy {

/// Connections open now (the metrics' gauges and limits.max_client_connections read them).
struct LiveCounts {
  std::atomic<std::int64_t> clients{0};
  std::atomic<std::int64_t> servers{0};
};

/// Everything a session needs from its server: an immutable config snapshot plus the
/// shared services. Built once per server (and per reload), shared by pointer.
struct SessionContext {
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<TlsContexts> tls;
  std::shared_ptr<CancelMap> cancels;
  std::shared_ptr<const Interceptor> interceptor;
  std::shared_ptr<Metrics> metrics;     // never null
  std::shared_ptr<LiveCounts> live;     // never null
  std::shared_ptr<AuditLog> audit;      // never null (a disabled log writes nothing)
  std::shared_ptr<StateStore> store;  // the plan journal; opened by Server::start
  std::shared_ptr<approvals::ApprovalService> approvals;  // held statements; opened by Server::start
  // Where work that may block on a store or the file system runs (console commands, reload),
  // so that it never stalls the I/O thread the session shares with others. Owned by the
  // server; null where there is none (then such work runs in place).
  net::thread_pool* blocking = nullptr;
  // The server, for the admin console and PAUSE; it outlives every session. Null in unit tests.
  class ServerControl* control = nullptr;
  // Where reloaded contexts come from; owned by the server, which outlives every session's
  // run(). Null in contexts nobody reloads.
  class ContextSource* source = nullptr;
};

/// The running configuration as sessions see it: one immutable SessionContext, replaced whole
/// by a reload (the services in it — metrics, audit, journal, approvals — are shared by every
/// generation). Sessions compare generation(), a load of a line nobody writes between
/// reloads, before each request and take the new context only when it changed.
class ContextSource {
 public:
  explicit ContextSource(std::shared_ptr<SessionContext> first) : ctx_(std::move(first)) {}
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  std::shared_ptr<SessionContext> current() const {
    std::lock_guard lock(mu_);
    return ctx_;
  }
  void publish(std::shared_ptr<SessionContext> next) {
    {
      std::lock_guard lock(mu_);
      ctx_ = std::move(next);
    }
    generation_.fetch_add(1, std::memory_order_release);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<SessionContext> ctx_;
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace schemagate::proxy
