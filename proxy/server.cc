#include "proxy/server.h"

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <type_traits>

#include <spdlog/spdlog.h>

#include "proxy/approvals/admin_server.h"
#include "proxy/session.h"

namespace schemagate::proxy {

namespace {
std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

namespace {
unsigned thread_count(const config::Config& c) {
  return c.workers == 0 ? std::max(1u, std::thread::hardware_concurrency()) : c.workers;
}
}  // namespace

std::vector<std::unique_ptr<Server::Worker>> Server::make_workers(const config::Config& c) {
  std::vector<std::unique_ptr<Worker>> workers;
  const unsigned count = thread_count(c);
  for (unsigned i = 0; i < count; ++i)
    workers.push_back(std::make_unique<Worker>(std::chrono::microseconds(c.io.busy_poll_us), c.io.busy_poll_adaptive));
  return workers;
}

Server::Server(std::shared_ptr<const config::Config> config, std::shared_ptr<const Interceptor> interceptor)
    : workers_(make_workers(*config)),
      ioc_(workers_.front()->ioc),
      acceptor_(ioc_),
      unix_acceptor_(ioc_),
      signals_(ioc_),
      sweeper_(ioc_) {
  ctx_ = std::make_shared<SessionContext>();
  ctx_->config = std::move(config);
  ctx_->tls = std::make_shared<TlsContexts>();
  ctx_->cancels = std::make_shared<CancelMap>();
  ctx_->interceptor = std::move(interceptor);
  ctx_->metrics = std::make_shared<Metrics>(static_cast<unsigned>(workers_.size()));
  ctx_->live = std::make_shared<LiveCounts>();
  std::string none;
  ctx_->audit = AuditLog::open(config::Audit{}, none);  // the configured one opens in start()
  source_ = std::make_shared<ContextSource>(ctx_);
  ctx_->source = source_.get();
  ctx_->control = this;
  ctx_->blocking = &blocking_;
}

Server::~Server() {
  if (admin_) admin_->stop();  // first: its thread calls into the approvals service
  // A reload or console command still running on the pool uses members declared after it.
  blocking_.stop();
  blocking_.join();
  unlink_unix_socket();
}

void Server::unlink_unix_socket() {
  if (unix_socket_path_.empty()) return;
  error_code ec;
  unix_acceptor_.close(ec);
  ::unlink(unix_socket_path_.c_str());
  unix_socket_path_.clear();
}

bool Server::listen_unix(std::string& error) {
  const auto path = ctx_->config->listen.unix_socket_path(port_);
  // A socket file left by a process that died is removed; one that still answers is another
  // server's, and is left alone.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      error = "cannot listen on " + path + ": the file exists and is not a socket";
      return false;
    }
    net::local::stream_protocol::socket probe(ioc_);
    error_code ec;
    probe.connect(net::local::stream_protocol::endpoint(path), ec);
    if (!ec) {
      error = "cannot listen on " + path + ": another server is listening there";
      return false;
    }
    ::unlink(path.c_str());
  }
  error_code ec;
  const net::local::stream_protocol::endpoint ep(path);
  unix_acceptor_.open(ep.protocol(), ec);
  if (!ec) unix_acceptor_.bind(ep, ec);
  if (!ec) unix_acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    error = "cannot listen on " + path + ": " + ec.message();
    return false;
  }
  unix_socket_path_ = path;
  // Like PostgreSQL's default unix_socket_permissions (0777): who may connect is decided by
  // the directory's permissions, and the database still authenticates every user.
  ::chmod(path.c_str(), 0777);
  return true;
}

bool Server::start_approvals(std::string& error) {
  const auto& cfg = *ctx_->config;
  // The admin listener binds first: the service puts its URL in NOTICEs and webhook payloads.
  if (!cfg.admin.address.empty()) {
    admin_ = std::make_unique<approvals::AdminServer>(cfg.admin);
    if (!admin_->bind(error)) return false;
  }
  std::string base = cfg.admin.public_url.empty() ? (admin_ ? admin_->base_url() : "") : cfg.admin.public_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string store_error;
  auto store = approvals::open_request_store(cfg, store_error);
  if (!store) {
    error = store_error;
    return false;
  }
  ctx_->approvals = std::make_shared<approvals::ApprovalService>(cfg.approvals, base, std::move(store));
  // Every transition goes to the audit log current at the time (a reload may open another).
  ctx_->approvals->set_transition_listener(
      [weak = std::weak_ptr<ContextSource>(source_), metrics = ctx_->metrics](
          const approvals::ApprovalRequest& r, const std::string& event, const approvals::Vote* vote) {
        // Weak: the service's threads may outlive the server by a moment.
        const auto source = weak.lock();
        if (source && !source->current()->audit->approval(r, event, vote)) metrics->add(Counter::audit_failures);
      });
  ctx_->approvals->start_housekeeping();
  if (admin_) {
    approvals::AdminHooks hooks;
    hooks.metrics = [this] { return render_metrics(); };
    hooks.ready = [this](std::string& detail) { return ready(detail); };
    hooks.reload = [this](std::string& message) { return reload(message); };
    admin_->serve(std::make_shared<approvals::AdminApi>(ctx_->approvals.get(), cfg.admin.tokens, std::move(hooks)));
  }
  return true;
}

