// Session: startup, TLS, upstream connection and the authentication relay.
// The ready-state pumps live in session_relay.cc.
#include "proxy/session.h"

#include <algorithm>
#include <array>
#include <cstring>

#include <spdlog/spdlog.h>

#include "protocol/backend.h"
#include "protocol/byte_order.h"
#include "protocol/startup.h"
#include "protocol/tags.h"
#include "protocol/writer.h"

namespace schemagate::proxy {

namespace tag = protocol::tag;
using protocol::DecodeStatus;

namespace {
constexpr std::size_t kClientBufferBytes = 8 * 1024;
constexpr std::size_t kServerBufferBytes = 16 * 1024;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool wants_whole_always(char) { return true; }

std::string describe_peer(const StreamSocket::endpoint_type& peer) {
  if (peer.protocol().family() != AF_INET && peer.protocol().family() != AF_INET6) return "local socket";
  tcp::endpoint ip;
  std::memcpy(ip.data(), peer.data(), peer.size());
  ip.resize(peer.size());
  return ip.address().to_string() + ":" + std::to_string(ip.port());
}
}  // namespace

Session::Session(StreamSocket client, std::shared_ptr<SessionContext> ctx, std::uint64_t id)
    : ctx_(std::move(ctx)),
      client_(std::move(client)),
      server_(StreamSocket(client_.socket().get_executor())),
      cbuf_(kClientBufferBytes),
      sbuf_(kServerBufferBytes),
      cdec_(ctx_->config->limits.max_message_bytes),
      sdec_(ctx_->config->limits.max_message_bytes),
      expected_z_(64),
      event_(client_.socket().get_executor()) {
  state_.id = id;
  error_code ec;
  const auto peer = client_.socket().remote_endpoint(ec);
  if (!ec) state_.client_addr = describe_peer(peer);
  touch();
  connected_wall_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  ctx_->live->clients.fetch_add(1, std::memory_order_relaxed);
  ctx_->metrics->add(Counter::client_connections);
}

Session::~Session() {
  if (proxy_pid_ != 0) ctx_->cancels->remove(proxy_pid_);
  ctx_->live->clients.fetch_sub(1, std::memory_order_relaxed);
  if (server_counted_) ctx_->live->servers.fetch_sub(1, std::memory_order_relaxed);
}

void Session::touch() { last_activity_ms_.store(now_ms(), std::memory_order_relaxed); }

awaitable<void> Session::run() {
  auto self = shared_from_this();
  spdlog::debug("[{}] client connected from {}", state_.id, state_.client_addr);
  const bool authenticated =
      co_await negotiate_startup() && co_await connect_upstream() && co_await relay_authentication();
  if (authenticated) publish_summary();
  if (authenticated && console_) {
    spdlog::info("[{}] admin console session: user={} client={}{}", state_.id, state_.user, state_.client_addr,
                 client_.is_tls() ? " (tls)" : "");
    co_await console_loop();
  } else if (authenticated) {
    stage_ = Stage::relaying;
    spdlog::info("[{}] session ready: user={} database={} application_name={} client={}{}", state_.id, state_.user,
                 state_.database, state_.application_name, state_.client_addr, client_.is_tls() ? " (tls)" : "");
    net::co_spawn(
        executor(), [self]() { return self->server_pump(); },
        [id = state_.id](std::exception_ptr e) {
          if (!e) return;
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            spdlog::error("[{}] server pump failed: {}", id, ex.what());
          }
        });
    co_await client_pump();
    // Its transaction dies with the connection, and with it what the waiting phases would finish.
    if (!after_commit_.empty()) give_up_waiting(false, "the client disconnected before COMMIT");
    // The client is gone (or the shutdown grace ended) while the server still works for it:
    // closing our socket alone would let the statement run on, holding its locks.
    if (!expected_z_.empty() && server_key_.pid != 0 && !server_closed_) co_await send_cancel(server_key_);
  }
  stage_ = Stage::closing;
  close_streams();
  spdlog::debug("[{}] session closed", state_.id);
}

void Session::close_streams() {
  if (closed_) return;
  closed_ = true;
  client_.close();
  server_.close();
  event_.cancel();
}

void Session::abort(const char* sqlstate, const char* message) {
  if (closed_) return;
  auto self = shared_from_this();
  // Only speak to the client at a message boundary; otherwise just close.
  if (cdec_.at_boundary() && !client_writing_ && stage_ != Stage::tls) {
    net::co_spawn(
        executor(),
        [self, sqlstate, msg = std::string(message)]() -> awaitable<void> {
          co_await self->send_fatal(sqlstate, msg);
          self->close_streams();
        },
        net::detached);
  } else {
    close_streams();
  }
}

