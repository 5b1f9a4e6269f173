// AdminServer over real sockets: HTTP round trips with Beast as the client, the body limit,
// keep-alive, HTTPS with certificates made for the test, and stopping with a client connected.
#include "proxy/approvals/admin_server.h"

#include <openssl/ssl.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "proxy/approvals/request_store.h"
#include "proxy/approvals/service.h"
#include "tests/support/certs.h"
#include "tests/support/process.h"

namespace schemagate::proxy::approvals {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;
using json = nlohmann::json;
using namespace std::chrono_literals;

const std::string kAliceToken = "alice-secret-token-0123456789abcdef";
constexpr std::uint32_t kMaxBody = 2048;

/// A Beast client on its own io_context; every operation is bounded by a generous deadline so
/// that a server that never answers fails the test instead of hanging it.
template <class Stream>
class Client {
 public:
  template <class... Args>
  explicit Client(Args&&... args) : stream_(ioc_, std::forward<Args>(args)...) {}

  Stream& stream() { return stream_; }

  error_code connect(std::uint16_t port) {
    return run([&](auto done) {
      lowest().async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port),
                             [done](error_code ec) { done(ec); });
    });
  }
  error_code handshake() {
    return run([&](auto done) {
      stream_.async_handshake(ssl::stream_base::client, [done](error_code ec) { done(ec); });
    });
  }
  error_code send(http::request<http::string_body>& req) {
    return run([&](auto done) { http::async_write(stream_, req, [done](error_code ec, std::size_t) { done(ec); }); });
  }
  error_code send_raw(const std::string& bytes) {
    return run([&](auto done) {
      net::async_write(stream_, net::buffer(bytes), [done](error_code ec, std::size_t) { done(ec); });
    });
  }
  error_code receive(http::response<http::string_body>& res) {
    res = {};
    return run([&](auto done) {
      http::async_read(stream_, buffer_, res, [done](error_code ec, std::size_t) { done(ec); });
    });
  }
  /// Reads until the server closes: the error that ended it (eof when it closed cleanly).
  error_code read_to_end() {
    std::array<char, 4096> sink;
    for (;;) {
      const auto ec = run([&](auto done) {
        stream_.async_read_some(net::buffer(sink), [done](error_code e, std::size_t) { done(e); });
      });
      if (ec) return ec;
    }
  }

 private:
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }
  template <class Start>
  error_code run(Start start) {
    error_code result = net::error::would_block;
    lowest().expires_after(60s);
    start([&result](error_code ec) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  net::io_context ioc_;
  Stream stream_;
  beast::flat_buffer buffer_;
};
using PlainClient = Client<beast::tcp_stream>;
using TlsClient = Client<beast::ssl_stream<beast::tcp_stream>>;

http::request<http::string_body> make_request(http::verb method, const std::string& target,
                                              const std::string& body = "", bool with_token = true) {
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "127.0.0.1");
  if (with_token) req.set(http::field::authorization, "Bearer " + kAliceToken);
  if (method == http::verb::post) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  return req;
}

json body_of(const http::response<http::string_body>& res) {
  const json j = json::parse(res.body(), nullptr, false);
  EXPECT_TRUE(j.is_object()) << res.body();
  return j.is_object() ? j : json::object();
}

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    auto store = open_sqlite_request_store(":memory:", error);
    ASSERT_TRUE(store) << error;
    service_ = std::make_unique<ApprovalService>(config::Approvals{}, "http://127.0.0.1:0", std::move(store));
    pending_.statement = pending_.normalized = "DROP TABLE orders";
    pending_.statement_hash = "hash-orders";
    pending_.command_tag = "DROP TABLE";
    pending_.user = "app";
    pending_.database = "shop";
    pending_.rules_json = "[]";
    pending_.facts_json = pending_.evidence_json = "{}";
    ASSERT_TRUE(service_->submit(pending_, error)) << error;
    api_ = std::make_shared<AdminApi>(service_.get(), std::vector<config::AdminToken>{{"alice", kAliceToken}});
  }
  /// Binds and serves on 127.0.0.1, an ephemeral port; HTTPS when `tls` has a certificate.
  void start(config::ListenTls tls = {}) {
    config::Admin cfg;
    cfg.address = "127.0.0.1";
    cfg.port = 0;
    cfg.max_body_bytes = kMaxBody;
    cfg.tls = std::move(tls);
    cfg.tokens = {{"alice", kAliceToken}};
    server_ = std::make_unique<AdminServer>(cfg);
    std::string error;
    ASSERT_TRUE(server_->bind(error)) << error;
    ASSERT_NE(server_->port(), 0);
    server_->serve(api_);
  }
  RequestStatus stored_status() {
    std::string error;
    const auto r = service_->get(pending_.id, error);
    EXPECT_TRUE(r) << error;
    return r ? r->status : RequestStatus::failed;
  }
  std::string request_path() const { return "/v1/requests/" + pending_.id; }

  std::unique_ptr<ApprovalService> service_;
  std::shared_ptr<AdminApi> api_;
  ApprovalRequest pending_;
  std::unique_ptr<AdminServer> server_;  // last: stopped before the service goes
};

