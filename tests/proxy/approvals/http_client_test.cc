// The outgoing HTTP(S) client and the webhook notifier, against the real receiver that the
// docs point at (tests/tools/webhook_receiver.py): its verdict on our signatures is the test
// that the documented verification steps and the sender agree.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "proxy/approvals/http_client.h"
#include "proxy/approvals/webhook.h"
#include "tests/support/certs.h"
#include "tests/support/process.h"

namespace schemagate::proxy::approvals {
namespace {

using testing::TempDir;
using Json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kSecret = "receiver-test-secret-0123456789";

/// tests/tools/webhook_receiver.py as a child process on an ephemeral port.
class Receiver {
 public:
  explicit Receiver(const std::vector<std::string>& extra) : dir_("sg-webhook") {
    testing::write_file(dir_.file("secret"), std::string(kSecret) + "\n");
    std::vector<std::string> argv{"python3", std::string(SG_SOURCE_DIR) + "/tests/tools/webhook_receiver.py",
                                  "--port", "0", "--secret-file", dir_.file("secret"), "--log", log_path()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    const std::string err_path = dir_.file("stderr");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int devnull = ::open("/dev/null", O_RDONLY);
      const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(devnull, 0);
      ::dup2(fds[1], 1);
      ::dup2(err, 2);
      ::execvp(args[0], args.data());
      _exit(127);
    }
    ::close(fds[1]);
    // "listening on PORT": generous, a loaded machine can take seconds to start python.
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (out.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fds[0], POLLIN, 0};
      if (::poll(&p, 1, 1000) <= 0) continue;
      char buf[256];
      const ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    if (out.rfind("listening on ", 0) != 0)
      throw std::runtime_error("webhook_receiver.py did not start: " + out + testing::read_file(err_path));
    port_ = std::stoi(out.substr(13));
  }
  ~Receiver() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  int port() const { return port_; }
  std::string url(const std::string& path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::string log_path() const { return dir_.file("deliveries.jsonl"); }
  /// The requests it logged so far, one JSON object each.
  std::vector<Json> deliveries() const {
    std::vector<Json> out;
    std::istringstream in(testing::read_file(log_path()));
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(Json::parse(line));
    return out;
  }

 private:
  TempDir dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

bool wait_until(const std::function<bool()>& condition, std::chrono::seconds limit = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return condition();
}

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

HttpCall signed_post(const std::string& url, const std::string& body, std::int64_t t) {
  HttpCall call;
  call.method = "POST";
  call.url = url;
  call.body = body;
  call.headers = {{kSignatureHeader, sign_payload(kSecret, t, body)}, {"X-Test", "round-trip"}};
  return call;
}

// ---- http_call

TEST(HttpClient, RejectsUrlsItCannotCall) {
  const std::vector<std::string> urls{"ftp://example.com/", "example.com/hook", "http://", "http:///path",
                                      "http://host:0/", "http://host:99999/", "http://host:x/", "http://user@host/",
                                      "http://ho st/", "https://[::1/"};
  for (const auto& url : urls) {
    HttpCall call;
    call.url = url;
    const auto r = http_call(call);
    EXPECT_FALSE(r.ok) << url;
    EXPECT_NE(r.error.find("URL"), std::string::npos) << url << ": " << r.error;
  }
}

TEST(HttpClient, PostRoundTripReachesTheReceiverSigned) {
  Receiver receiver({});
  const std::string body = R"({"type":"approval_request.created","n":1})";
  const auto r = http_call(signed_post(receiver.url("/hook?x=1"), body, now_s()));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Json::parse(r.body), Json({{"received", true}}));
  const auto logged = receiver.deliveries();
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_TRUE(logged[0]["valid_signature"].get<bool>()) << logged[0].dump();
  EXPECT_EQ(logged[0]["path"], "/hook?x=1");
  EXPECT_EQ(logged[0]["body"], Json::parse(body));
  EXPECT_EQ(logged[0]["headers"]["X-Test"], "round-trip");
  EXPECT_EQ(logged[0]["headers"]["Content-Type"], "application/json");
  EXPECT_EQ(logged[0]["headers"]["Host"], "127.0.0.1:" + std::to_string(receiver.port()));
}

TEST(HttpClient, ReportsNon2xxStatusesAsResponses) {
  Receiver receiver({});
  const auto r = http_call(signed_post(receiver.url(), "{}", now_s() - 3600));  // replayed: 401
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body.find("tolerance"), std::string::npos) << r.body;
  const auto logged = receiver.deliveries();
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_FALSE(logged[0]["valid_signature"].get<bool>());

