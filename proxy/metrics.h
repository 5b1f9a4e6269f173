#pragma once
// Every metric schemagate exports, declared once in the lists below (as Envoy declares its
// stats), and the registry that counts them.
//
// Counting is per thread: each I/O thread owns a shard (its own cache lines) and adds to it
// with relaxed atomics, so the forwarding path takes no lock and shares no cache line with
// another thread. A scrape sums the shards. Gauges that describe state owned elsewhere
// (connections open, requests pending, draining) are read at scrape time through callbacks.
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace schemagate::proxy {

// X(id, name after "schemagate_", labels, help). Entries sharing a name must be adjacent:
// they are one family, and the first one's help is the family's.
#define SG_METRIC_COUNTERS(X)                                                                                       \
  X(client_connections, "client_connections_total", "", "Client connections accepted.")                            \
  X(client_connections_refused, "client_connections_refused_total", "",                                             \
    "Client connections refused because limits.max_client_connections were open.")                                 \
  X(server_connections, "server_connections_total", "", "Connections opened to the database server.")              \
  X(server_connect_failures, "server_connect_failures_total", "",                                                   \
    "Connections to the database server that could not be opened (connect, TLS).")                                 \
  X(server_lost, "server_connections_lost_total", "",                                                              \
    "Server connections that ended before their client did (closed by the server or the network).")               \
  X(client_bytes, "client_received_bytes_total", "", "Bytes received from clients.")                                \
  X(server_bytes, "server_received_bytes_total", "", "Bytes received from the database server.")                   \
  X(requests_fast, "requests_total", "path=\"fast\"",                                                               \
    "Client requests carrying SQL: fast = the pre-classifier proved them ordinary and they were forwarded "         \
    "unparsed; parsed = at least one statement was parsed and judged.")                                             \
  X(requests_parsed, "requests_total", "path=\"parsed\"", "")                                                       \
  X(statements_pass, "statements_total", "outcome=\"pass\"",                                                        \
    "Schema-changing statements judged, by outcome (in observe mode: the outcome enforce would have had).")         \
  X(statements_warn, "statements_total", "outcome=\"warn\"", "")                                                    \
  X(statements_rewrite, "statements_total", "outcome=\"rewrite\"", "")                                              \
  X(statements_hold, "statements_total", "outcome=\"hold\"", "")                                                    \
  X(statements_reject, "statements_total", "outcome=\"reject\"", "")                                                \
  X(statements_observed, "statements_observed_total", "",                                                           \
    "Schema-changing statements forwarded unchanged because the policy is in observe mode.")                        \
  X(catalog_queries, "catalog_queries_total", "",                                                                   \
    "Catalog facts round trips before judging DDL (one per message; a second for a partitioned table's partitions).") \
  X(plans_started, "plans_total", "result=\"started\"", "Rewrite plans, by result.")                                \
  X(plans_succeeded, "plans_total", "result=\"succeeded\"", "")                                                     \
  X(plans_failed, "plans_total", "result=\"failed\"", "")                                                           \
  X(phases_succeeded, "plan_phases_total", "result=\"succeeded\"", "Plan phases run, by result.")                   \
  X(phases_failed, "plan_phases_total", "result=\"failed\"", "")                                                    \
  X(lock_timeout_retries, "lock_timeout_retries_total", "",                                                         \
    "Guarded plan phases retried after lock_timeout (55P03).")                                                      \
  X(backfill_rows, "backfill_rows_total", "", "Rows updated by backfill phases (rate() gives rows per second).")     \
  X(backfill_replica_waits, "backfill_replica_waits_total", "",                                                   \
    "Times a backfill paused because a replica was behind in replay by more than backfill_max_replica_lag.")        \
  X(holds_started, "holds_total", "result=\"started\"", "Statements held for approval, by how the wait ended.")     \
  X(holds_approved, "holds_total", "result=\"approved\"", "")                                                       \
  X(holds_refused, "holds_total", "result=\"refused\"", "")                                                         \
  X(tls_client_ok, "tls_handshakes_total", "side=\"client\",result=\"ok\"",                                         \
    "TLS handshakes, with clients and with the database server, by result.")                                        \
  X(tls_client_failed, "tls_handshakes_total", "side=\"client\",result=\"failed\"", "")                             \
  X(tls_server_ok, "tls_handshakes_total", "side=\"server\",result=\"ok\"", "")                                     \
  X(tls_server_failed, "tls_handshakes_total", "side=\"server\",result=\"failed\"", "")                             \
  X(protocol_errors, "protocol_errors_total", "", "Malformed messages from clients or the server.")                \
  X(cancels_forwarded, "cancel_requests_total", "handled=\"server\"",                                              \
    "CancelRequests, by who acted on them: forwarded to the database server, or handled in the proxy (a held "   \
    "statement, whose backend runs nothing).")                                                                      \
  X(cancels_in_proxy, "cancel_requests_total", "handled=\"proxy\"", "")                                             \
  X(audit_failures, "audit_write_failures_total", "", "Audit log lines that could not be written.")                 \
  X(reloads_ok, "config_reloads_total", "result=\"ok\"", "Configuration reloads, by result.")                       \
  X(reloads_failed, "config_reloads_total", "result=\"failed\"", "")                                               \
  X(busy_poll_caught, "busy_poll_caught_total", "",                                                                 \
    "Messages an I/O thread found while busy polling, i.e. without a wake-up from epoll_wait.")                   \
  X(busy_poll_sleeps, "busy_poll_sleeps_total", "", "Times an I/O thread stopped busy polling and slept.")          \
  X(busy_poll_contended, "busy_poll_contended_total", "",                                                           \
    "Times busy polling stopped because another process wanted the CPU (it then backs off).")

// X(id, name, help, buckets): histograms of durations in seconds.
#define SG_METRIC_HISTOGRAMS(X)                                                                                     \
  X(catalog_query_seconds, "catalog_query_duration_seconds", "Catalog facts query round trips.", kFastBuckets)    \
  X(plan_seconds, "plan_duration_seconds", "Rewrite plans, from the first phase to the last.", kSlowBuckets)      \
  X(phase_seconds, "plan_phase_duration_seconds", "Plan phases, including their lock_timeout retries.",          \
    kSlowBuckets)                                                                                                   \
  X(hold_seconds, "hold_wait_duration_seconds", "How long held statements waited for a decision.", kSlowBuckets)

enum class Counter : std::uint16_t {
#define SG_ENUM(id, name, labels, help) id,
  SG_METRIC_COUNTERS(SG_ENUM)
#undef SG_ENUM
      count_
};
enum class Histogram : std::uint16_t {
#define SG_ENUM(id, name, help, buckets) id,
  SG_METRIC_HISTOGRAMS(SG_ENUM)
#undef SG_ENUM
      count_
};

inline constexpr std::size_t kCounterCount = static_cast<std::size_t>(Counter::count_);
inline constexpr std::size_t kHistogramCount = static_cast<std::size_t>(Histogram::count_);
inline constexpr std::size_t kBucketCount = 12;  // upper bounds per histogram (+Inf apart)
/// SQLSTATE classes counted one by one; anything else is "other".
inline constexpr std::array<std::string_view, 45> kSqlStateClasses = {
    "00", "01", "02", "03", "08", "09", "0A", "0B", "0F", "0L", "0P", "0Z", "20", "21", "22",
    "23", "24", "25", "26", "27", "28", "2B", "2D", "2F", "34", "38", "39", "3B", "3D", "3F",
    "40", "42", "44", "53", "54", "55", "57", "58", "72", "F0", "HV", "P0", "XX", "SG", "other"};
/// Rules counted by name: the catalogue's, plus default_action; beyond this, "other".
inline constexpr std::size_t kRuleSlots = 128;

/// The live values a scrape reads from the rest of the proxy.
struct MetricsGauges {
  std::function<std::int64_t()> client_connections;  // open now
  std::function<std::int64_t()> server_connections;
  std::function<std::int64_t()> pending_requests;    // approval requests pending (-1: unknown)
  std::function<bool()> draining;
  std::function<bool()> ddl_paused;
  /// Extra exposition text appended as is (webhook and parse-cache counters owned elsewhere).
  std::function<std::string()> extra;
};

class Metrics {
 public:
  /// `shards`: one per I/O thread, plus one for every other thread.
  explicit Metrics(unsigned io_threads);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  /// Makes the calling thread count into shard `index` (I/O thread number); other threads
  /// count into the shared last shard.
  static void bind_thread(unsigned index);

  void add(Counter c, std::uint64_t n = 1) {
    shard().counters[static_cast<std::size_t>(c)].fetch_add(n, std::memory_order_relaxed);
  }
  void observe(Histogram h, double seconds);
  /// An ErrorResponse went to a client with this SQLSTATE.
  void count_error(std::string_view sqlstate);
  /// A rule matched a statement.
  void count_rule(std::string_view rule_id);

  std::uint64_t total(Counter c) const;
  /// The whole exposition (Prometheus text format 0.0.4).
  std::string render(const MetricsGauges& gauges) const;

 private:
  struct alignas(64) Shard {
    std::array<std::atomic<std::uint64_t>, kCounterCount> counters{};
    // per histogram: kBucketCount bounds, +Inf, then the sum in microseconds
    std::array<std::array<std::atomic<std::uint64_t>, kBucketCount + 2>, kHistogramCount> histograms{};
    std::array<std::atomic<std::uint64_t>, kSqlStateClasses.size()> errors{};
    std::array<std::atomic<std::uint64_t>, kRuleSlots + 1> rules{};  // last: other
  };
  Shard& shard();

  std::vector<Shard> shards_;
  std::vector<std::string> rule_names_;  // slot → rule id
};

}  // namespace schemagate::proxy