TEST_F(AdminServerTest, RoundTrip) {
  start();
  EXPECT_EQ(server_->base_url(), "http://127.0.0.1:" + std::to_string(server_->port()));
  PlainClient c;
  ASSERT_FALSE(c.connect(server_->port()));

  auto health = make_request(http::verb::get, "/healthz", "", false);
  http::response<http::string_body> res;
  ASSERT_FALSE(c.send(health));
  ASSERT_FALSE(c.receive(res));
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(body_of(res)["status"], "ok");

  auto anonymous = make_request(http::verb::get, request_path(), "", false);
  ASSERT_FALSE(c.send(anonymous));
  ASSERT_FALSE(c.receive(res));
  EXPECT_EQ(res.result_int(), 401);
  EXPECT_EQ(res[http::field::www_authenticate], "Bearer");

  auto show = make_request(http::verb::get, request_path());
  ASSERT_FALSE(c.send(show));
  ASSERT_FALSE(c.receive(res));
  EXPECT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(body_of(res)["id"], pending_.id);

  auto approve = make_request(http::verb::post, request_path() + "/approve", R"({"reason":"over the wire"})");
  ASSERT_FALSE(c.send(approve));
  ASSERT_FALSE(c.receive(res));
  EXPECT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(body_of(res)["status"], "approved");
  EXPECT_EQ(stored_status(), RequestStatus::approved);
}

TEST_F(AdminServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  PlainClient c;
  ASSERT_FALSE(c.connect(server_->port()));
  http::response<http::string_body> res;
  for (int i = 0; i < 3; ++i) {
    auto list = make_request(http::verb::get, "/v1/requests?status=pending");
    ASSERT_FALSE(c.send(list)) << "request " << i;
    ASSERT_FALSE(c.receive(res)) << "request " << i;
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_TRUE(res.keep_alive());
    ASSERT_EQ(body_of(res)["requests"].size(), 1u);
  }
  // Connection: close is honoured: the answer, then the server closes.
  auto last = make_request(http::verb::get, "/healthz", "", false);
  last.keep_alive(false);
  ASSERT_FALSE(c.send(last));
  ASSERT_FALSE(c.receive(res));
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_EQ(c.read_to_end(), net::error::eof);
}

TEST_F(AdminServerTest, BodyOverTheLimitIs413AndCloses) {
  start();
  PlainClient c;
  ASSERT_FALSE(c.connect(server_->port()));
  const std::string big = json{{"reason", std::string(kMaxBody, 'x')}}.dump();
  auto approve = make_request(http::verb::post, request_path() + "/approve", big);
  ASSERT_FALSE(c.send(approve));
  http::response<http::string_body> res;
  ASSERT_FALSE(c.receive(res));
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_TRUE(body_of(res).contains("error"));
  EXPECT_FALSE(res.keep_alive());
  EXPECT_EQ(c.read_to_end(), net::error::eof);
  EXPECT_EQ(stored_status(), RequestStatus::pending);
}

TEST_F(AdminServerTest, ChunkedBodyOverTheLimitIs413) {
  start();
  PlainClient c;
  ASSERT_FALSE(c.connect(server_->port()));
  // No Content-Length: the limit is found while reading the chunks.
  std::string raw = "POST " + request_path() + "/approve HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + kAliceToken +
                    "\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 8; ++i) raw += "200\r\n" + std::string(0x200, ' ') + "\r\n";
  raw += "0\r\n\r\n";
  ASSERT_FALSE(c.send_raw(raw));
  http::response<http::string_body> res;
  ASSERT_FALSE(c.receive(res));
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_EQ(stored_status(), RequestStatus::pending);
}

