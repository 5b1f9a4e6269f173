#include "proxy/approvals/webhook.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "proxy/approvals/http_client.h"

#ifndef SG_VERSION
#define SG_VERSION "0.0.0"
#endif

namespace schemagate::proxy::approvals {
namespace {

constexpr std::size_t kHmacHexSize = 64;  // SHA-256: 32 bytes
constexpr std::chrono::milliseconds kBackoffBase{200};
constexpr std::chrono::milliseconds kBackoffCap{10000};

std::string hmac_sha256_hex(std::string_view secret, std::string_view message) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &mac_len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(mac_len * 2);
  for (unsigned int i = 0; i < mac_len; ++i) {
    hex.push_back(kHex[mac[i] >> 4]);
    hex.push_back(kHex[mac[i] & 0xf]);
  }
  return hex;
}

std::string signed_message(std::int64_t timestamp_s, std::string_view body) {
  std::string m = std::to_string(timestamp_s);
  m.push_back('.');
  m.append(body);
  return m;
}

bool parse_timestamp(std::string_view text, std::int64_t& out) {
  if (text.empty() || text.size() > 18) return false;
  std::int64_t n = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  out = n;
  return true;
}

bool is_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); });
}

/// scheme://host[:port] of a URL: what logs and approver names show. Never the path or the
/// query, which for many receivers (Slack incoming webhooks) carry the secret.
std::string url_origin(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return "(invalid URL)";
  const auto end = url.find_first_of("/?#", scheme_end + 3);
  std::string authority = url.substr(scheme_end + 3, end == std::string::npos ? std::string::npos : end - scheme_end - 3);
  if (const auto at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
  return url.substr(0, scheme_end + 3) + authority;
}

/// The host of a URL, without port or brackets: "webhook:<host>" names a decide hook's votes.
std::string url_host(const std::string& url) {
  const std::string origin = url_origin(url);
  const auto scheme_end = origin.find("://");
  if (scheme_end == std::string::npos) return "unknown";
  std::string authority = origin.substr(scheme_end + 3);
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    return authority.substr(1, close == std::string::npos ? std::string::npos : close - 1);
  }
  return authority.substr(0, authority.find(':'));
}

std::int64_t unix_now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// A decide hook's 2xx answer; false (with `error`) when it is not a valid decision.
bool parse_decision(const std::string& body, const std::string& host, WebhookDecision& out, std::string& error) {
  const auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    error = "the answer is not a JSON object";
    return false;
  }
  const auto decision = j.find("decision");
  if (decision == j.end() || !decision->is_string() || (*decision != "approve" && *decision != "deny")) {
    error = "the answer has no \"decision\": \"approve\" or \"deny\"";
    return false;
  }
  const auto reason = j.find("reason");
  const auto approver = j.find("approver");
  if ((reason != j.end() && !reason->is_null() && !reason->is_string()) ||
      (approver != j.end() && !approver->is_null() && !approver->is_string())) {
    error = "\"reason\" and \"approver\" must be strings";
    return false;
  }
  out.kind = *decision == "approve" ? WebhookDecision::Kind::approve : WebhookDecision::Kind::deny;
  out.reason = reason != j.end() && reason->is_string() ? reason->get<std::string>() : "";
  out.approver = approver != j.end() && approver->is_string() ? approver->get<std::string>() : "";
  if (out.approver.empty()) out.approver = "webhook:" + host;
  return true;
}

}  // namespace

std::string sign_payload(std::string_view secret, std::int64_t timestamp_s, std::string_view body) {
  return "t=" + std::to_string(timestamp_s) + ",v1=" + hmac_sha256_hex(secret, signed_message(timestamp_s, body));
}

