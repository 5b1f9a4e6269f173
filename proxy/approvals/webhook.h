#pragma once
// Outgoing approval webhooks. Each new request is POSTed to every configured URL, signed with
// HMAC-SHA256 over "timestamp.body" in the header
//   Schemagate-Signature: t=<unix seconds>,v1=<lower-case hex HMAC>
// (as Stripe and Slack sign theirs), on a worker thread of its own with a bounded queue,
// a per-attempt timeout and retries with exponential backoff. `notify` hooks only deliver;
// `decide` hooks answer {"decision":"approve"|"deny","reason":…,"approver":…} and their answer
// (or, on timeout/error/bad answer, the configured fallback) goes to `on_decision`.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"

namespace schemagate::proxy::approvals {

inline constexpr const char* kSignatureHeader = "Schemagate-Signature";
/// How far a receiver should accept a signature's timestamp from its own clock.
inline constexpr std::int64_t kSignatureToleranceS = 300;

/// "t=<timestamp_s>,v1=<hex HMAC-SHA256(secret, "<timestamp_s>.<body>")>".
std::string sign_payload(std::string_view secret, std::int64_t timestamp_s, std::string_view body);
/// Checks a Schemagate-Signature header value against `body`: the v1 HMAC must match (compared
/// in constant time) and t must be within `tolerance_s` of `now_s`. What receivers do; tested.
bool verify_signature(std::string_view secret, std::string_view header, std::string_view body, std::int64_t now_s,
                      std::int64_t tolerance_s = kSignatureToleranceS);

/// A decide-mode webhook's answer.
struct WebhookDecision {
  enum class Kind { approve, deny, none } kind = Kind::none;  // none: fallback pending
  std::string approver;  // from the answer; "webhook:<host>" when it names none
  std::string reason;
  std::string error;     // why the fallback applied (timeout, HTTP status, bad JSON), or ""
};

struct WebhookStats {
  std::atomic<std::uint64_t> delivered{0};  // 2xx answers
  std::atomic<std::uint64_t> failed{0};     // deliveries given up after the last retry
  std::atomic<std::uint64_t> retries{0};
  std::atomic<std::uint64_t> dropped{0};    // queue full
};

class WebhookNotifier {
 public:
  using DecisionHandler = std::function<void(const std::string& request_id, const WebhookDecision&)>;

  /// Starts the worker thread. `on_decision` is called from it for decide-mode hooks.
  WebhookNotifier(std::vector<config::Webhook> hooks, std::uint32_t queue_limit, DecisionHandler on_decision);
  /// Stops the worker: deliveries still queued are dropped (and logged), a running one is abandoned
  /// within its timeout.
  ~WebhookNotifier();
  WebhookNotifier(const WebhookNotifier&) = delete;
  WebhookNotifier& operator=(const WebhookNotifier&) = delete;

  /// Queues one delivery of `payload_json` per configured hook; never blocks. False if the
  /// queue was full (counted in stats().dropped and logged; the request itself is kept, and
  /// each decide hook's fallback is reported to `on_decision` at once, on the caller's thread).
  bool post(const std::string& request_id, std::string payload_json);
  bool empty() const { return hooks_.empty(); }
  const WebhookStats& stats() const { return stats_; }

 private:
  struct Impl;
  std::vector<config::Webhook> hooks_;
  WebhookStats stats_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace schemagate::proxy::approvals