TEST_F(AdminServerTest, BodyAtTheLimitIsRead) {
  start();
  PlainClient c;
  ASSERT_FALSE(c.connect(server_->port()));
  std::string body = R"({"reason":"exactly at the limit"})";
  body += std::string(kMaxBody - body.size(), ' ');  // trailing whitespace is still valid JSON
  ASSERT_EQ(body.size(), kMaxBody);
  auto approve = make_request(http::verb::post, request_path() + "/approve", body);
  ASSERT_FALSE(c.send(approve));
  http::response<http::string_body> res;
  ASSERT_FALSE(c.receive(res));
  EXPECT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(stored_status(), RequestStatus::approved);
}

TEST_F(AdminServerTest, OversizedHeadersAndGarbageAreRefused) {
  start();
  {
    PlainClient c;
    ASSERT_FALSE(c.connect(server_->port()));
    auto req = make_request(http::verb::get, "/healthz", "", false);
    req.set("X-Padding", std::string(20 * 1024, 'p'));
    ASSERT_FALSE(c.send(req));
    http::response<http::string_body> res;
    ASSERT_FALSE(c.receive(res));
    EXPECT_EQ(res.result_int(), 431);
  }
  {
    PlainClient c;
    ASSERT_FALSE(c.connect(server_->port()));
    ASSERT_FALSE(c.send_raw("NOT HTTP AT ALL\r\n\r\n"));
    http::response<http::string_body> res;
    ASSERT_FALSE(c.receive(res));
    EXPECT_EQ(res.result_int(), 400);
  }
  // The listener is still serving.
  PlainClient c;
  ASSERT_FALSE(c.connect(server_->port()));
  auto health = make_request(http::verb::get, "/healthz", "", false);
  http::response<http::string_body> res;
  ASSERT_FALSE(c.send(health));
  ASSERT_FALSE(c.receive(res));
  EXPECT_EQ(res.result_int(), 200);
}

class AdminServerTlsTest : public AdminServerTest {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<schemagate::testing::TempDir>("sg-admin-tls");
    certs_ = schemagate::testing::make_test_certs(dir_->path());
  }
  static void TearDownTestSuite() { dir_.reset(); }
  void start_tls() {
    config::ListenTls tls;
    tls.cert_file = certs_.server.cert_file;
    tls.key_file = certs_.server.key_file;
    start(tls);
  }
  /// A client context that trusts only the test CA.
  static std::unique_ptr<ssl::context> client_context() {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    ctx->load_verify_file(certs_.ca_file);
    ctx->set_verify_mode(ssl::verify_peer);
    return ctx;
  }
  static inline std::unique_ptr<schemagate::testing::TempDir> dir_;
  static inline schemagate::testing::TestCerts certs_;
};

TEST_F(AdminServerTlsTest, HttpsRoundTripWithAVerifiedCertificate) {
  start_tls();
  EXPECT_EQ(server_->base_url(), "https://127.0.0.1:" + std::to_string(server_->port()));
  auto ctx = client_context();
  TlsClient c(*ctx);
  ASSERT_EQ(SSL_set1_host(c.stream().native_handle(), "localhost"), 1);
  ASSERT_FALSE(c.connect(server_->port()));
  ASSERT_FALSE(c.handshake());
  const int version = SSL_version(c.stream().native_handle());
  EXPECT_GE(version, TLS1_2_VERSION);
  auto approve = make_request(http::verb::post, request_path() + "/approve", R"({"reason":"via https"})");
  ASSERT_FALSE(c.send(approve));
  http::response<http::string_body> res;
  ASSERT_FALSE(c.receive(res));
  EXPECT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(stored_status(), RequestStatus::approved);
}

TEST_F(AdminServerTlsTest, PlainHttpToTheTlsPortFailsCleanly) {
  start_tls();
  {
    PlainClient c;
    ASSERT_FALSE(c.connect(server_->port()));
    auto health = make_request(http::verb::get, "/healthz", "", false);
    ASSERT_FALSE(c.send(health));
    http::response<http::string_body> res;
    const auto ec = c.receive(res);
    EXPECT_TRUE(ec) << "a plain HTTP answer from the TLS port: " << res.result_int();
    EXPECT_NE(ec, beast::error::timeout) << "the server closes, it does not leave the client hanging";
  }
  // ... and the listener goes on serving HTTPS.
  auto ctx = client_context();
  TlsClient c(*ctx);
  ASSERT_FALSE(c.connect(server_->port()));
  ASSERT_FALSE(c.handshake());
  auto health = make_request(http::verb::get, "/healthz", "", false);
  ASSERT_FALSE(c.send(health));
  http::response<http::string_body> res;
  ASSERT_FALSE(c.receive(res));
  EXPECT_EQ(res.result_int(), 200);
}