bool verify_signature(std::string_view secret, std::string_view header, std::string_view body, std::int64_t now_s,
                      std::int64_t tolerance_s) {
  // "t=<digits>,v1=<hex>[,v1=<hex>...]": exactly one t; any v1 may match (several let a sender
  // sign with an old and a new secret while receivers rotate). Unknown schemes are ignored.
  std::optional<std::int64_t> timestamp;
  std::vector<std::string_view> candidates;
  while (!header.empty()) {
    const auto comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) return false;
    const auto key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "t") {
      std::int64_t t = 0;
      if (timestamp || !parse_timestamp(value, t)) return false;
      timestamp = t;
    } else if (key == "v1") {
      if (value.size() != kHmacHexSize || !is_hex(value)) return false;
      candidates.push_back(value);
    }
  }
  if (!timestamp || candidates.empty()) return false;
  if (*timestamp > now_s + tolerance_s || *timestamp < now_s - tolerance_s) return false;
  const std::string expected = hmac_sha256_hex(secret, signed_message(*timestamp, body));
  bool match = false;
  for (const auto candidate : candidates) {
    std::string lower(candidate);
    for (auto& c : lower) c = static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
    match |= CRYPTO_memcmp(lower.data(), expected.data(), kHmacHexSize) == 0;
  }
  return match;
}

struct WebhookNotifier::Impl {
  struct Delivery {
    std::string request_id;
    std::shared_ptr<const std::string> payload;  // shared by the deliveries of one request
    std::size_t hook = 0;
  };

  Impl(WebhookNotifier& notifier, std::uint32_t limit, DecisionHandler handler)
      : owner(notifier), queue_limit(limit), on_decision(std::move(handler)) {}

  void run() {
    std::mt19937_64 rng(std::random_device{}());
    std::unique_lock lock(mutex);
    for (;;) {
      wake.wait(lock, [&] { return stopping || !queue.empty(); });
      if (stopping) break;
      Delivery d = std::move(queue.front());
      queue.pop_front();
      lock.unlock();
      deliver(d, rng);
      lock.lock();
    }
    if (!queue.empty())
      spdlog::warn("webhooks: shutting down with {} deliveries still queued; they are dropped (the requests are kept)",
                   queue.size());
  }

  /// Waits `delay` unless shutdown begins first; false when stopping.
  bool sleep_unless_stopping(std::chrono::milliseconds delay) {
    std::unique_lock lock(mutex);
    return !wake.wait_for(lock, delay, [&] { return stopping; });
  }

  bool is_stopping() {
    std::lock_guard lock(mutex);
    return stopping;
  }

  void deliver(const Delivery& d, std::mt19937_64& rng) {
    const config::Webhook& hook = owner.hooks_[d.hook];
    const std::string origin = url_origin(hook.url);
    HttpCall call;
    call.method = "POST";
    call.url = hook.url;
    call.body = *d.payload;
    call.content_type = "application/json";
    call.timeout_ms = hook.timeout_ms;
    call.ca_file = hook.ca_file;
    std::string last_error;
    for (std::uint32_t attempt = 0; attempt <= hook.retries; ++attempt) {
      if (attempt > 0) {
        // 200 ms × 2^n, capped, with jitter (75–100 %) so that retries to a recovering receiver spread out.
        const auto exp = std::min<std::uint32_t>(attempt - 1, 16);
        const std::chrono::milliseconds base = std::min(kBackoffCap, kBackoffBase * (std::int64_t{1} << exp));
        std::uniform_int_distribution<std::int64_t> jitter(base.count() * 3 / 4, base.count());
        owner.stats_.retries.fetch_add(1, std::memory_order_relaxed);
        if (!sleep_unless_stopping(std::chrono::milliseconds(jitter(rng)))) return;
      } else if (is_stopping()) {
        return;
      }
      // Signed at each attempt: the timestamp is the attempt's, so a late retry is not a replay.
      call.headers = {{kSignatureHeader, sign_payload(hook.secret, unix_now_s(), *d.payload)},
                      {"Schemagate-Request-Id", d.request_id},
                      {"User-Agent", std::string("schemagate/") + SG_VERSION}};
      const HttpResult r = http_call(call);
      if (r.ok && r.status >= 200 && r.status < 300) {
        owner.stats_.delivered.fetch_add(1, std::memory_order_relaxed);
        spdlog::debug("webhooks: request {} delivered to {} (HTTP {})", d.request_id, origin, r.status);
        if (hook.mode == config::WebhookMode::decide) decided(d, hook, r.body);
        return;
      }
      last_error = r.ok ? "HTTP " + std::to_string(r.status) : r.error;
      spdlog::debug("webhooks: request {} to {}: attempt {} failed: {}", d.request_id, origin, attempt + 1, last_error);
    }
    owner.stats_.failed.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("webhooks: gave up delivering request {} to {} after {} attempts: {}", d.request_id, origin,
                 hook.retries + 1, last_error);
    if (hook.mode == config::WebhookMode::decide) fall_back(d, hook, last_error);
  }