// ---------------------------------------------------------------------------- output helpers

awaitable<bool> Session::write_client(std::span<const std::byte> bytes) {
  // Two coroutines may write to the client (server pump, and the client pump when it answers
  // a request itself); writes must not interleave.
  while (client_writing_) {
    co_await wait_event();
    if (closed_) co_return false;
  }
  client_writing_ = true;
  error_code ec;
  const auto rest = client_.try_write(net::buffer(bytes.data(), bytes.size()), ec);
  if (!ec && rest.size() > 0) co_await client_.write_all(rest, ec);
  client_writing_ = false;
  notify();
  co_return !ec;
}

awaitable<bool> Session::write_server(std::span<const std::byte> bytes) {
  error_code ec;
  const auto rest = server_.try_write(net::buffer(bytes.data(), bytes.size()), ec);
  if (!ec && rest.size() > 0) co_await server_.write_all(rest, ec);
  co_return !ec;
}

awaitable<void> Session::send_fatal(const char* sqlstate, std::string message) {
  // Never interleave with a write in progress: then the connection just closes.
  if (client_writing_) co_return;
  client_writing_ = true;
  std::vector<std::byte> out;
  protocol::write_error_response(out, protocol::ErrorFields{"FATAL", sqlstate, std::move(message), {}, {}});
  ctx_->metrics->count_error(sqlstate);
  error_code ec;
  co_await client_.write_all(net::buffer(out), ec);
  client_writing_ = false;
  notify();
}

void Session::notify() {
  if (waiters_ > 0) event_.cancel();
}

// ---------------------------------------------------------------------------- startup

awaitable<bool> Session::negotiate_startup() {
  const auto& cfg = *ctx_->config;
  for (;;) {
    protocol::StartupDecode d;
    while ((d = protocol::decode_startup(cbuf_.span())).status == DecodeStatus::need_more) {
      auto space = cbuf_.prepare(d.size - cbuf_.size());
      error_code ec;
      const auto n = co_await client_.read_some(net::buffer(space.data(), space.size()), ec);
      if (ec) co_return false;  // client went away before saying anything useful
      cbuf_.commit(n);
    }
    if (d.status == DecodeStatus::error) {
      ctx_->metrics->add(Counter::protocol_errors);
      spdlog::warn("[{}] invalid startup packet from {}: {}", state_.id, state_.client_addr, d.error.message());
      const std::string why = "invalid startup packet: " + d.error.message();
      co_await send_fatal("08P01", why);
      co_return false;
    }
    protocol::StartupPacket packet;
    if (const auto ec = protocol::parse_startup(cbuf_.span().first(d.size), packet)) {
      ctx_->metrics->add(Counter::protocol_errors);
      const bool version = ec == protocol::ProtocolErrc::unknown_request_code;
      spdlog::warn("[{}] rejected startup packet: {}", state_.id, ec.message());
      const std::string why = version ? "unsupported frontend protocol " + std::to_string(packet.major) + "." +
                                            std::to_string(packet.minor) + ": server supports 3.0 to 3.0"
                                      : "invalid startup packet layout: " + ec.message();
      co_await send_fatal(version ? "0A000" : "08P01", why);
      co_return false;
    }
    switch (packet.kind) {
      case protocol::StartupKind::ssl_request: {
        // Anything after the SSLRequest that arrived in plaintext would be injected into the
        // TLS session (CVE-2021-23214): refuse it.
        if (cbuf_.size() != d.size || client_.is_tls()) {
          co_await send_fatal("08P01", "received unencrypted data after SSL request");
          co_return false;
        }
        cbuf_.consume(d.size);
        const bool offer = ctx_->tls->client_facing != nullptr;
        const std::byte answer{static_cast<unsigned char>(offer ? 'S' : 'N')};
        error_code ec;
        co_await client_.write_all(net::buffer(&answer, 1), ec);
        if (ec) co_return false;
        if (offer) {
          stage_ = Stage::tls;
          if (auto hec = co_await client_.upgrade_as_server(*ctx_->tls->client_facing)) {
            ctx_->metrics->add(Counter::tls_client_failed);
            spdlog::info("[{}] TLS handshake with {} failed: {}", state_.id, state_.client_addr, hec.message());
            co_return false;
          }
          ctx_->metrics->add(Counter::tls_client_ok);
          stage_ = Stage::startup;
        }
        continue;
      }
      case protocol::StartupKind::gssenc_request: {
        cbuf_.consume(d.size);
        const std::byte answer{'N'};  // no GSSAPI encryption; libpq then tries SSL or plain
        error_code ec;
        co_await client_.write_all(net::buffer(&answer, 1), ec);
        if (ec) co_return false;
        continue;
      }
      case protocol::StartupKind::cancel_request:
      {
        const bool ok = co_await handle_cancel_request(packet.cancel_pid, packet.cancel_secret);
        co_return ok;
      }
      case protocol::StartupKind::startup_message:
        break;
    }
    state_.user = std::string(packet.param("user"));
    state_.database = std::string(packet.param("database"));
    if (state_.database.empty()) state_.database = state_.user;
    state_.application_name = std::string(packet.param("application_name"));
    startup_packet_.assign(cbuf_.data(), cbuf_.data() + d.size);
    cbuf_.consume(d.size);
    if (cfg.admin.console_enabled() && state_.database == cfg.admin.console_database &&
        !co_await admit_console())
      co_return false;
    break;
  }
  if (cfg.listen.tls.require && !client_.is_tls()) {
    spdlog::info("[{}] refused plaintext connection from {} (listen.tls.require)", state_.id, state_.client_addr);
    co_await send_fatal("28000", "schemagate requires an encrypted connection (use sslmode=require)");
    co_return false;
  }
  if (ctx_->live->clients.load(std::memory_order_relaxed) >
      static_cast<std::int64_t>(cfg.limits.max_client_connections)) {
    ctx_->metrics->add(Counter::client_connections_refused);
    spdlog::warn("[{}] refused {}: limits.max_client_connections ({}) reached", state_.id, state_.client_addr,
                 cfg.limits.max_client_connections);
    co_await send_fatal("53300", "sorry, too many clients already");
    co_return false;
  }
  if (state_.user.empty()) {
    co_await send_fatal("28000", "no PostgreSQL user name specified in startup packet");
    co_return false;
  }
  co_return true;
}

