#include "proxy/approvals/http_client.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <optional>

#include "proxy/net.h"

#ifndef SG_VERSION
#define SG_VERSION "0.0.0"
#endif

namespace schemagate::proxy::approvals {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

struct Url {
  bool https = false;
  std::string host;  // without brackets for IPv6 literals
  std::string port;
  std::string target;  // path and query, at least "/"
  bool default_port = true;
};

bool lower_prefix(const std::string& s, const char* prefix, std::size_t n) {
  if (s.size() < n) return false;
  for (std::size_t i = 0; i < n; ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  return true;
}

/// Parses http(s)://host[:port][/path][?query]; the fragment is dropped (never sent).
std::optional<Url> parse_url(const std::string& text, std::string& error) {
  for (const char c : text)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      error = "invalid URL: it contains spaces or control characters";
      return std::nullopt;
    }
  Url u;
  std::size_t pos = 0;
  if (lower_prefix(text, "https://", 8)) {
    u.https = true;
    pos = 8;
  } else if (lower_prefix(text, "http://", 7)) {
    pos = 7;
  } else {
    error = "invalid URL '" + text + "': expected http://host[:port]/path or https://…";
    return std::nullopt;
  }
  const std::size_t end = text.find_first_of("/?#", pos);
  const std::string authority = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
  if (authority.find('@') != std::string::npos) {
    error = "invalid URL: user information (user@host) is not supported";
    return std::nullopt;
  }
  std::string port_text;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos) {
      error = "invalid URL: unterminated [IPv6] host";
      return std::nullopt;
    }
    u.host = authority.substr(1, close - 1);
    const std::string rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        error = "invalid URL: unexpected text after the [IPv6] host";
        return std::nullopt;
      }
      port_text = rest.substr(1);
      if (port_text.empty()) port_text = "-";
    }
  } else {
    const auto colon = authority.find(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) port_text = "-";
    }
  }
  if (u.host.empty()) {
    error = "invalid URL '" + text + "': no host";
    return std::nullopt;
  }
  if (!port_text.empty()) {
    const bool digits = port_text.size() <= 5 && std::all_of(port_text.begin(), port_text.end(),
                                                              [](char c) { return c >= '0' && c <= '9'; });
    const long n = digits ? std::stol(port_text) : 0;
    if (!digits || n < 1 || n > 65535) {
      error = "invalid URL '" + text + "': the port must be from 1 to 65535";
      return std::nullopt;
    }
    u.port = port_text;
    u.default_port = (u.https && n == 443) || (!u.https && n == 80);
  } else {
    u.port = u.https ? "443" : "80";
  }
  if (end == std::string::npos) {
    u.target = "/";
  } else {
    const auto hash = text.find('#', end);
    u.target = text.substr(end, hash == std::string::npos ? std::string::npos : hash - end);
    if (u.target.empty() || u.target.front() != '/') u.target.insert(0, "/");
  }
  return u;
}

