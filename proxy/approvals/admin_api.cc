#include "proxy/approvals/admin_api.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <array>
#include <chrono>
#include <exception>
#include <string_view>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace schemagate::proxy::approvals {
namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxReasonChars = 1000;
constexpr std::size_t kMaxListLimit = 1000;
constexpr std::string_view kRequestsPath = "/v1/requests";

HttpResponse json_response(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse error_response(int status, std::string_view message) {
  return json_response(status, json{{"error", std::string(message)}}.dump());
}

HttpResponse method_not_allowed(std::string_view allow) {
  auto r = error_response(405, "method not allowed");
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

HttpResponse unauthorized(std::string_view message) {
  auto r = error_response(401, message);
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

HttpResponse store_failed(const std::string& error) {
  // The store's message may name files or hosts: the log has it, the caller gets the category.
  spdlog::warn("admin API: approval store failed: {}", error);
  return error_response(503, "approval store unavailable");
}

using Digest = std::array<unsigned char, SHA256_DIGEST_LENGTH>;

Digest sha256(std::string_view text) {
  Digest d{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), d.data());
  return d;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

/// The token of "Bearer <token>" (scheme case-insensitive, RFC 7235), or "" when it is not one.
std::string_view bearer_token(std::string_view authorization) {
  const auto space = authorization.find(' ');
  if (space == std::string_view::npos || !iequals(authorization.substr(0, space), "bearer")) return {};
  auto token = authorization.substr(space + 1);
  while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
  // token68 has no inner whitespace: "Bearer a b" is not a token.
  if (token.find_first_of(" \t") != std::string_view::npos) return {};
  return token;
}

/// Code points of valid UTF-8 (the JSON parser has validated it).
std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (const char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

/// Control characters would reach the audit log and the client's ERROR message verbatim.
bool has_control_chars(std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t' && c != '\n') || u == 0x7F) return true;
  }
  return false;
}

/// The body of approve/deny: a JSON object whose only field is an optional string "reason".
/// An empty body means no fields (`curl -X POST` without -d). False with `error` otherwise.
bool parse_vote_body(const std::string& body, std::string& reason, std::string& error) {
  reason.clear();
  if (body.empty()) return true;
  // Duplicate keys are ambiguous (nlohmann keeps the last): reject them. Only the top level
  // matters — anything nested sits under a field that is refused anyway.
  bool duplicate = false;
  std::vector<std::string> top_keys;
  const json::parser_callback_t track_keys = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1) {
      const auto& key = parsed.get_ref<const std::string&>();
      for (const auto& k : top_keys)
        if (k == key) duplicate = true;
      top_keys.push_back(key);
    }
    return true;
  };
  const json doc = json::parse(body, track_keys, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    error = "body is not valid JSON";
    return false;
  }
  if (!doc.is_object()) {
    error = "body must be a JSON object";
    return false;
  }
  if (duplicate) {
    error = "duplicate field in body";
    return false;
  }
  for (const auto& [key, value] : doc.items()) {
    if (key != "reason") {
      error = "unknown field '" + key.substr(0, 64) + "' (allowed: reason)";
      return false;
    }
    if (!value.is_string()) {
      error = "'reason' must be a string";
      return false;
    }
    reason = value.get<std::string>();
  }
  if (utf8_length(reason) > kMaxReasonChars) {
    error = "'reason' is longer than " + std::to_string(kMaxReasonChars) + " characters";
    return false;
  }
  if (has_control_chars(reason)) {
    error = "'reason' contains control characters";
    return false;
  }
  return true;
}

struct ListQuery {
  std::optional<RequestStatus> status;
  std::size_t limit = 0;  // 0: all
};

/// "status=pending&limit=10": both optional, nothing else, each at most once. No percent
/// decoding: every valid value is plain ASCII, so an encoded one is simply not valid.
bool parse_list_query(std::string_view query, ListQuery& out, std::string& error) {
  bool seen_status = false, seen_limit = false;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    const auto name = pair.substr(0, eq);
    const auto value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (name == "status" && !seen_status) {
      seen_status = true;
      out.status = parse_request_status(value);
      if (!out.status) {
        error = "status must be one of pending, approved, denied, expired, withdrawn, executed, failed";
        return false;
      }
    } else if (name == "limit" && !seen_limit) {
      seen_limit = true;
      std::size_t n = 0;
      bool digits = !value.empty() && value.size() <= 4;
      for (const char c : value) {
        if (c < '0' || c > '9') digits = false;
        else n = n * 10 + static_cast<std::size_t>(c - '0');
      }
      if (!digits || n < 1 || n > kMaxListLimit) {
        error = "limit must be an integer from 1 to " + std::to_string(kMaxListLimit);
        return false;
      }
      out.limit = n;
    } else {
      error = (name == "status" || name == "limit") ? "query parameter given twice"
                                                    : "unknown query parameter (allowed: status, limit)";
      return false;
    }
  }
  return true;
}

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

