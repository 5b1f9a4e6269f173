#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "config/policy_model.h"

namespace schemagate::config {

/// The socket file PostgreSQL (and libpq, and schemagate) uses in a socket directory for a port.
inline std::string postgres_socket_path(const std::string& dir, std::uint16_t port) {
  return dir + "/.s.PGSQL." + std::to_string(port);
}
/// sockaddr_un holds 108 bytes; "/.s.PGSQL.65535" and the terminating NUL take 16 of them.
inline constexpr std::size_t kMaxSocketDirBytes = 92;

/// Client-facing TLS (the proxy terminates it).
struct ListenTls {
  std::string cert_file;  // both empty: no TLS offered, SSLRequest answered 'N'
  std::string key_file;
  bool require = false;   // refuse clients that do not negotiate TLS
  bool operator==(const ListenTls&) const = default;
};

struct Listen {
  std::string address = "127.0.0.1";
  std::uint16_t port = 6432;
  // Also listen on a Unix socket in this directory (as PostgreSQL and PgBouncer do:
  // `psql -h DIR -p PORT`); empty = TCP only.
  std::string unix_socket_dir;
  ListenTls tls;

  /// The socket file for a given (bound) port.
  std::string unix_socket_path(std::uint16_t bound_port) const {
    return postgres_socket_path(unix_socket_dir, bound_port);
  }
  bool operator==(const Listen&) const = default;
};

/// How the proxy talks TLS to the database: libpq's sslmode values.
enum class UpstreamTlsMode { disable, prefer, require, verify_ca, verify_full };

struct UpstreamTls {
  UpstreamTlsMode mode = UpstreamTlsMode::prefer;
  std::string ca_file;      // verify-ca / verify-full; empty = system store
  std::string server_name;  // verify-full: name to check; empty = upstream.host
};

struct Upstream {
  // A host name, an IP address, or (as in libpq) a directory holding the server's Unix socket.
  std::string host = "127.0.0.1";
  std::uint16_t port = 5432;
  std::uint32_t connect_timeout_ms = 5000;
  UpstreamTls tls;