awaitable<bool> Session::admit_console() {
  // Parsed again from our own copy: the first parse's views pointed into cbuf_.
  protocol::StartupPacket packet;
  if (protocol::parse_startup(startup_packet_, packet)) co_return false;
  const auto& admin = ctx_->config->admin;
  if (std::find(admin.users.begin(), admin.users.end(), state_.user) == admin.users.end()) {
    spdlog::warn("[{}] refused admin console login of user {} from {}: not in admin.users", state_.id, state_.user,
                 state_.client_addr);
    const std::string why = "user \"" + state_.user + "\" may not use the schemagate admin console (admin.users)";
    co_await send_fatal("28000", why);
    co_return false;
  }
  // The upstream authenticates the user against a real database; replication and options
  // make no sense for a console and are dropped.
  std::vector<std::pair<std::string_view, std::string_view>> params;
  for (const auto& [name, value] : packet.params) {
    if (name == "database") continue;
    if (name == "replication" || name == "options") continue;
    params.emplace_back(name, value);
  }
  params.emplace_back("database", admin.auth_database);
  std::vector<std::byte> rebuilt;
  protocol::write_startup_message(rebuilt, packet.minor, params);
  startup_packet_ = std::move(rebuilt);  // after the last use of `packet`, which points into it
  console_ = true;
  co_return true;
}

awaitable<bool> Session::handle_cancel_request(std::uint32_t pid, std::uint32_t secret) {
  const auto key = ctx_->cancels->find(pid, secret);
  if (!key) {
    // Like PostgreSQL: no answer either way, so a client cannot probe for valid keys.
    spdlog::info("[{}] cancel request with unknown key from {} ignored", state_.id, state_.client_addr);
    co_return false;
  }
  co_await send_cancel(*key);
  co_return false;  // a cancel connection ends here
}

