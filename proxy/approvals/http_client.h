#pragma once
// A small synchronous HTTP(S) client (Boost.Beast + OpenSSL) for the webhook worker and the
// `schemagate requests` CLI: one request per connection, a deadline for the whole exchange,
// certificate and host name verification on https (system store or a CA file), no proxies.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace schemagate::proxy::approvals {

struct HttpCall {
  std::string method = "GET";
  std::string url;  // http://host[:port]/path?query or https://…
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type = "application/json";
  std::uint32_t timeout_ms = 5000;
  std::string ca_file;  // https: verify against this bundle; empty = system store
  std::uint32_t max_response_bytes = 1u << 20;
};

struct HttpResult {
  bool ok = false;    // a response arrived (any status)
  int status = 0;
  std::string body;
  std::string error;  // why there is no response (DNS, connect, TLS verify, timeout, ...)
};

HttpResult http_call(const HttpCall& call);

}  // namespace schemagate::proxy::approvals