/// The routes, split from the target: `path` ends before '?', `id`/`action` are the segments
/// after /v1/requests (empty when absent).
enum class Route { not_found, health, ready, metrics, reload, list, show, approve, deny };

struct Target {
  Route route = Route::not_found;
  std::string_view query;
  std::string_view id;
  bool has_query = false;
};

Target route_of(std::string_view target) {
  Target t;
  const auto q = target.find('?');
  if (q != std::string_view::npos) {
    t.query = target.substr(q + 1);
    t.has_query = true;
    target = target.substr(0, q);
  }
  if (target == "/healthz") {
    t.route = Route::health;
    return t;
  }
  if (target == "/readyz") {
    t.route = Route::ready;
    return t;
  }
  if (target == "/metrics") {
    t.route = Route::metrics;
    return t;
  }
  if (target == "/v1/reload") {
    t.route = Route::reload;
    return t;
  }
  if (target == kRequestsPath) {
    t.route = Route::list;
    return t;
  }
  if (target.substr(0, kRequestsPath.size() + 1) != "/v1/requests/") return t;
  auto rest = target.substr(kRequestsPath.size() + 1);
  const auto slash = rest.find('/');
  t.id = rest.substr(0, slash);
  if (slash == std::string_view::npos) {
    t.route = Route::show;
  } else {
    const auto action = rest.substr(slash + 1);
    if (action == "approve") t.route = Route::approve;
    else if (action == "deny") t.route = Route::deny;
  }
  // The id is validated after authentication (so that an unauthenticated caller learns
  // nothing); here an empty one is simply no route.
  if (t.id.empty()) t.route = Route::not_found;
  return t;
}

}  // namespace

AdminApi::AdminApi(ApprovalService* service, std::vector<config::AdminToken> tokens, AdminHooks hooks)
    : service_(service), tokens_(std::move(tokens)), hooks_(std::move(hooks)) {}

std::optional<std::string> AdminApi::approver_for(const std::string& authorization) const {
  const auto token = bearer_token(authorization);
  if (token.empty()) return std::nullopt;
  // Fixed-length digests, so that neither the comparison nor its length reveals how much of
  // a token matched; every configured token is compared, whatever matched before.
  const Digest presented = sha256(token);
  const config::AdminToken* match = nullptr;
  for (const auto& t : tokens_) {
    const Digest known = sha256(t.token);
    const bool equal = CRYPTO_memcmp(presented.data(), known.data(), known.size()) == 0;
    if (equal && !t.token.empty() && match == nullptr) match = &t;
  }
  if (match == nullptr) return std::nullopt;
  return match->approver;
}