awaitable<error_code> Session::connect_to_upstream(StreamSocket& sock) {
  const auto& up = ctx_->config->upstream;
  error_code ec;
  if (up.is_unix_socket()) {
    const StreamSocket::endpoint_type where{net::local::stream_protocol::endpoint(up.unix_socket_path())};
    co_await sock.async_connect(where, net::redirect_error(use_awaitable, ec));
    co_return ec;
  }
  // An IP literal needs no resolver (which would cost a thread hop per connection).
  const auto literal = net::ip::make_address(up.host, ec);
  if (!ec) {
    const StreamSocket::endpoint_type where{tcp::endpoint(literal, up.port)};
    co_await sock.async_connect(where, net::redirect_error(use_awaitable, ec));
    co_return ec;
  }
  tcp::resolver resolver(executor());
  ec.clear();
  const auto port = std::to_string(up.port);
  const auto endpoints = co_await resolver.async_resolve(up.host, port, net::redirect_error(use_awaitable, ec));
  if (ec) co_return ec;
  ec = net::error::host_not_found;  // stays so if the name resolved to nothing
  for (const auto& entry : endpoints) {
    error_code ignored;
    if (sock.is_open()) sock.close(ignored);
    const StreamSocket::endpoint_type where{entry.endpoint()};
    ec.clear();
    co_await sock.async_connect(where, net::redirect_error(use_awaitable, ec));
    if (!ec || ec == net::error::operation_aborted) break;  // connected, or closed by the timeout
  }
  co_return ec;
}

awaitable<void> Session::send_cancel(ServerKey key) {
  // Counted before the flag is raised: a session that sees its flag also sees the cancel in
  // flight. The flag stops the proxy's own work for the session (a plan between statements); the
  // wake matters to a held statement, which waits for no server reply.
  if (key.cancels_in_flight) key.cancels_in_flight->fetch_add(1, std::memory_order_acq_rel);
  if (key.cancelled) key.cancelled->store(true, std::memory_order_seq_cst);
  if (key.wake) key.wake();
  if (key.waiting_in_proxy && key.waiting_in_proxy->load(std::memory_order_seq_cst)) {
    // A held statement: the backend runs nothing, the cancel withdraws the request (session_hold.cc).
    ctx_->metrics->add(Counter::cancels_in_proxy);
    spdlog::info("[{}] cancel request for a held statement handled in the proxy", state_.id);
    if (key.cancels_in_flight) key.cancels_in_flight->fetch_sub(1, std::memory_order_acq_rel);
    co_return;
  }
  StreamSocket sock(executor());
  error_code ec = co_await connect_to_upstream(sock);
  if (ec) {
    spdlog::warn("[{}] could not send a cancel request to the database server: {}", state_.id, ec.message());
  } else {
    std::vector<std::byte> out;
    protocol::MessageWriter(out).begin_untagged().u32(protocol::kCancelRequestCode).u32(key.pid).u32(key.secret).finish();
    co_await net::async_write(sock, net::buffer(out), net::redirect_error(use_awaitable, ec));
    if (!ec) {
      ctx_->metrics->add(Counter::cancels_forwarded);
      spdlog::info("[{}] sent cancel request for server pid {}", state_.id, key.pid);
      // PostgreSQL signals the backend, then closes the connection without a reply: end of
      // stream means the backend has its signal.
      net::steady_timer timeout(executor());
      timeout.expires_after(std::chrono::seconds(3));
      timeout.async_wait([&sock](error_code tec) {
        error_code ignored;
        if (!tec) sock.close(ignored);
      });
      std::array<char, 16> sink{};
      co_await sock.async_read_some(net::buffer(sink), net::redirect_error(use_awaitable, ec));
      timeout.cancel();
    }
  }
  if (key.cancels_in_flight) key.cancels_in_flight->fetch_sub(1, std::memory_order_acq_rel);
  if (key.wake) key.wake();
}

awaitable<void> Session::wait_for_cancel_delivery() {
  net::steady_timer timer(executor());
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  while (cancels_in_flight_->load(std::memory_order_acquire) > 0 && std::chrono::steady_clock::now() < until) {
    timer.expires_after(std::chrono::milliseconds(5));
    error_code ec;
    co_await timer.async_wait(net::redirect_error(use_awaitable, ec));
  }
}