std::string Server::admin_url() const { return admin_ ? admin_->base_url() : ""; }

bool Server::start(std::string& error) {
  const auto& cfg = *ctx_->config;
  if (!make_tls_contexts(cfg, *ctx_->tls, error)) return false;
  ctx_->audit = AuditLog::open(cfg.audit, error);
  if (!ctx_->audit) return false;
  // The plan journal: a proxy that cannot journal its plans must not run them.
  std::string store_error;
  ctx_->store = open_sqlite_state_store(cfg.state.path, store_error);
  if (!ctx_->store) {
    error = "state.path: " + store_error;
    return false;
  }
  const int interrupted = ctx_->store->mark_running_interrupted(store_error);
  if (interrupted < 0) {
    error = "state.path: " + store_error;
    return false;
  }
  if (interrupted > 0)
    spdlog::warn("{} rewrite plan(s) were left running by an earlier proxy: marked interrupted; each resumes when "
                 "its statement is sent again (schemagate migrations list)",
                 interrupted);
  if (!start_approvals(error)) return false;
  error_code ec;
  const auto address = net::ip::make_address(cfg.listen.address, ec);
  if (ec) {
    error = "listen.address: '" + cfg.listen.address + "' is not an IP address";
    return false;
  }
  const tcp::endpoint ep(address, cfg.listen.port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    error = "cannot listen on " + cfg.listen.address + ":" + std::to_string(cfg.listen.port) + ": " + ec.message();
    return false;
  }
  port_ = acceptor_.local_endpoint().port();
  if (!cfg.listen.unix_socket_dir.empty() && !listen_unix(error)) return false;
  net::co_spawn(ioc_, accept_loop(acceptor_), net::detached);
  if (unix_acceptor_.is_open()) net::co_spawn(ioc_, accept_loop(unix_acceptor_), net::detached);
  net::co_spawn(ioc_, sweep_loop(), net::detached);
  return true;
}

void Server::run(bool handle_signals) {
  if (handle_signals) {
    signals_.add(SIGTERM);
    signals_.add(SIGINT);
    signals_.add(SIGHUP);
    watch_signals();
  }
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < workers_.size(); ++i) pool.emplace_back([this, i] { run_worker(i); });
  run_worker(0);
  for (auto& t : pool) t.join();
}

void Server::run_worker(unsigned index) {
  // Named for top -H and /proc: sg-io-N (worker 0 is the main thread and keeps its name).
  if (index > 0) pthread_setname_np(pthread_self(), ("sg-io-" + std::to_string(index)).c_str());
  Metrics::bind_thread(index);
  auto& w = *workers_[index];
  if (ctx_->config->io.busy_poll_us > 0) {
    BusyPoller::bind_thread(&w.poller);
    w.poller.start(ctx_->metrics.get());
  }
  w.ioc.run();
  BusyPoller::bind_thread(nullptr);
  Metrics::bind_thread(~0u);
}

void Server::stop_workers() {
  for (auto& w : workers_) w->ioc.stop();
}

void Server::watch_signals() {
  signals_.async_wait([this](error_code ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      // Reading files and compiling the policy runs on the blocking pool, not on this I/O
      // thread's sessions' time.
      net::post(blocking_, [this] {
        std::string message;
        reload(message);
      });
      watch_signals();
      return;
    }
    spdlog::info("received signal {}: shutting down", sig);
    begin_drain();
  });
}

void Server::shutdown() {
  net::post(ioc_, [this] { begin_drain(); });
}

void Server::begin_drain() {
  if (stopping_) return;
  stopping_ = true;
  draining_.store(true, std::memory_order_relaxed);  // readiness first
  error_code ec;
  acceptor_.close(ec);
  unlink_unix_socket();
  signals_.cancel(ec);
  const auto grace = source_->current()->config->limits.shutdown_grace_ms;
  drain_deadline_ms_ = now_ms() + grace;
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, weak] : sessions_)
      if (auto s = weak.lock()) live.push_back(std::move(s));
  }
  spdlog::info("draining {} session(s), grace {} ms", live.size(), grace);
  for (auto& s : live) net::post(s->executor(), [s] { s->drain(); });
  sweeper_.cancel();  // let the sweep loop notice promptly
}