  HttpCall get;
  get.url = receiver.url("/");
  const auto g = http_call(get);
  ASSERT_TRUE(g.ok) << g.error;
  EXPECT_EQ(g.status, 200);
}

TEST(HttpClient, TimesOutOnASlowReceiver) {
  Receiver receiver({"--delay-s", "60"});
  auto call = signed_post(receiver.url(), "{}", now_s());
  call.timeout_ms = 300;
  const auto start = std::chrono::steady_clock::now();
  const auto r = http_call(call);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("timed out"), std::string::npos) << r.error;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);  // bounded by the timeout, not by the receiver
}

TEST(HttpClient, ReportsConnectionRefused) {
  HttpCall call;
  call.url = "http://127.0.0.1:" + std::to_string(testing::free_port()) + "/";
  const auto r = http_call(call);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("refused"), std::string::npos) << r.error;
}

TEST(HttpClient, LimitsTheResponseBody) {
  Receiver receiver({"--raw-body", std::string(5000, 'x')});
  auto call = signed_post(receiver.url(), "{}", now_s());
  call.max_response_bytes = 1000;
  const auto r = http_call(call);
  EXPECT_FALSE(r.ok) << r.status << " size " << r.body.size() << " " << r.body.substr(0, 100);
  EXPECT_NE(r.error.find("over 1000 bytes"), std::string::npos) << r.error;
  call.max_response_bytes = 10000;
  const auto big = http_call(call);
  ASSERT_TRUE(big.ok) << big.error;
  EXPECT_EQ(big.body.size(), 5000u);
}

class HttpsClient : public ::testing::Test {
 protected:
  void SetUp() override { certs_ = testing::make_test_certs(dir_.path()); }
  TempDir dir_{"sg-webhook-certs"};
  testing::TestCerts certs_;
};

TEST_F(HttpsClient, VerifiesTheServerAgainstTheCaFile) {
  Receiver receiver({"--cert", certs_.server.cert_file, "--key", certs_.server.key_file});
  const std::string port = std::to_string(receiver.port());
  for (const std::string& host : std::vector<std::string>{"localhost", "127.0.0.1"}) {  // a DNS SAN and an IP SAN
    auto call = signed_post("https://" + host + ":" + port + "/hook", "{}", now_s());
    call.ca_file = certs_.ca_file;
    const auto r = http_call(call);
    ASSERT_TRUE(r.ok) << host << ": " << r.error;
    EXPECT_EQ(r.status, 200);
  }
  EXPECT_EQ(receiver.deliveries().size(), 2u);
}

TEST_F(HttpsClient, RefusesAnUntrustedCertificate) {
  Receiver receiver({"--cert", certs_.server.cert_file, "--key", certs_.server.key_file});
  TempDir other_dir("sg-webhook-other-ca");
  const auto other = testing::make_test_certs(other_dir.path());
  auto call = signed_post("https://localhost:" + std::to_string(receiver.port()) + "/hook", "{}", now_s());
  call.ca_file = other.ca_file;  // a CA that did not sign the server's certificate
  auto r = http_call(call);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("certificate verification failed"), std::string::npos) << r.error;
  call.ca_file.clear();  // the system store does not know our test CA either
  r = http_call(call);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("certificate verification failed"), std::string::npos) << r.error;
  EXPECT_TRUE(receiver.deliveries().empty());
}

TEST_F(HttpsClient, RefusesACertificateForAnotherName) {
  Receiver receiver({"--cert", certs_.wrong_name.cert_file, "--key", certs_.wrong_name.key_file});
  auto call = signed_post("https://localhost:" + std::to_string(receiver.port()) + "/hook", "{}", now_s());
  call.ca_file = certs_.ca_file;  // trusted CA, but the certificate names wrong.example.com
  const auto r = http_call(call);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("certificate verification failed"), std::string::npos) << r.error;
  EXPECT_TRUE(receiver.deliveries().empty());
}

// ---- WebhookNotifier

config::Webhook hook_to(const std::string& url, config::WebhookMode mode = config::WebhookMode::notify) {
  config::Webhook h;
  h.url = url;
  h.mode = mode;
  h.secret = kSecret;
  h.timeout_ms = 10000;
  h.retries = 0;
  return h;
}

/// Decisions the notifier reported, collected from its worker thread.
struct Decisions {
  std::mutex mutex;
  std::vector<std::pair<std::string, WebhookDecision>> seen;
  WebhookNotifier::DecisionHandler handler() {
    return [this](const std::string& id, const WebhookDecision& d) {
      std::lock_guard lock(mutex);
      seen.emplace_back(id, d);
    };
  }
  std::size_t size() {
    std::lock_guard lock(mutex);
    return seen.size();
  }
  std::pair<std::string, WebhookDecision> at(std::size_t i) {
    std::lock_guard lock(mutex);
    return seen.at(i);
  }
};