awaitable<bool> Session::connect_upstream() {
  stage_ = Stage::auth;
  const auto& up = ctx_->config->upstream;
  error_code ec;
  net::steady_timer timeout(executor());
  timeout.expires_after(std::chrono::milliseconds(up.connect_timeout_ms));
  bool timed_out = false;
  timeout.async_wait([this, &timed_out](error_code tec) {
    if (tec) return;
    timed_out = true;
    error_code ignored;
    server_.socket().close(ignored);
  });
  ec = co_await connect_to_upstream(server_.socket());
  timeout.cancel();
  if (ec || timed_out) {
    ctx_->metrics->add(Counter::server_connect_failures);
    const std::string why = timed_out ? "timeout expired" : ec.message();
    const auto where = up.describe();
    spdlog::error("[{}] could not connect to upstream {}: {}", state_.id, where, why);
    const std::string message = "schemagate: could not connect to the database server at " + where + ": " + why;
    co_await send_fatal("08001", message);
    co_return false;
  }
  if (!up.is_unix_socket()) server_.socket().set_option(tcp::no_delay(true), ec);
  ctx_->metrics->add(Counter::server_connections);
  ctx_->live->servers.fetch_add(1, std::memory_order_relaxed);
  server_counted_ = true;
  if (!co_await negotiate_upstream_tls()) co_return false;
  const bool ok = co_await write_server(startup_packet_);
  co_return ok;
}

awaitable<bool> Session::negotiate_upstream_tls() {
  const auto& tls = ctx_->config->upstream.tls;
  using config::UpstreamTlsMode;
  // No TLS on a Unix socket (the config refuses modes that would demand it).
  if (tls.mode == UpstreamTlsMode::disable || ctx_->config->upstream.is_unix_socket()) co_return true;
  std::vector<std::byte> req;
  protocol::MessageWriter(req).begin_untagged().u32(protocol::kSslRequestCode).finish();
  error_code ec;
  co_await server_.write_all(net::buffer(req), ec);
  std::byte answer{};
  if (!ec) co_await net::async_read(server_.socket(), net::buffer(&answer, 1), net::redirect_error(use_awaitable, ec));
  std::string failure;
  if (ec) {
    failure = "could not negotiate TLS with the database server: " + ec.message();
  } else if (answer == std::byte{'S'}) {
    const bool verify = tls.mode == UpstreamTlsMode::verify_ca || tls.mode == UpstreamTlsMode::verify_full;
    const auto host = tls.server_name.empty() ? ctx_->config->upstream.host : tls.server_name;
    const auto name = tls.mode == UpstreamTlsMode::verify_full ? host : std::string();
    const auto hec = co_await server_.upgrade_as_client(*ctx_->tls->upstream, verify, name, host);
    if (!hec) {
      ctx_->metrics->add(Counter::tls_server_ok);
      co_return true;
    }
    failure = "TLS handshake with the database server failed: " + hec.message();
  } else if (answer == std::byte{'N'}) {
    if (tls.mode == UpstreamTlsMode::prefer) co_return true;
    failure = std::string("the database server does not support SSL, but upstream.tls.mode is ") +
              config::to_string(tls.mode);
  } else {
    failure = "invalid response to SSL negotiation from the database server";
  }
  ctx_->metrics->add(Counter::server_connect_failures);
  ctx_->metrics->add(Counter::tls_server_failed);
  spdlog::error("[{}] upstream TLS failed: {}", state_.id, failure);
  failure = "schemagate: " + failure;
  co_await send_fatal("08001", failure);
  co_return false;
}

awaitable<bool> Session::read_client_frame(protocol::Frame& out) {
  for (;;) {
    const auto r = cdec_.next(cbuf_.span(), wants_whole_always);
    if (r.status == DecodeStatus::frame) {
      out = r.frame;
      co_return true;
    }
    if (r.status == DecodeStatus::error) {
      ctx_->metrics->add(Counter::protocol_errors);
      const std::string why = "invalid message from client: " + r.error.message();
      co_await send_fatal("08P01", why);
      co_return false;
    }
    auto space = cbuf_.prepare(r.needed > cbuf_.size() ? r.needed - cbuf_.size() : 1);
    error_code ec;
    const auto n = co_await client_.read_some(net::buffer(space.data(), space.size()), ec);
    if (ec) co_return false;
    cbuf_.commit(n);
  }
}

awaitable<bool> Session::read_server_frame(protocol::Frame& out, std::size_t& consumed) {
  for (;;) {
    const auto r = sdec_.next(sbuf_.span(), wants_whole_always);
    if (r.status == DecodeStatus::frame) {
      out = r.frame;
      consumed = r.consumed;
      co_return true;
    }
    if (r.status == DecodeStatus::error) {
      ctx_->metrics->add(Counter::protocol_errors);
      spdlog::error("[{}] invalid message from the database server: {}", state_.id, r.error.message());
      co_await send_fatal("08P01", "schemagate: invalid message from the database server");
      co_return false;
    }
    auto space = sbuf_.prepare(r.needed > sbuf_.size() ? r.needed - sbuf_.size() : 1);
    error_code ec;
    const auto n = co_await server_.read_some(net::buffer(space.data(), space.size()), ec);
    if (ec) {
      ctx_->metrics->add(Counter::server_lost);
      co_await send_fatal("08006", "schemagate: the database server closed the connection during authentication");
      co_return false;
    }
    sbuf_.commit(n);
  }
}