HttpResponse AdminApi::handle(const HttpRequest& request) const {
  try {
    const Target t = route_of(request.target);
    const bool get = request.method == "GET", post = request.method == "POST";
    switch (t.route) {
      case Route::not_found:
        return error_response(404, "not found");
      case Route::health:
        if (!get) return method_not_allowed("GET");
        return json_response(200, R"({"status":"ok"})");
      case Route::ready: {
        if (!get) return method_not_allowed("GET");
        if (!hooks_.ready) return error_response(404, "not found");
        std::string detail;
        const bool ok = hooks_.ready(detail);
        return json_response(ok ? 200 : 503, detail.empty() ? std::string(R"({"ready":false})") : detail);
      }
      case Route::metrics: {
        if (!get) return method_not_allowed("GET");
        if (!hooks_.metrics) return error_response(404, "not found");
        HttpResponse r{200, hooks_.metrics(), {}};
        r.headers.emplace_back("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
        return r;
      }
      case Route::reload:
        if (!post) return method_not_allowed("POST");
        if (!hooks_.reload) return error_response(404, "not found");
        break;
      case Route::list:
      case Route::show:
        if (!get) return method_not_allowed("GET");
        break;
      case Route::approve:
      case Route::deny:
        if (!post) return method_not_allowed("POST");
        break;
    }

    if (request.authorization.empty()) return unauthorized("missing bearer token");
    const auto approver = approver_for(request.authorization);
    if (!approver) return unauthorized("unknown bearer token");

    if (t.route != Route::list && t.has_query) return error_response(400, "this route takes no query parameters");
    if (t.route == Route::reload) {
      std::string message;
      const bool ok = hooks_.reload(message);
      spdlog::info("admin API: reload by {}: {}", *approver, ok ? "done" : "refused");
      return json_response(ok ? 200 : 422, json{{"reloaded", ok}, {"message", message}}.dump(-1, ' ', false,
                                                                                        json::error_handler_t::replace));
    }
    const std::string id(t.id);
    if (t.route != Route::list && !valid_request_id(id)) return error_response(404, "no such request");
    if (service_ == nullptr) return error_response(503, "approvals are not configured");

    std::string error;
    if (t.route == Route::list) {
      ListQuery q;
      if (!parse_list_query(t.query, q, error)) return error_response(400, error);
      const auto requests = service_->list(q.status, q.limit, error);
      if (!error.empty()) return store_failed(error);
      std::string body = R"({"requests":[)";
      for (std::size_t i = 0; i < requests.size(); ++i) {
        if (i > 0) body += ',';
        body += to_json_text(requests[i]);
      }
      body += "]}";
      return json_response(200, std::move(body));
    }
    if (t.route == Route::show) {
      const auto r = service_->get(id, error);
      if (!r) return error.empty() ? error_response(404, "no such request") : store_failed(error);
      return json_response(200, to_json_text(*r));
    }

    Vote vote;
    vote.approver = *approver;
    vote.approve = t.route == Route::approve;
    vote.at_ms = now_ms();
    if (!parse_vote_body(request.body, vote.reason, error)) return error_response(400, error);
    if (!vote.approve && vote.reason.empty()) return error_response(400, "deny needs a non-empty 'reason'");

    const VoteOutcome outcome = service_->vote(id, vote);
    if (outcome.store_error) return store_failed(outcome.error);
    if (!outcome.found) return error_response(404, "no such request");
    switch (outcome.result) {
      case DecideResult::recorded:
      case DecideResult::decided:
      case DecideResult::already_voted:
        return json_response(200, to_json_text(outcome.request));
      case DecideResult::self_approval:
        return error_response(403, "approvers cannot approve a request made under their own database user");
      case DecideResult::conflict:
        return json_response(409, json{{"error", std::string("request is no longer pending")},
                                       {"status", to_string(outcome.request.status)}}
                                      .dump());
    }
    return error_response(500, "internal error");
  } catch (const std::exception& e) {
    // Nothing here should throw; if something does (a JSON dump of bad UTF-8, say), the
    // caller still gets an answer and the listener keeps serving.
    spdlog::error("admin API: {} {}: {}", request.method, request.target.substr(0, 200), e.what());
    return error_response(500, "internal error");
  }
}

}  // namespace schemagate::proxy::approvals
