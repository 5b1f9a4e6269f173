#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "config/model.h"
#include "proxy/busy_poller.h"
#include "proxy/net.h"
#include "proxy/server_control.h"
#include "proxy/session_context.h"

namespace schemagate::proxy {

class Session;
namespace approvals {
class AdminServer;
}

/// Owns the io_context, the worker threads, the listener and the set of live sessions.
///   start() binds and begins accepting; run() blocks until shutdown has finished.
///   SIGTERM/SIGINT: readiness turns false, stop accepting, drain sessions (each closes once
///   no statement is in flight), and after limits.shutdown_grace_ms close whatever is left.
///   SIGHUP (and POST /v1/reload, the console's RELOAD): reload() — sessions pick up the new
///   configuration and policy at their next request; nobody is disconnected.
class Server final : public ServerControl {
 public:
  Server(std::shared_ptr<const config::Config> config, std::shared_ptr<const Interceptor> interceptor);
  ~Server();  // removes the Unix socket file, if it made one

  /// Binds the listening socket; false (with a message) if that or the TLS setup fails.
  bool start(std::string& error);
  /// Runs the worker threads until shutdown completes. Installs signal handlers when asked.
  void run(bool handle_signals = true);
  /// Begins a graceful shutdown (thread-safe).
  void shutdown();
  /// The port actually bound (useful with port 0 in tests).
  std::uint16_t port() const { return port_; }
  /// The Unix socket file it listens on, or "" (listen.unix_socket_dir not set).
  const std::string& unix_socket_path() const { return unix_socket_path_; }
  /// The admin API's base URL with the port bound ("" without admin.address).
  std::string admin_url() const;

  /// What a reload builds: the new configuration and the interceptor for its policy.
  struct Reloaded {
    std::shared_ptr<const config::Config> config;
    std::shared_ptr<const Interceptor> interceptor;
  };
  using Reloader = std::function<bool(Reloaded& next, std::string& error)>;
  /// Set before start(); without one, reload() refuses.
  void set_reloader(Reloader r) { reloader_ = std::move(r); }
  /// Loads the configuration again and publishes it; thread-safe. False (with `message` saying
  /// why, key and line) when it is refused: the running configuration stays. Keys that need a
  /// restart keep their running values and are named in `message`.
  bool reload(std::string& message) override;
  /// Readiness: not draining, the database reachable, the stores answering. `detail`: JSON.
  bool ready(std::string& detail);
  const Metrics& metrics() const { return *ctx_->metrics; }

  // ServerControl (the admin console)
  std::vector<SessionSummary> sessions() const override;
  void set_ddl_paused(bool paused, const std::string& by) override;
  bool ddl_paused(std::string* by = nullptr) const override;
  bool draining() const override;

 private:
  template <class Acceptor>
  awaitable<void> accept_loop(Acceptor& acceptor);
  bool listen_unix(std::string& error);
  bool start_approvals(std::string& error);
  void unlink_unix_socket();
  awaitable<void> sweep_loop();
  void begin_drain();
  void watch_signals();
  std::string render_metrics() const;
  void forget(std::uint64_t id);

  /// One I/O thread with its own io_context and busy poller, so that the forwarding path
  /// shares no queue, lock or poller with another thread. Sessions are dealt to workers
  /// round-robin when accepted and stay on theirs; worker 0 also runs the listeners, signals
  /// and the sweeper.
  struct Worker {
    Worker(std::chrono::microseconds poll_window, bool adaptive) : poller(ioc, poll_window, adaptive) {}
    // Declared before ioc so that it outlives it: a spin handler still queued when the
    // io_context is destroyed is freed into the poller's handler memory.
    BusyPoller poller;
    net::io_context ioc{1};  // one thread: Asio skips its internal locking, sessions need no strands
    // run() returns only when stopped, not when a worker has no session for a moment.
    net::executor_work_guard<net::io_context::executor_type> keep_running{ioc.get_executor()};
  };
  static std::vector<std::unique_ptr<Worker>> make_workers(const config::Config& c);
  void run_worker(unsigned index);
  void stop_workers();

  std::vector<std::unique_ptr<Worker>> workers_;
  net::io_context& ioc_;  // worker 0's
  std::size_t next_worker_ = 0;  // accept loops only (worker 0's thread)
  // Console commands and SIGHUP reloads: work that reads stores and files, off the I/O
  // threads. Joined first thing in ~Server (the work uses the members below).
  net::thread_pool blocking_{1};
  std::shared_ptr<SessionContext> ctx_;  // the first generation (services shared by all)
  std::shared_ptr<ContextSource> source_;  // the current generation
  Reloader reloader_;
  std::mutex reload_mu_;
  std::atomic<bool> draining_{false};
  // Parse-cache lookups of the policy engines a reload replaced: a new engine counts from zero,
  // and the exported counters must never go down.
  std::atomic<std::uint64_t> retired_cache_hits_{0}, retired_cache_misses_{0};
  tcp::acceptor acceptor_;
  net::local::stream_protocol::acceptor unix_acceptor_;
  std::string unix_socket_path_;  // the socket file we created; removed on shutdown
  net::signal_set signals_;
  net::steady_timer sweeper_;
  std::uint16_t port_ = 0;
  std::unique_ptr<approvals::AdminServer> admin_;  // stopped first in ~Server: it calls into ctx_->approvals
  bool stopping_ = false;  // on ioc_ threads only after start
  std::int64_t drain_deadline_ms_ = 0;
  std::int64_t leases_renewed_ms_ = 0;  // sweep_loop: last renewal of the journal's plan leases

  std::atomic<bool> ddl_paused_{false};
  mutable std::mutex pause_mu_;
  std::string paused_by_;  // guarded by pause_mu_

  mutable std::mutex mu_;
  std::unordered_map<std::uint64_t, std::weak_ptr<Session>> sessions_;
  std::uint64_t next_id_ = 1;
  std::vector<std::shared_ptr<Session>> sweep_live_;  // sweep_loop's scratch list
};

}  // namespace schemagate::proxy
