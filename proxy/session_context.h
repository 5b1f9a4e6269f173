#pragma once
#include <atomic>
#include <cstdint>
#include <memory>

#include "config/model.h"
#include "proxy/approvals/service.h"
#include "proxy/busy_poller.h"
#include "proxy/cancel_map.h"
#include "proxy/interceptor.h"
#include "proxy/state_store.h"
#include "proxy/tls_contexts.h"

namespace schemagate::proxy {

/// Counters shared by all sessions (read by logs and, later, /metrics).
struct ProxyStats {
  std::atomic<std::uint64_t> sessions_total{0};
  std::atomic<std::int64_t> sessions_active{0};
  std::atomic<std::uint64_t> sessions_refused{0};
  std::atomic<std::uint64_t> protocol_errors{0};
  std::atomic<std::uint64_t> upstream_errors{0};
  std::atomic<std::uint64_t> cancels_forwarded{0};
  std::atomic<std::uint64_t> requests_intercepted{0};
  std::atomic<std::uint64_t> plans_started{0};
  std::atomic<std::uint64_t> plans_succeeded{0};
  std::atomic<std::uint64_t> plans_failed{0};
  std::atomic<std::uint64_t> holds_started{0};
  std::atomic<std::uint64_t> holds_approved{0};
  std::atomic<std::uint64_t> holds_refused{0};  // denied, timed out, expired, withdrawn
};

/// Everything a session needs from its server: an immutable config snapshot plus the
/// shared services. Built once per server (and per reload), shared by pointer.
struct SessionContext {
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<TlsContexts> tls;
  std::shared_ptr<CancelMap> cancels;
  std::shared_ptr<const Interceptor> interceptor;
  std::shared_ptr<ProxyStats> stats;
  std::shared_ptr<StateStore> store;  // the plan journal; opened by Server::start
  std::shared_ptr<approvals::ApprovalService> approvals;  // held statements; opened by Server::start
  BusyPoller* poller = nullptr;  // owned by the server; null where nothing polls (unit tests)
};

}  // namespace schemagate::proxy