TEST_F(AdminServerTlsTest, BadCertificateFilesNameTheirKey) {
  config::Admin cfg;
  cfg.address = "127.0.0.1";
  cfg.port = 0;
  cfg.tls.cert_file = dir_->path() + "/missing.crt";
  cfg.tls.key_file = certs_.server.key_file;
  std::string error;
  EXPECT_FALSE(AdminServer(cfg).bind(error));
  EXPECT_NE(error.find("admin.tls.cert_file"), std::string::npos) << error;
  cfg.tls.cert_file = certs_.server.cert_file;
  cfg.tls.key_file = certs_.wrong_name.key_file;
  EXPECT_FALSE(AdminServer(cfg).bind(error));
  EXPECT_NE(error.find("admin.tls.key_file"), std::string::npos) << error;
}

TEST_F(AdminServerTest, BindFailuresNameTheirKey) {
  config::Admin cfg;
  cfg.address = "not-an-address";
  std::string error;
  EXPECT_FALSE(AdminServer(cfg).bind(error));
  EXPECT_NE(error.find("admin.address"), std::string::npos) << error;
  start();
  cfg.address = "127.0.0.1";
  cfg.port = server_->port();  // taken
  EXPECT_FALSE(AdminServer(cfg).bind(error));
  EXPECT_NE(error.find("admin"), std::string::npos) << error;
}

TEST_F(AdminServerTest, StopWithAClientConnectedReturnsPromptly) {
  start();
  PlainClient c;
  ASSERT_FALSE(c.connect(server_->port()));
  auto health = make_request(http::verb::get, "/healthz", "", false);
  http::response<http::string_body> res;
  ASSERT_FALSE(c.send(health));
  ASSERT_FALSE(c.receive(res));
  // Half a request: the server's connection is waiting for the rest (its deadline is 30 s).
  ASSERT_FALSE(c.send_raw("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
  const auto port = server_->port();
  auto stopped = std::async(std::launch::async, [this] { server_->stop(); });
  ASSERT_EQ(stopped.wait_for(20s), std::future_status::ready) << "stop() waited for the connected client";
  // The client's connection is closed, and nothing listens any more.
  const auto ec = c.read_to_end();
  EXPECT_TRUE(ec == net::error::eof || ec == net::error::connection_reset) << ec.message();
  PlainClient late;
  EXPECT_TRUE(late.connect(port));
  server_->stop();  // again: a no-op
}

TEST_F(AdminServerTest, LogsNameTheApproverNeverTheToken) {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256);
  auto logger = std::make_shared<spdlog::logger>("admin-test", sink);
  logger->set_level(spdlog::level::debug);
  const auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);
  start();
  {
    PlainClient c;
    ASSERT_FALSE(c.connect(server_->port()));
    auto show = make_request(http::verb::get, request_path());
    http::response<http::string_body> res;
    ASSERT_FALSE(c.send(show));
    ASSERT_FALSE(c.receive(res));
    EXPECT_EQ(res.result_int(), 200);
    auto wrong = make_request(http::verb::get, request_path(), "", false);
    wrong.set(http::field::authorization, "Bearer " + kAliceToken + "-not");
    ASSERT_FALSE(c.send(wrong));
    ASSERT_FALSE(c.receive(res));
    EXPECT_EQ(res.result_int(), 401);
  }
  server_->stop();
  spdlog::set_default_logger(previous);
  std::string all;
  for (const auto& line : sink->last_formatted()) all += line;
  EXPECT_NE(all.find(request_path()), std::string::npos) << all;
  EXPECT_NE(all.find("alice"), std::string::npos) << all;
  EXPECT_EQ(all.find(kAliceToken), std::string::npos) << all;
  EXPECT_EQ(all.find("Bearer"), std::string::npos) << all;
}

}  // namespace
}  // namespace schemagate::proxy::approvals