TEST(WebhookNotifier, DeliversWithASignatureTheReceiverAccepts) {
  Receiver receiver({});
  Decisions decisions;
  const std::string payload = R"({"type":"approval_request.created","request":{"id":"0123456789abcdef"},"text":"hi"})";
  {
    WebhookNotifier notifier({hook_to(receiver.url())}, 100, decisions.handler());
    ASSERT_TRUE(notifier.post("0123456789abcdef", payload));
    ASSERT_TRUE(wait_until([&] { return notifier.stats().delivered.load() == 1; }));
    EXPECT_EQ(notifier.stats().failed.load(), 0u);
  }
  const auto logged = receiver.deliveries();
  ASSERT_EQ(logged.size(), 1u);
  const auto& d = logged[0];
  EXPECT_TRUE(d["valid_signature"].get<bool>()) << d.dump();  // the documented receiver agrees
  EXPECT_EQ(d["body"], Json::parse(payload));
  EXPECT_EQ(d["headers"]["Schemagate-Request-Id"], "0123456789abcdef");
  EXPECT_EQ(d["headers"]["Content-Type"], "application/json");
  EXPECT_EQ(d["headers"]["User-Agent"].get<std::string>().rfind("schemagate/", 0), 0u);
  // The receiver's header is what verify_signature accepts too.
  EXPECT_TRUE(verify_signature(kSecret, d["headers"][kSignatureHeader].get<std::string>(), payload, now_s()));
  EXPECT_EQ(decisions.size(), 0u);  // notify hooks do not decide
}

TEST(WebhookNotifier, RetriesThenCountsTheFailure) {
  Receiver receiver({"--status", "500"});
  auto hook = hook_to(receiver.url());
  hook.retries = 2;
  WebhookNotifier notifier({hook}, 100, nullptr);
  ASSERT_TRUE(notifier.post("0123456789abcdef", "{}"));
  ASSERT_TRUE(wait_until([&] { return notifier.stats().failed.load() == 1; }));
  EXPECT_EQ(notifier.stats().retries.load(), 2u);
  EXPECT_EQ(notifier.stats().delivered.load(), 0u);
  const auto logged = receiver.deliveries();
  ASSERT_EQ(logged.size(), 3u);  // the first attempt and two retries, each freshly signed
  for (const auto& d : logged) EXPECT_TRUE(d["valid_signature"].get<bool>()) << d.dump();
}

TEST(WebhookNotifier, DecideHookApproves) {
  Receiver receiver({"--mode", "decide", "--decision", "approve", "--reason", "looks fine", "--approver", "bot"});
  Decisions decisions;
  WebhookNotifier notifier({hook_to(receiver.url(), config::WebhookMode::decide)}, 100, decisions.handler());
  ASSERT_TRUE(notifier.post("00000000000000a1", "{}"));
  ASSERT_TRUE(wait_until([&] { return decisions.size() == 1; }));
  const auto [id, d] = decisions.at(0);
  EXPECT_EQ(id, "00000000000000a1");
  EXPECT_EQ(d.kind, WebhookDecision::Kind::approve);
  EXPECT_EQ(d.approver, "bot");
  EXPECT_EQ(d.reason, "looks fine");
  EXPECT_EQ(d.error, "");
}

TEST(WebhookNotifier, DecideHookDeniesAndNamesItselfWithoutAnApprover) {
  Receiver receiver({"--mode", "decide", "--decision", "deny", "--reason", "not during business hours"});
  Decisions decisions;
  WebhookNotifier notifier({hook_to(receiver.url(), config::WebhookMode::decide)}, 100, decisions.handler());
  ASSERT_TRUE(notifier.post("00000000000000a2", "{}"));
  ASSERT_TRUE(wait_until([&] { return decisions.size() == 1; }));
  const auto [id, d] = decisions.at(0);
  EXPECT_EQ(d.kind, WebhookDecision::Kind::deny);
  EXPECT_EQ(d.approver, "webhook:127.0.0.1");
  EXPECT_EQ(d.reason, "not during business hours");
}

TEST(WebhookNotifier, DecideFallbackPendingWhenTheReceiverIsDown) {
  Decisions decisions;
  auto hook = hook_to("http://127.0.0.1:" + std::to_string(testing::free_port()) + "/hook", config::WebhookMode::decide);
  hook.retries = 1;
  hook.fallback = config::WebhookFallback::pending;
  WebhookNotifier notifier({hook}, 100, decisions.handler());
  ASSERT_TRUE(notifier.post("00000000000000a3", "{}"));
  ASSERT_TRUE(wait_until([&] { return decisions.size() == 1; }));
  const auto [id, d] = decisions.at(0);
  EXPECT_EQ(d.kind, WebhookDecision::Kind::none);
  EXPECT_NE(d.error.find("refused"), std::string::npos) << d.error;
  EXPECT_EQ(notifier.stats().failed.load(), 1u);
  EXPECT_EQ(notifier.stats().retries.load(), 1u);
}

