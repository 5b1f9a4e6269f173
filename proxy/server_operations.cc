// Server: what operators ask of a running proxy — reload, readiness, metrics.
#include <algorithm>

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "proxy/server.h"
#include "proxy/session.h"
#include "proxy/upstream_probe.h"

namespace schemagate::proxy {
namespace {

/// Sections read once at start: the listeners, the threads, the journal and the approvals
/// service (its store and webhooks) are built from them. A reload keeps their running values.
std::vector<std::string> restart_only_changes(const config::Config& a, const config::Config& b) {
  std::vector<std::string> keys;
  if (!(a.listen == b.listen)) keys.emplace_back("listen");
  if (a.workers != b.workers) keys.emplace_back("workers");
  if (!(a.io == b.io)) keys.emplace_back("io");
  if (!(a.state == b.state)) keys.emplace_back("state");
  if (!(a.admin == b.admin)) keys.emplace_back("admin");
  if (!(a.approvals == b.approvals)) keys.emplace_back("approvals");
  if (a.log.json != b.log.json) keys.emplace_back("log.format");
  if (a.limits.max_message_bytes != b.limits.max_message_bytes)
    keys.emplace_back("limits.max_message_bytes (open sessions keep theirs; new ones use it)");
  return keys;
}

constexpr std::uint32_t kProbeTimeoutMs = 2000;

}  // namespace

bool Server::reload(std::string& message) {
  std::lock_guard lock(reload_mu_);
  auto& metrics = *ctx_->metrics;
  if (!reloader_) {
    message = "reload is not available: this proxy was not started by `schemagate serve`";
    metrics.add(Counter::reloads_failed);
    return false;
  }
  Reloaded next;
  std::string error;
  if (!reloader_(next, error)) {
    metrics.add(Counter::reloads_failed);
    spdlog::error("reload refused, the running configuration stays: {}", error);
    message = "refused, the running configuration stays: " + error;
    return false;
  }
  const auto old = source_->current();
  const auto& running = *old->config;
  const auto keep = restart_only_changes(running, *next.config);
  // The new snapshot: reloadable keys from the file, the rest as running.
  auto cfg = std::make_shared<config::Config>(*next.config);
  cfg->listen = running.listen;
  cfg->workers = running.workers;
  cfg->io = running.io;
  cfg->state = running.state;
  cfg->admin = running.admin;
  cfg->approvals = running.approvals;
  cfg->log.json = running.log.json;
  cfg->limits.max_message_bytes = running.limits.max_message_bytes;

  auto ctx = std::make_shared<SessionContext>(*old);
  ctx->config = cfg;
  ctx->interceptor = next.interceptor;
  // Certificates are read again (rotation without a restart); a bad one refuses the reload.
  ctx->tls = std::make_shared<TlsContexts>();
  if (!make_tls_contexts(*cfg, *ctx->tls, error)) {
    metrics.add(Counter::reloads_failed);
    spdlog::error("reload refused, the running configuration stays: {}", error);
    message = "refused, the running configuration stays: " + error;
    return false;
  }
  // The audit log: the same file is reopened (after logrotate moved it); another one opened.
  if (cfg->audit.path == running.audit.path && cfg->audit.fail_closed == running.audit.fail_closed) {
    if (!old->audit->reopen(error)) spdlog::warn("reload: {} (still writing the old file)", error);
  } else {
    auto audit = AuditLog::open(cfg->audit, error);
    if (!audit) {
      metrics.add(Counter::reloads_failed);
      spdlog::error("reload refused, the running configuration stays: {}", error);
      message = "refused, the running configuration stays: " + error;
      return false;
    }
    ctx->audit = std::move(audit);
  }
  const auto retired = old->interceptor->stats();
  retired_cache_hits_.fetch_add(retired.parse_cache_hits, std::memory_order_relaxed);
  retired_cache_misses_.fetch_add(retired.parse_cache_misses, std::memory_order_relaxed);
  source_->publish(std::move(ctx));
  spdlog::set_level(spdlog::level::from_str(cfg->log.level));
  metrics.add(Counter::reloads_ok);
  message = "reloaded: sessions use the new configuration and policy from their next statement";
  if (!keep.empty()) {
    std::string list;
    for (const auto& k : keep) list += (list.empty() ? "" : ", ") + k;
    message += "; changed but kept until a restart: " + list;
  }
  spdlog::info("{}", message);
  return true;
}

bool Server::ready(std::string& detail) {
  using json = nlohmann::json;
  const auto ctx = source_->current();
  json checks = json::object();
  bool ok = true;
  const auto check = [&](const char* name, const std::string& error) {
    checks[name] = error.empty() ? std::string("ok") : error;
    ok = ok && error.empty();
  };
  check("draining", draining_.load(std::memory_order_relaxed) ? "shutting down" : "");
  check("database", probe_upstream(ctx->config->upstream, kProbeTimeoutMs));
  std::string error;
  if (ctx->store) ctx->store->list(1, error);
  check("state_store", error);
  error.clear();
  if (ctx->approvals) ctx->approvals->list(approvals::RequestStatus::pending, 1, error);
  check("approvals_store", error);
  // Only a fail-closed audit log stops DDL when it breaks; otherwise it is reported, not fatal.
  const bool audit_ok = ctx->audit->healthy();
  if (ctx->audit->fail_closed()) check("audit", audit_ok ? "" : "cannot write " + ctx->audit->path());
  else checks["audit"] = !ctx->audit->enabled() ? "off" : audit_ok ? "ok" : "cannot write (not fail_closed)";
  detail = json{{"ready", ok}, {"checks", checks}}.dump(-1, ' ', false, json::error_handler_t::replace);
  return ok;
}

std::string Server::render_metrics() const {
  const auto ctx = source_->current();
  MetricsGauges g;
  g.client_connections = [live = ctx->live] { return live->clients.load(std::memory_order_relaxed); };
  g.server_connections = [live = ctx->live] { return live->servers.load(std::memory_order_relaxed); };
  g.pending_requests = [approvals = ctx->approvals]() -> std::int64_t {
    if (!approvals) return -1;
    std::string error;
    const auto pending = approvals->list(approvals::RequestStatus::pending, 100000, error);
    return error.empty() ? static_cast<std::int64_t>(pending.size()) : -1;
  };
  g.draining = [this] { return draining_.load(std::memory_order_relaxed); };
  g.ddl_paused = [this] { return ddl_paused(); };
  g.extra = [ctx, this] {
    std::string out;
    out += "# HELP schemagate_busy_poll_window_microseconds How long each I/O thread busy-polls before it sleeps "
           "now (0: it does not poll).\n"
           "# TYPE schemagate_busy_poll_window_microseconds gauge\n";
    for (std::size_t i = 0; i < workers_.size(); ++i)
      out += "schemagate_busy_poll_window_microseconds{worker=\"" + std::to_string(i) + "\"} " +
             std::to_string(workers_[i]->poller.window_us()) + "\n";  // 0 where it never started
    const auto cache = ctx->interceptor->stats();
    out += "# HELP schemagate_parse_cache_lookups Parse cache lookups of judged statements, by result.\n"
           "# TYPE schemagate_parse_cache_lookups counter\n";
    const auto hits = cache.parse_cache_hits + retired_cache_hits_.load(std::memory_order_relaxed);
    const auto misses = cache.parse_cache_misses + retired_cache_misses_.load(std::memory_order_relaxed);
    out += "schemagate_parse_cache_lookups_total{result=\"hit\"} " + std::to_string(hits) + "\n";
    out += "schemagate_parse_cache_lookups_total{result=\"miss\"} " + std::to_string(misses) + "\n";
    const auto* w = ctx->approvals ? ctx->approvals->webhook_stats() : nullptr;
    out += "# HELP schemagate_webhook_deliveries Approval webhook deliveries, by result.\n"
           "# TYPE schemagate_webhook_deliveries counter\n";
    const auto line = [&](const char* result, std::uint64_t v) {
      out += std::string("schemagate_webhook_deliveries_total{result=\"") + result + "\"} " + std::to_string(v) + "\n";
    };
    line("delivered", w ? w->delivered.load() : 0);
    line("failed", w ? w->failed.load() : 0);
    line("retried", w ? w->retries.load() : 0);
    line("dropped", w ? w->dropped.load() : 0);
    return out;
  };
  return ctx->metrics->render(g);
}

// ---------------------------------------------------------------------------- ServerControl

std::vector<SessionSummary> Server::sessions() const {
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mu_);
    live.reserve(sessions_.size());
    for (const auto& [id, weak] : sessions_)
      if (auto s = weak.lock()) live.push_back(std::move(s));
  }
  std::vector<SessionSummary> out;
  out.reserve(live.size());
  for (const auto& s : live) {
    auto summary = s->summary();
    if (!summary.user.empty()) out.push_back(std::move(summary));  // still in startup: nothing to show
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

void Server::set_ddl_paused(bool paused, const std::string& by) {
  std::lock_guard lock(pause_mu_);
  paused_by_ = paused ? by : std::string();
  ddl_paused_.store(paused, std::memory_order_release);
}

bool Server::ddl_paused(std::string* by) const {
  if (!ddl_paused_.load(std::memory_order_acquire)) return false;
  if (by != nullptr) {
    std::lock_guard lock(pause_mu_);
    *by = paused_by_;
  }
  return true;
}

bool Server::draining() const { return draining_.load(std::memory_order_relaxed); }

}  // namespace schemagate::proxy