  bool is_unix_socket() const { return !host.empty() && host.front() == '/'; }
  /// The socket file PostgreSQL creates in that directory for this port.
  std::string unix_socket_path() const { return postgres_socket_path(host, port); }
  /// For messages: host:port, or the socket file.
  std::string describe() const { return is_unix_socket() ? unix_socket_path() : host + ":" + std::to_string(port); }
};

struct Limits {
  std::uint32_t max_client_connections = 1000;
  // Largest message held whole in memory (Query text, Bind values, ErrorResponse...).
  // PostgreSQL itself refuses anything above 1 GB. Larger CopyData/DataRow stream through.
  std::uint32_t max_message_bytes = 256u << 20;
  std::uint32_t startup_timeout_ms = 15000;   // TLS + authentication must finish within this
  std::uint32_t client_idle_timeout_ms = 0;   // 0 = never
  std::uint32_t shutdown_grace_ms = 30000;    // SIGTERM: wait this long for in-flight statements
};

struct Logging {
  std::string level = "info";  // trace debug info warn error critical off
  bool json = false;           // log.format: json — one JSON object per line (default: text)
};

/// The audit log: one JSON object per line for every DDL decision, plan and approval
/// transition, apart from the diagnostic log.
struct Audit {
  std::string path;         // a file (appended to, reopened on reload), "-" for stdout; empty: off
  bool fail_closed = false;  // refuse DDL (SG001) while the audit log cannot be written
};

/// How the I/O threads wait for work.
struct Io {
  // After handling work, keep polling (yielding the CPU) for this long before sleeping in
  // epoll_wait; 0 = sleep at once. A message arriving within the window needs no wake-up.
  std::uint32_t busy_poll_us = 25;
  // Let the window follow what polling finds (proxy/poll_window.h): it shrinks to 0 while gaps
  // are longer than busy_poll_us or while another process wants the core. false: always poll
  // for busy_poll_us.
  bool busy_poll_adaptive = true;
  bool operator==(const Io&) const = default;
};

/// Where the proxy journals the rewrite plans it runs, so that an interrupted plan can resume.
struct State {
  // An SQLite file; relative to the working directory. Proxies on one host may share it.
  // ":memory:" keeps the journal in memory (lost at exit: no resuming after a restart).
  std::string path = "schemagate-state.db";
  bool operator==(const State&) const = default;
};

/// Bearer token of one approver. The token itself comes from the config or from a file (a
/// mounted Kubernetes Secret); never logged.
struct AdminToken {
  std::string approver;  // the identity recorded on decisions
  std::string token;
  bool operator==(const AdminToken&) const = default;
};

/// The admin HTTP listener: approvals API (and, later, /metrics, /healthz).
struct Admin {
  std::string address;      // empty: no admin listener
  std::uint16_t port = 6433;  // 0: an ephemeral port (tests)
  ListenTls tls;            // cert_file/key_file: serve HTTPS
  // Base of the URLs put in NOTICEs and webhook payloads ("https://schemagate.example.com");
  // empty: http(s)://address:port.
  std::string public_url;
  std::vector<AdminToken> tokens;  // from admin.tokens and admin.tokens_file ("approver:token" lines)
  std::string tokens_file;
  std::uint32_t max_body_bytes = 64 * 1024;
  // The admin console: `psql dbname=<console_database> user=<one of users>` is answered by the
  // proxy itself, after the upstream authenticated that user against `auth_database`.
  std::vector<std::string> users;  // empty: no console (the database name is forwarded as any other)
  std::string console_database = "schemagate";
  std::string auth_database = "postgres";
  bool console_enabled() const { return !users.empty(); }
  bool operator==(const Admin&) const = default;
};

enum class WebhookMode { notify, decide };
/// What a `decide` webhook's silence (timeout, error, bad answer) means.
enum class WebhookFallback { pending, deny };

struct Webhook {
  std::string url;                  // http:// or https://host[:port]/path
  WebhookMode mode = WebhookMode::notify;
  std::string secret;               // HMAC-SHA256 key (secret or secret_file; required)
  std::string secret_file;
  std::uint32_t timeout_ms = 5000;  // per attempt
  std::uint32_t retries = 3;        // extra attempts after the first, with exponential backoff
  WebhookFallback fallback = WebhookFallback::pending;
  std::string ca_file;              // https: CA bundle to verify the receiver; empty = system store
  bool operator==(const Webhook&) const = default;
};

/// Where approval requests live: sqlite (a file; the proxies of one host) or postgres (shared by
/// every replica).
struct ApprovalStore {
  enum class Backend { sqlite, postgres } backend = Backend::sqlite;
  std::string path = "schemagate-approvals.db";  // sqlite: the file (":memory:": lost at exit)
  std::string dsn;                   // postgres: a libpq connection string
  std::string schema = "schemagate";  // postgres: tables live in this schema
  std::uint32_t poll_ms = 1000;      // how often waiting sessions re-read their request (fallback to LISTEN)
  bool operator==(const ApprovalStore&) const = default;
};

/// Just-in-time approval of held statements.
struct Approvals {
  std::uint32_t wait_ms = 600000;                // how long a held client waits outside a transaction
  std::uint32_t wait_in_transaction_ms = 60000;  // inside one (its locks stay held meanwhile)
  std::uint32_t reminder_ms = 30000;             // NOTICE while waiting
  std::uint32_t request_ttl_ms = 86400000;       // a pending request expires after this
  std::uint32_t validity_ms = 3600000;           // an approval may be used this long after it is given
  bool single_use = true;                        // an approval runs its statement once
  std::uint32_t approvals_required = 1;          // distinct approvers needed
  bool require_distinct_approver = true;         // an approver cannot approve their own database user's request
  std::uint32_t webhook_queue = 1000;            // notifications waiting for delivery; beyond it they are dropped (and counted)
  ApprovalStore store;
  std::vector<Webhook> webhooks;
  bool operator==(const Approvals&) const = default;
};

/// The whole validated configuration, immutable once loaded.
struct Config {
  Listen listen;
  Upstream upstream;
  Limits limits;
  Logging log;
  Audit audit;
  unsigned workers = 1;  // I/O threads; 0 = one per core
  Io io;
  PolicyRef policy;
  State state;
  Admin admin;
  Approvals approvals;
};

const char* to_string(UpstreamTlsMode m);

}  // namespace schemagate::config