void Server::forget(std::uint64_t id) {
  std::lock_guard lock(mu_);
  sessions_.erase(id);
}

template <class Acceptor>
awaitable<void> Server::accept_loop(Acceptor& acceptor) {
  for (;;) {
    // The session lives on one worker's io_context (one thread): nothing it does needs a strand.
    const net::any_io_executor worker = workers_[next_worker_++ % workers_.size()]->ioc.get_executor();
    error_code ec;
    auto socket = co_await acceptor.async_accept(worker, net::redirect_error(use_awaitable, ec));
    if (ec) {
      if (stopping_ || ec == net::error::operation_aborted) co_return;
      spdlog::warn("accept failed: {}", ec.message());
      // Out of file descriptors and the like: back off instead of spinning.
      net::steady_timer pause(ioc_, std::chrono::milliseconds(100));
      co_await pause.async_wait(net::redirect_error(use_awaitable, ec));
      continue;
    }
    if constexpr (std::is_same_v<Acceptor, tcp::acceptor>) socket.set_option(tcp::no_delay(true), ec);
    std::uint64_t id;
    auto session = [&] {
      std::lock_guard lock(mu_);
      id = next_id_++;
      auto s = std::make_shared<Session>(StreamSocket(std::move(socket)), source_->current(), id);
      sessions_.emplace(id, s);
      return s;
    }();
    // The function object (and so the shared_ptr) lives in the coroutine frame until run() ends.
    net::co_spawn(worker, [session]() { return session->run(); }, [this, id](std::exception_ptr e) {
      forget(id);
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("[{}] session ended with an error: {}", id, ex.what());
      }
    });
  }
}

awaitable<void> Server::sweep_loop() {
  // Timeouts are checked here once a second instead of arming a timer per read: the
  // forwarding path stays free of timer bookkeeping.
  for (;;) {
    sweep_live_.clear();  // hold no session between ticks
    error_code ec;
    sweeper_.expires_after(std::chrono::seconds(1));
    co_await sweeper_.async_wait(net::redirect_error(use_awaitable, ec));
    const auto now = now_ms();
    const auto limits = source_->current()->config->limits;  // a reload may change them
    if (now - leases_renewed_ms_ >= kPlanLeaseRenewMs) {
      // The journal's leases on the plans this proxy runs: another proxy sharing the file, or a
      // restarted one, leaves them alone while they are current.
      leases_renewed_ms_ = now;
      std::string lease_error;
      if (!ctx_->store->renew_leases(lease_error)) spdlog::warn("plan journal: {}", lease_error);
    }
    // Reused across ticks (cleared, capacity kept): the sweeper allocates nothing in steady state.
    auto& live = sweep_live_;
    {
      std::lock_guard lock(mu_);
      for (auto& [id, weak] : sessions_)
        if (auto s = weak.lock()) live.push_back(std::move(s));
    }
    if (stopping_) {
      if (live.empty()) {
        sweep_live_.clear();
        stop_workers();
        co_return;
      }
      if (now >= drain_deadline_ms_ + 2000) {  // the closes below had their chance
        sweep_live_.clear();
        stop_workers();
        co_return;
      }
      if (now >= drain_deadline_ms_) {
        spdlog::warn("shutdown grace period over: closing {} session(s)", live.size());
        for (auto& s : live)
          net::post(s->executor(), [s] { s->abort("57P01", "terminating connection due to administrator command"); });
      }
      continue;
    }
    for (auto& s : live) {
      const auto idle = now - s->last_activity_ms();
      const auto stage = s->stage();
      // Only a session still starting up can time out on startup; a running plan or a held
      // statement is never idle.
      if (!is_ready(stage) && stage != Stage::closing && idle > limits.startup_timeout_ms) {
        net::post(s->executor(), [s] { s->abort("08006", "schemagate: startup and authentication timed out"); });
      } else if (stage == Stage::relaying && limits.client_idle_timeout_ms > 0 && idle > limits.client_idle_timeout_ms) {
        net::post(s->executor(), [s] {
          s->abort_if_idle("57P05", "terminating connection due to idle timeout (limits.client_idle_timeout_ms)");
        });
      }
    }
  }
}

}  // namespace schemagate::proxy