awaitable<bool> Session::relay_authentication() {
  // Lock-step relay: the server asks, the client answers, until ReadyForQuery. Messages for
  // the client are batched in `out` and written before the client is expected to answer.
  std::vector<std::byte> out;
  for (;;) {
    protocol::Frame f;
    std::size_t consumed = 0;
    if (!co_await read_server_frame(f, consumed)) co_return false;
    bool client_must_answer = false;
    bool done = false;
    bool failed = false;
    const auto* begin = sbuf_.data();
    switch (f.tag) {
      case tag::kAuthentication: {
        const auto code = protocol::auth_request_code(f);
        // Channel binding cannot survive a proxy: the client would bind to our certificate,
        // the server to its own. Offer plain SCRAM so libpq does not fail.
        if (code == static_cast<std::int64_t>(protocol::AuthRequest::sasl) &&
            protocol::write_sasl_without_mechanism(f, "SCRAM-SHA-256-PLUS", out)) {
        } else {
          out.insert(out.end(), begin, begin + consumed);
        }
        using protocol::AuthRequest;
        switch (static_cast<AuthRequest>(code)) {
          case AuthRequest::cleartext_password:
          case AuthRequest::md5_password:
          case AuthRequest::gss:
          case AuthRequest::gss_continue:
          case AuthRequest::sspi:
          case AuthRequest::sasl:
          case AuthRequest::sasl_continue:
            client_must_answer = true;
            break;
          default:
            break;
        }
        break;
      }
      case tag::kBackendKeyData: {
        protocol::BackendKeyData key;
        if (protocol::parse_backend_key_data(f, key)) {
          failed = true;
          break;
        }
        std::weak_ptr<Session> weak = weak_from_this();
        auto wake = [weak, ex = executor()] {
          net::post(ex, [weak] {
            if (auto s = weak.lock()) s->notify();
          });
        };
        server_key_ = ServerKey{key.pid, key.secret, cancel_flag_, std::move(wake), cancels_in_flight_, waiting_in_proxy_};
        const auto mine = ctx_->cancels->add(server_key_);
        proxy_pid_ = mine.pid;
        protocol::write_backend_key_data(out, mine.pid, mine.secret);
        break;
      }
      case tag::kParameterStatus: {
        protocol::ParameterStatus ps;
        if (!protocol::parse_parameter_status(f, ps)) {
          state_.parameters[std::string(ps.name)] = std::string(ps.value);
          if (ps.name == "application_name") state_.application_name = ps.value;
        }
        out.insert(out.end(), begin, begin + consumed);
        break;
      }
      case tag::kReadyForQuery:
        state_.tx_status = protocol::ready_for_query_status(f);
        out.insert(out.end(), begin, begin + consumed);
        done = true;
        break;
      case tag::kErrorResponse:
        out.insert(out.end(), begin, begin + consumed);
        failed = true;  // authentication failed: the server closes the connection
        break;
      case tag::kNoticeResponse:
      case tag::kNegotiateProtocolVersion:
        out.insert(out.end(), begin, begin + consumed);
        break;
      default:
        spdlog::error("[{}] unexpected message '{}' from the database server during authentication", state_.id, f.tag);
        co_await send_fatal("08P01", "schemagate: unexpected message from the database server during authentication");
        co_return false;
    }
    sbuf_.consume(consumed);
    if (client_must_answer || done || failed) {
      if (!co_await write_client(out)) co_return false;
      out.clear();
    }
    if (failed) co_return false;
    if (done) co_return true;
    if (client_must_answer) {
      protocol::Frame answer;
      if (!co_await read_client_frame(answer)) co_return false;
      if (answer.tag != tag::kPasswordMessage) {
        const std::string why = "expected a password response, got message type '" + std::string(1, answer.tag) + "'";
        co_await send_fatal("08P01", why);
        co_return false;
      }
      const auto n = answer.wire_size;
      if (!co_await write_server(cbuf_.span().first(n))) co_return false;
      cbuf_.consume(n);
    }
  }
}

}  // namespace schemagate::proxy
