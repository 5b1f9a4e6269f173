#pragma once
// The admin HTTP API, sans I/O: one parsed HTTP request in, one response out. The listener
// (admin_server.h) owns sockets and TLS; this decides routes, authentication and answers.
//
//   GET  /v1/requests[?status=pending|approved|...]   list (newest first)
//   GET  /v1/requests/{id}                            one request
//   POST /v1/requests/{id}/approve   {"reason": "…"}  vote to approve
//   POST /v1/requests/{id}/deny      {"reason": "…"}  deny (reason required)
//
//   GET  /healthz          the process is alive (no token)
//   GET  /readyz           can reach the database and the stores, not draining (no token): 200 | 503
//   GET  /metrics          Prometheus text format (no token: it holds counts, never statements)
//   POST /v1/reload        reload config and policy; 200 {"reloaded":true,...} | 422 refused
//
// Authorization (requests and reload): Bearer <token>, mapped to an approver identity (admin.tokens), compared in
// constant time. 400 bad JSON / unknown fields / bad query, 401 missing or unknown token,
// 403 not allowed (own request with require_distinct_approver), 404 unknown id or route,
// 405 wrong method, 409 no longer pending, 413 body over admin.max_body_bytes (the listener),
// 503 the store failed. Every answer is a JSON object; errors are {"error": "…"}.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/model.h"
#include "proxy/approvals/service.h"

namespace schemagate::proxy::approvals {

struct HttpRequest {
  std::string method;         // "GET", "POST", ...
  std::string target;         // path and query, as sent: "/v1/requests?status=pending"
  std::string authorization;  // the Authorization header's value, "" if absent
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string body;  // JSON
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (WWW-Authenticate on 401)
};

/// What the operations routes read from the running proxy; an empty hook answers 404.
struct AdminHooks {
  std::function<std::string()> metrics;                  // the exposition text
  std::function<bool(std::string& detail_json)> ready;   // a JSON object saying what was checked
  std::function<bool(std::string& message)> reload;      // false: refused, the old config stays
};

class AdminApi {
 public:
  /// `service` may be null (approvals not configured): the request routes then answer 503.
  AdminApi(ApprovalService* service, std::vector<config::AdminToken> tokens, AdminHooks hooks = {});

  HttpResponse handle(const HttpRequest& request) const;
  /// The approver a bearer token belongs to, or nullopt; constant time in the token's bytes.
  std::optional<std::string> approver_for(const std::string& authorization) const;

 private:
  ApprovalService* service_;
  std::vector<config::AdminToken> tokens_;
  AdminHooks hooks_;
};

}  // namespace schemagate::proxy::approvals