TEST(WebhookNotifier, DecideFallbackDenyWhenTheReceiverIsDown) {
  Decisions decisions;
  auto hook = hook_to("http://127.0.0.1:" + std::to_string(testing::free_port()) + "/hook", config::WebhookMode::decide);
  hook.fallback = config::WebhookFallback::deny;
  WebhookNotifier notifier({hook}, 100, decisions.handler());
  ASSERT_TRUE(notifier.post("00000000000000a4", "{}"));
  ASSERT_TRUE(wait_until([&] { return decisions.size() == 1; }));
  const auto [id, d] = decisions.at(0);
  EXPECT_EQ(d.kind, WebhookDecision::Kind::deny);
  EXPECT_EQ(d.approver, "webhook:127.0.0.1");
  EXPECT_EQ(d.reason.rfind("webhook unavailable: ", 0), 0u) << d.reason;
  EXPECT_FALSE(d.error.empty());
}

TEST(WebhookNotifier, DecideFallbackOnAnInvalidAnswer) {
  Receiver receiver({"--raw-body", R"({"decision":"maybe"})"});
  Decisions decisions;
  auto hook = hook_to(receiver.url(), config::WebhookMode::decide);
  hook.fallback = config::WebhookFallback::deny;
  WebhookNotifier notifier({hook}, 100, decisions.handler());
  ASSERT_TRUE(notifier.post("00000000000000a5", "{}"));
  ASSERT_TRUE(wait_until([&] { return decisions.size() == 1; }));
  const auto [id, d] = decisions.at(0);
  EXPECT_EQ(d.kind, WebhookDecision::Kind::deny);
  EXPECT_NE(d.error.find("decision"), std::string::npos) << d.error;
}

TEST(WebhookNotifier, DropsAndCountsWhenTheQueueIsFull) {
  // The worker is stuck in one delivery to a receiver that does not answer: the queue fills.
  Receiver receiver({"--delay-s", "60"});
  auto hook = hook_to(receiver.url());
  hook.timeout_ms = 3000;
  WebhookNotifier notifier({hook}, 1, nullptr);
  int accepted = 0;
  for (int i = 0; i < 10; ++i) accepted += notifier.post("00000000000000b" + std::to_string(i), "{}") ? 1 : 0;
  // At most one in flight and one queued.
  EXPECT_LE(accepted, 2);
  EXPECT_GE(notifier.stats().dropped.load(), 8u);
  EXPECT_EQ(notifier.stats().dropped.load(), static_cast<std::uint64_t>(10 - accepted));
}

TEST(WebhookNotifier, AFullQueueAppliesTheDecideFallbackAtOnce) {
  // A decide hook that is never asked must not leave the request waiting for an answer that
  // cannot come: with fallback deny, every dropped request is denied, naming the hook.
  Receiver receiver({"--delay-s", "60"});
  auto hook = hook_to(receiver.url(), config::WebhookMode::decide);
  hook.timeout_ms = 3000;
  hook.fallback = config::WebhookFallback::deny;
  Decisions decisions;
  WebhookNotifier notifier({hook}, 1, decisions.handler());
  int refused = 0;
  for (int i = 0; i < 6; ++i) refused += notifier.post("00000000000000c" + std::to_string(i), "{}") ? 0 : 1;
  ASSERT_GE(refused, 4);
  // The refused ones were decided synchronously, before post() returned.
  ASSERT_GE(decisions.size(), static_cast<std::size_t>(refused));
  const auto [id, d] = decisions.at(0);
  EXPECT_EQ(d.kind, WebhookDecision::Kind::deny);
  EXPECT_EQ(d.approver, "webhook:127.0.0.1");
  EXPECT_NE(d.reason.find("queue is full"), std::string::npos) << d.reason;
}

TEST(WebhookNotifier, ShutdownDoesNotWaitOutABackoff) {
  auto hook = hook_to("http://127.0.0.1:" + std::to_string(testing::free_port()) + "/hook");
  hook.retries = 20;
  auto notifier = std::make_unique<WebhookNotifier>(std::vector<config::Webhook>{hook}, 10, nullptr);
  ASSERT_TRUE(notifier->post("00000000000000c1", "{}"));
  // After the 6th failure the notifier sleeps 200 ms × 2^5 = 6.4 s (at least 4.8 s with jitter).
  ASSERT_TRUE(wait_until([&] { return notifier->stats().retries.load() >= 6; }, 60s));
  const auto start = std::chrono::steady_clock::now();
  notifier.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

}  // namespace
}  // namespace schemagate::proxy::approvals