bool is_ip_literal(const std::string& host) {
  error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

/// Drives one asynchronous step on `ioc` to completion. The tcp_stream's expiry (set by the
/// caller before every step) bounds it: on expiry the operation fails with beast::error::timeout.
void run_step(net::io_context& ioc) {
  ioc.run();
  ioc.restart();
}

std::string describe(const error_code& ec, const char* step) {
  if (ec == beast::error::timeout) return std::string(step) + ": timed out";
  std::string text = std::string(step) + ": " + ec.message();
  // OpenSSL's reason for a failed verification is far more useful than "certificate verify failed".
  return text;
}

class Exchange {
 public:
  Exchange(const HttpCall& call, const Url& url)
      : call_(call), url_(url), deadline_(Clock::now() + std::chrono::milliseconds(call.timeout_ms)) {}

  HttpResult run() {
    HttpResult result;
    http::request<http::string_body> req;
    if (!build_request(req, result.error)) return result;
    tcp::resolver::results_type endpoints;
    if (!resolve(endpoints, result.error)) return result;
    if (url_.https) {
      ssl::context ctx(ssl::context::tls_client);
      if (!setup_tls(ctx, result.error)) return result;
      beast::ssl_stream<beast::tcp_stream> stream(ioc_, ctx);
      if (!setup_peer_check(stream.native_handle(), result.error)) return result;
      if (!connect(beast::get_lowest_layer(stream), endpoints, result.error)) return result;
      error_code ec;
      beast::get_lowest_layer(stream).expires_at(deadline_);
      stream.async_handshake(ssl::stream_base::client, [&](error_code e) { ec = e; });
      run_step(ioc_);
      if (ec) {
        result.error = tls_error(stream.native_handle(), ec);
        return result;
      }
      exchange(stream, req, result);
      // One request per connection, the response is complete: the socket is simply closed
      // (no close_notify round trip that a peer might never answer).
    } else {
      beast::tcp_stream stream(ioc_);
      if (!connect(stream, endpoints, result.error)) return result;
      exchange(stream, req, result);
    }
    return result;
  }

 private:
  bool build_request(http::request<http::string_body>& req, std::string& error) const {
    const auto verb = http::string_to_verb(call_.method);
    if (verb == http::verb::unknown) {
      error = "unknown HTTP method '" + call_.method + "'";
      return false;
    }
    req.method(verb);
    req.target(url_.target);
    req.version(11);
    const bool v6 = url_.host.find(':') != std::string::npos;
    std::string host = v6 ? "[" + url_.host + "]" : url_.host;
    if (!url_.default_port) host += ":" + url_.port;
    req.set(http::field::host, host);
    req.set(http::field::user_agent, std::string("schemagate/") + SG_VERSION);
    req.set(http::field::connection, "close");
    for (const auto& [name, value] : call_.headers) {
      if (value.find_first_of("\r\n") != std::string::npos || name.find_first_of("\r\n:") != std::string::npos) {
        error = "invalid HTTP header '" + name + "'";
        return false;
      }
      req.set(name, value);
    }
    if (!call_.body.empty() || verb == http::verb::post || verb == http::verb::put) {
      if (req.find(http::field::content_type) == req.end() && !call_.content_type.empty())
        req.set(http::field::content_type, call_.content_type);
      req.body() = call_.body;
    }
    req.prepare_payload();
    return true;
  }

  std::chrono::milliseconds remaining() const {
    return std::max(std::chrono::milliseconds(1),
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now()));
  }

  bool resolve(tcp::resolver::results_type& out, std::string& error) {
    tcp::resolver resolver(ioc_);
    error_code ec = net::error::timed_out;
    bool done = false;
    resolver.async_resolve(url_.host, url_.port, [&](error_code e, tcp::resolver::results_type r) {
      done = true;
      ec = e;
      out = std::move(r);
    });
    ioc_.run_for(remaining());
    if (!done) {
      resolver.cancel();
      ioc_.run();  // the cancelled handler
    }
    ioc_.restart();
    if (!done) {
      error = "resolving " + url_.host + ": timed out";
      return false;
    }
    if (ec) {
      error = "resolving " + url_.host + ": " + ec.message();
      return false;
    }
    return true;
  }

  bool connect(beast::tcp_stream& stream, const tcp::resolver::results_type& endpoints, std::string& error) {
    error_code ec;
    stream.expires_at(deadline_);
    stream.async_connect(endpoints, [&](error_code e, const tcp::endpoint&) { ec = e; });
    run_step(ioc_);
    if (ec) {
      error = describe(ec, ("connecting to " + url_.host + ":" + url_.port).c_str());
      return false;
    }
    return true;
  }

  bool setup_tls(ssl::context& ctx, std::string& error) const {
    error_code ec;
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                        ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                    ec);
    if (call_.ca_file.empty()) {
      ctx.set_default_verify_paths(ec);
      if (ec) {
        error = "loading the system CA store: " + ec.message();
        return false;
      }
    } else {
      ctx.load_verify_file(call_.ca_file, ec);
      if (ec) {
        error = "loading CA file " + call_.ca_file + ": " + ec.message();
        return false;
      }
    }
    ctx.set_verify_mode(ssl::verify_peer, ec);
    return true;
  }

  /// SNI (for names, not IP literals, as RFC 6066 says) and the identity the certificate must
  /// carry: the DNS name or the IP address (an IP SAN) that the URL names.
  bool setup_peer_check(SSL* ssl, std::string& error) const {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (is_ip_literal(url_.host)) {
      if (X509_VERIFY_PARAM_set1_ip_asc(param, url_.host.c_str()) != 1) {
        error = "TLS: cannot verify the IP address " + url_.host;
        return false;
      }
      return true;
    }
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (X509_VERIFY_PARAM_set1_host(param, url_.host.c_str(), url_.host.size()) != 1 ||
        SSL_set_tlsext_host_name(ssl, url_.host.c_str()) != 1) {
      error = "TLS: cannot verify the host name " + url_.host;
      return false;
    }
    return true;
  }

  std::string tls_error(SSL* ssl, const error_code& ec) const {
    const long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK)
      return "TLS handshake with " + url_.host + ": certificate verification failed: " +
             X509_verify_cert_error_string(verify);
    return describe(ec, ("TLS handshake with " + url_.host).c_str());
  }

  template <class Stream>
  void exchange(Stream& stream, http::request<http::string_body>& req, HttpResult& result) {
    auto& lowest = beast::get_lowest_layer(stream);
    error_code ec;
    lowest.expires_at(deadline_);
    http::async_write(stream, req, [&](error_code e, std::size_t) { ec = e; });
    run_step(ioc_);
    if (ec) {
      result.error = describe(ec, "sending the request");
      return;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(call_.max_response_bytes);
    // The header first, so that a declared length over the limit is refused before any of the
    // body is read; the body limit then bounds chunked and close-delimited bodies as well.
    lowest.expires_at(deadline_);
    http::async_read_header(stream, buffer, parser, [&](error_code e, std::size_t) { ec = e; });
    run_step(ioc_);
    if (!ec && parser.content_length() && *parser.content_length() > call_.max_response_bytes) ec = http::error::body_limit;
    if (!ec && !parser.is_done()) {
      lowest.expires_at(deadline_);
      http::async_read(stream, buffer, parser, [&](error_code e, std::size_t) { ec = e; });
      run_step(ioc_);
    }
    if (!ec && parser.get().body().size() > call_.max_response_bytes) ec = http::error::body_limit;
    // A peer that ends a length-delimited response with a bare TCP close is not an error.
    if (ec == ssl::error::stream_truncated && parser.is_done()) ec = {};
    if (ec == http::error::body_limit) {
      result.error = "the response body is over " + std::to_string(call_.max_response_bytes) + " bytes";
      return;
    }
    if (ec) {
      result.error = describe(ec, "reading the response");
      return;
    }
    auto res = parser.release();
    result.ok = true;
    result.status = static_cast<int>(res.result_int());
    result.body = std::move(res.body());
    error_code ignored;
    lowest.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

  const HttpCall& call_;
  const Url& url_;
  const Clock::time_point deadline_;
  net::io_context ioc_{1};
};

}  // namespace

HttpResult http_call(const HttpCall& call) {
  HttpResult result;
  // No proxy is ever consulted (http_proxy / HTTPS_PROXY are deliberately ignored): approval
  // payloads go straight to the URL configured, verified end to end.
  try {
    const auto url = parse_url(call.url, result.error);
    if (!url) return result;
    Exchange exchange(call, *url);
    return exchange.run();
  } catch (const std::exception& e) {
    result = HttpResult{};
    result.error = std::string("HTTP request failed: ") + e.what();
  }
  return result;
}

}  // namespace schemagate::proxy::approvals