  void decided(const Delivery& d, const config::Webhook& hook, const std::string& body) {
    WebhookDecision decision;
    std::string error;
    if (!parse_decision(body, url_host(hook.url), decision, error)) {
      spdlog::warn("webhooks: request {}: the decide webhook {} gave no valid decision: {}", d.request_id,
                   url_origin(hook.url), error);
      fall_back(d, hook, "invalid answer: " + error);
      return;
    }
    if (on_decision) on_decision(d.request_id, decision);
  }

  void fall_back(const Delivery& d, const config::Webhook& hook, const std::string& error) {
    WebhookDecision decision;
    decision.error = error;
    if (hook.fallback == config::WebhookFallback::deny) {
      decision.kind = WebhookDecision::Kind::deny;
      decision.approver = "webhook:" + url_host(hook.url);
      decision.reason = "webhook unavailable: " + error;
    }
    if (on_decision) on_decision(d.request_id, decision);
  }

  WebhookNotifier& owner;
  const std::size_t queue_limit;
  const DecisionHandler on_decision;
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<Delivery> queue;
  bool stopping = false;
  std::thread worker;
};

WebhookNotifier::WebhookNotifier(std::vector<config::Webhook> hooks, std::uint32_t queue_limit,
                                 DecisionHandler on_decision)
    : hooks_(std::move(hooks)), impl_(std::make_unique<Impl>(*this, queue_limit, std::move(on_decision))) {
  impl_->worker = std::thread([this] { impl_->run(); });
}

WebhookNotifier::~WebhookNotifier() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->worker.joinable()) impl_->worker.join();
}

bool WebhookNotifier::post(const std::string& request_id, std::string payload_json) {
  if (hooks_.empty()) return true;
  auto payload = std::make_shared<const std::string>(std::move(payload_json));
  bool full = false;
  {
    std::lock_guard lock(impl_->mutex);
    // All of a request's deliveries or none: a partial fan-out would be harder to reason about.
    full = impl_->queue.size() + hooks_.size() > impl_->queue_limit;
    if (full) {
      stats_.dropped.fetch_add(hooks_.size(), std::memory_order_relaxed);
      spdlog::warn("webhooks: queue full ({} deliveries waiting); notifications of request {} dropped "
                   "(the request itself is kept)",
                   impl_->queue.size(), request_id);
    } else {
      for (std::size_t i = 0; i < hooks_.size(); ++i) impl_->queue.push_back({request_id, payload, i});
    }
  }
  if (full) {
    // A decide hook that is never asked cannot answer: its fallback applies now, as when it is
    // down (outside the lock: the handler records a vote in the store).
    for (std::size_t i = 0; i < hooks_.size(); ++i)
      if (hooks_[i].mode == config::WebhookMode::decide)
        impl_->fall_back({request_id, payload, i}, hooks_[i], "the webhook delivery queue is full");
    return false;
  }
  impl_->wake.notify_one();
  return true;
}

}  // namespace schemagate::proxy::approvals
