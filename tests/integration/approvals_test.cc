// Just-in-time approval of held statements, end to end: real libpq clients through the real
// proxy binary, a real PostgreSQL 15, the admin API over HTTP, the `schemagate requests` CLI,
// and a real webhook receiver (tests/tools/webhook_receiver.py). The built-in policy holds
// DROP TABLE; every test proves the table survives while held and is gone only once approved.
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <future>
#include <sstream>

#include "proxy/approvals/http_client.h"
#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

using json = nlohmann::json;
namespace approvals = proxy::approvals;

const std::string kAliceToken = "alice-token-0123456789abcdef";
const std::string kBobToken = "bob-token-0123456789abcdef00";
const std::string kPostgresToken = "postgres-token-0123456789abc";  // the requesting db user's own
const std::string kWebhookSecret = "whsec-0123456789abcdef0123";

void collect_notice(void* arg, const PGresult* res) {
  auto* out = static_cast<std::vector<std::string>*>(arg);
  out->emplace_back(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
}

/// A statement sent on its own connection and thread, so that the test can act while it is held.
class HeldStatement {
 public:
  HeldStatement(const std::string& conninfo, const std::string& sql, bool extended = false,
                const std::string& before = "")
      : conn_(pq_connect_ok(conninfo)) {
    PQsetNoticeReceiver(conn_.get(), collect_notice, &notices_);
    if (!before.empty()) {
      EXPECT_TRUE(conn_.exec(before).ok) << before;
    }
    result_ = std::async(std::launch::async, [this, sql, extended] {
      const int sent = extended ? PQsendQueryParams(conn_.get(), sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0)
                                : PQsendQuery(conn_.get(), sql.c_str());
      if (!sent) return QueryResult{};
      return drain_results(conn_.get());
    });
  }
  ~HeldStatement() {
    if (result_.valid()) {
      if (result_.wait_for(60s) != std::future_status::ready) ADD_FAILURE() << "the held statement never ended";
      else result_.get();
    }
  }
  /// Waits for the statement's result (at most `timeout`).
  QueryResult result(std::chrono::seconds timeout = 60s) {
    if (result_.wait_for(timeout) != std::future_status::ready) {
      ADD_FAILURE() << "the statement did not finish within " << timeout.count() << " s";
      return QueryResult{};
    }
    return result_.get();
  }
  bool finished() const { return result_.wait_for(0s) == std::future_status::ready; }
  /// Only after result(): notices are written by the thread that reads results.
  const std::vector<std::string>& notices() const { return notices_; }
  PGconn* conn() const { return conn_.get(); }
  /// Only after result(): runs the next statement on the same connection.
  QueryResult exec(const std::string& sql) { return conn_.exec(sql); }
  void close() {
    // PQfinish from the test thread while the reader waits would race: shut the socket down,
    // the reader sees the connection end, then the connection is freed.
    ::shutdown(PQsocket(conn_.get()), SHUT_RDWR);
    result(60s);
    conn_.reset();
  }

 private:
  PgConn conn_;
  std::vector<std::string> notices_;
  std::future<QueryResult> result_;
};

/// tests/tools/webhook_receiver.py on a free port: the documented receiver, verifying signatures.
class WebhookReceiver {
 public:
  explicit WebhookReceiver(std::vector<std::string> extra = {}) : dir_("sg-webhook") {
    port_ = free_port();
    write_file(dir_.file("secret"), kWebhookSecret + "\n");
    std::vector<std::string> argv{"python3", std::string(SG_SOURCE_DIR) + "/tests/tools/webhook_receiver.py",
                                  "--port", std::to_string(port_), "--secret-file", dir_.file("secret"),
                                  "--log", log_path()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      const std::string out = dir_.file("receiver.out");
      FILE* f = std::fopen(out.c_str(), "w");
      if (f) {
        ::dup2(fileno(f), 1);
        ::dup2(fileno(f), 2);
      }
      ::execvp("python3", args.data());
      _exit(127);
    }
    EXPECT_TRUE(eventually([&] { return port_accepts(port_); }, 60s)) << read_file(dir_.file("receiver.out"));
  }
  ~WebhookReceiver() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  std::string log_path() const { return dir_.file("deliveries.jsonl"); }
  /// The deliveries logged so far, one JSON object each.
  std::vector<json> deliveries() const {
    std::vector<json> out;
    std::ifstream in(log_path());
    std::string line;
    while (std::getline(in, line)) {
      auto j = json::parse(line, nullptr, false);
      if (!j.is_discarded()) out.push_back(std::move(j));
    }
    return out;
  }

 private:
  TempDir dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

std::string webhook_yaml(const std::string& url, const std::string& mode, const std::string& fallback = "pending") {
  return "  webhooks:\n    - {url: \"" + url + "\", mode: " + mode + ", secret: " + kWebhookSecret +
         ", timeout_ms: 2000, retries: 1, fallback: " + fallback + "}\n";
}

class Approvals : public ProxiedPg {
 protected:
  void SetUp() override {
    ASSERT_NE(pg_, nullptr);
    auto c = direct();
    ASSERT_TRUE(c.exec("DROP TABLE IF EXISTS victim; CREATE TABLE victim (id int); INSERT INTO victim VALUES (1)").ok);
    proxy_ = start_proxy("");
  }

  /// The built-in policy in enforce mode, an admin listener with three approvers, and `extra` YAML.
  std::unique_ptr<ProxyProcess> start_proxy(const std::string& approvals_yaml, const std::string& store = "",
                                            const std::string& policy_yaml = "") {
    admin_port_ = free_port();
    std::string yaml = "admin:\n  address: 127.0.0.1\n  port: " + std::to_string(admin_port_) +
                       "\n  tokens:\n"
                       "    - {approver: alice, token: " + kAliceToken + "}\n"
                       "    - {approver: bob, token: " + kBobToken + "}\n"
                       "    - {approver: postgres, token: " + kPostgresToken + "}\n"
                       "approvals:\n  reminder_ms: 1000\n" + approvals_yaml + policy_yaml;
    ProxyOptions o;
    o.upstream_port = pg_->port();
    o.policy_mode = "enforce";
    o.config_yaml = yaml;
    if (!store.empty()) o.extra_args = {"--approvals-store", store};
    auto p = ProxyProcess::start(o);
    EXPECT_TRUE(eventually([&] { return port_accepts(admin_port_); }, 60s)) << "admin listener did not open";
    return p;
  }

  std::string admin_url() const { return "http://127.0.0.1:" + std::to_string(admin_port_); }

  approvals::HttpResult api(const std::string& method, const std::string& path, const std::string& token,
                            const std::string& body = "") const {
    approvals::HttpCall call;
    call.method = method;
    call.url = admin_url() + path;
    call.body = body;
    call.timeout_ms = 30000;
    if (!token.empty()) call.headers.emplace_back("Authorization", "Bearer " + token);
    return approvals::http_call(call);
  }

  /// The id of the one pending request, once there is one.
  std::string wait_for_pending() const {
    std::string id;
    const bool found = eventually(
        [&] {
          const auto r = api("GET", "/v1/requests?status=pending", kAliceToken);
          if (!r.ok || r.status != 200) return false;
          const auto j = json::parse(r.body, nullptr, false);
          if (j.is_discarded() || !j.contains("requests") || j["requests"].empty()) return false;
          id = j["requests"][0]["id"].get<std::string>();
          return true;
        },
        60s);
    EXPECT_TRUE(found) << "no pending approval request appeared";
    return id;
  }

  json request(const std::string& id) const {
    const auto r = api("GET", "/v1/requests/" + id, kAliceToken);
    EXPECT_EQ(r.status, 200) << r.body << r.error;
    const auto j = json::parse(r.body, nullptr, false);
    return j.is_discarded() ? json::object() : j;
  }

  static bool victim_exists() {
    return direct().scalar("SELECT count(*) FROM pg_class WHERE relname = 'victim'") == "1";
  }

  int admin_port_ = 0;
};

TEST_F(Approvals, HeldUntilApprovedThenTheStatementRuns) {
  HeldStatement drop(proxy_->conninfo(), "DROP TABLE victim");
  const std::string id = wait_for_pending();
  ASSERT_FALSE(id.empty());
  std::this_thread::sleep_for(1500ms);  // long enough for a reminder, and to prove it really waits
  EXPECT_FALSE(drop.finished());
  EXPECT_TRUE(victim_exists()) << "the table was dropped before anyone approved";
  const json pending = request(id);
  EXPECT_EQ(pending["command_tag"], "DROP TABLE");
  EXPECT_EQ(pending["user"], "postgres");
  EXPECT_EQ(pending["rule_id"], "drop_table");
  EXPECT_TRUE(pending["evidence"].contains("tables")) << pending.dump();

  const auto approved = api("POST", "/v1/requests/" + id + "/approve", kAliceToken, R"({"reason":"cleanup ticket 42"})");
  ASSERT_EQ(approved.status, 200) << approved.body;
  const auto r = drop.result();
  EXPECT_TRUE(r.ok) << r.sqlstate << " " << r.message;
  EXPECT_EQ(r.command_status, "DROP TABLE");
  EXPECT_FALSE(victim_exists());
  bool announced = false, reminded = false, ran = false;
  for (const auto& n : drop.notices()) {
    announced |= n.find("held for approval: request " + id) != std::string::npos &&
                 n.find("rule drop_table") != std::string::npos && n.find(admin_url()) != std::string::npos;
    reminded |= n.find("still waiting for approval of request " + id) != std::string::npos;
    ran |= n.find("approved by alice (cleanup ticket 42)") != std::string::npos;
  }
  EXPECT_TRUE(announced && reminded && ran) << ::testing::PrintToString(drop.notices());
  EXPECT_TRUE(eventually([&] { return request(id)["status"] == "executed"; })) << request(id).dump();
}

TEST_F(Approvals, DeniedGetsSG002WithApproverAndReason) {
  HeldStatement drop(proxy_->conninfo(), "DROP TABLE victim");
  const std::string id = wait_for_pending();
  const auto denied = api("POST", "/v1/requests/" + id + "/deny", kBobToken, R"({"reason":"not during business hours"})");
  ASSERT_EQ(denied.status, 200) << denied.body;
  const auto r = drop.result();
  EXPECT_EQ(r.sqlstate, "SG002") << r.message;
  EXPECT_NE(r.message.find("denied by bob"), std::string::npos) << r.message;
  EXPECT_TRUE(victim_exists());
  EXPECT_EQ(request(id)["status"], "denied");
}

TEST_F(Approvals, TimeoutKeepsTheRequestAndAnApprovedResendRunsOnce) {
  proxy_ = start_proxy("  wait_ms: 1500\n");
  auto c = via_proxy();
  const auto first = c.exec("DROP TABLE victim");
  EXPECT_EQ(first.sqlstate, "SG003") << first.message;
  EXPECT_TRUE(victim_exists());
  const std::string id = wait_for_pending();
  ASSERT_EQ(api("POST", "/v1/requests/" + id + "/approve", kAliceToken, "{}").status, 200);
  // The same statement (same user and database; spelled differently, as an ORM or a retrying
  // tool may: case, whitespace, a comment), sent again: runs at once.
  const auto again = c.exec("drop   table\n  VICTIM /* retried */");
  EXPECT_TRUE(again.ok) << again.sqlstate << " " << again.message;
  EXPECT_FALSE(victim_exists());
  // Single use: the next copy is held again (and times out again).
  ASSERT_TRUE(direct().exec("CREATE TABLE victim (id int)").ok);
  const auto third = c.exec("DROP TABLE victim");
  EXPECT_EQ(third.sqlstate, "SG003") << third.message;
  EXPECT_TRUE(victim_exists());
  EXPECT_EQ(request(id)["status"], "executed");
}

TEST_F(Approvals, CancelWithdrawsTheRequest) {
  HeldStatement drop(proxy_->conninfo(), "DROP TABLE victim");
  const std::string id = wait_for_pending();
  PGcancel* cancel = PQgetCancel(drop.conn());
  ASSERT_NE(cancel, nullptr);
  char err[256] = {};
  EXPECT_EQ(PQcancel(cancel, err, sizeof err), 1) << err;
  PQfreeCancel(cancel);
  const auto r = drop.result();
  EXPECT_EQ(r.sqlstate, "57014") << r.message;
  EXPECT_TRUE(victim_exists());
  EXPECT_EQ(request(id)["status"], "withdrawn");
  // A withdrawn request cannot be approved any more.
  EXPECT_EQ(api("POST", "/v1/requests/" + id + "/approve", kAliceToken, "{}").status, 409);
  // The backend ran nothing while the statement was held: the proxy handled the cancel itself
  // rather than signal an idle backend (where a late signal could hit the next statement).
  const auto metrics = api("GET", "/metrics", "");
  ASSERT_EQ(metrics.status, 200) << metrics.error;
  EXPECT_NE(metrics.body.find("schemagate_cancel_requests_total{handled=\"proxy\"} 1\n"), std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("schemagate_cancel_requests_total{handled=\"server\"} 0\n"), std::string::npos)
      << metrics.body;
  // The connection is healthy, and a cancel of a statement running on the server still reaches it.
  const auto after = drop.exec("SELECT 1");
  EXPECT_TRUE(after.ok) << after.message;
  HeldStatement sleeper(proxy_->conninfo(), "SELECT pg_sleep(120)");
  ASSERT_TRUE(eventually(
      [&] {
        return direct().scalar("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND "
                               "query = 'SELECT pg_sleep(120)'") == "1";
      },
      60s));
  cancel = PQgetCancel(sleeper.conn());
  ASSERT_NE(cancel, nullptr);
  EXPECT_EQ(PQcancel(cancel, err, sizeof err), 1) << err;
  PQfreeCancel(cancel);
  EXPECT_EQ(sleeper.result().sqlstate, "57014");
  EXPECT_TRUE(eventually(
      [&] {
        return api("GET", "/metrics", "").body.find("schemagate_cancel_requests_total{handled=\"server\"} 1\n") !=
               std::string::npos;
      },
      30s));
}

TEST_F(Approvals, DisconnectWithdrawsTheRequest) {
  auto drop = std::make_unique<HeldStatement>(proxy_->conninfo(), "DROP TABLE victim");
  const std::string id = wait_for_pending();
  drop->close();
  EXPECT_TRUE(eventually([&] { return request(id)["status"] == "withdrawn"; }, 30s)) << request(id).dump();
  EXPECT_TRUE(victim_exists());
}

TEST_F(Approvals, ExtendedProtocolClientIsHeldAndApproved) {
  HeldStatement drop(proxy_->conninfo(), "DROP TABLE victim", /*extended=*/true);
  const std::string id = wait_for_pending();
  EXPECT_TRUE(victim_exists());
  ASSERT_EQ(api("POST", "/v1/requests/" + id + "/approve", kAliceToken, "{}").status, 200);
  const auto r = drop.result();
  EXPECT_TRUE(r.ok) << r.sqlstate << " " << r.message;
  EXPECT_FALSE(victim_exists());
}

TEST_F(Approvals, InsideATransactionTheBlockWaitsAndCommits) {
  HeldStatement drop(proxy_->conninfo(), "DROP TABLE victim", false, "BEGIN");
  const std::string id = wait_for_pending();
  EXPECT_TRUE(request(id)["in_transaction"].get<bool>());
  ASSERT_EQ(api("POST", "/v1/requests/" + id + "/approve", kAliceToken, "{}").status, 200);
  const auto r = drop.result();
  EXPECT_TRUE(r.ok) << r.sqlstate << " " << r.message;
  bool told = false;
  for (const auto& n : drop.notices()) told |= n.find("keeps its locks while it waits") != std::string::npos;
  EXPECT_TRUE(told) << ::testing::PrintToString(drop.notices());
  EXPECT_TRUE(victim_exists()) << "not committed yet";
  EXPECT_EQ(PQtransactionStatus(drop.conn()), PQTRANS_INTRANS);
  PGresult* commit = PQexec(drop.conn(), "COMMIT");
  EXPECT_EQ(PQresultStatus(commit), PGRES_COMMAND_OK);
  PQclear(commit);
  EXPECT_FALSE(victim_exists());
}

TEST_F(Approvals, TheRequesterCannotApproveTheirOwnStatement) {
  HeldStatement drop(proxy_->conninfo(), "DROP TABLE victim");
  const std::string id = wait_for_pending();
  const auto own = api("POST", "/v1/requests/" + id + "/approve", kPostgresToken, "{}");
  EXPECT_EQ(own.status, 403) << own.body;
  EXPECT_EQ(api("POST", "/v1/requests/" + id + "/approve", "", "{}").status, 401);
  EXPECT_EQ(api("POST", "/v1/requests/" + id + "/approve", "wrong-token-0123456789", "{}").status, 401);
  EXPECT_FALSE(drop.finished());
  EXPECT_TRUE(victim_exists());
  ASSERT_EQ(api("POST", "/v1/requests/" + id + "/deny", kAliceToken, R"({"reason":"test over"})").status, 200);
  EXPECT_EQ(drop.result().sqlstate, "SG002");
}

TEST_F(Approvals, PendingRequestSurvivesAProxyRestart) {
  TempDir dir("sg-approvals");
  const std::string store = dir.file("approvals.db");
  proxy_ = start_proxy("  wait_ms: 1000\n", store);
  {
    auto c = via_proxy();
    EXPECT_EQ(c.exec("DROP TABLE victim").sqlstate, "SG003");
  }
  const std::string id = wait_for_pending();
  proxy_.reset();
  proxy_ = start_proxy("  wait_ms: 1000\n", store);
  // Still pending; the restarted proxy ran nothing by itself.
  EXPECT_EQ(request(id)["status"], "pending");
  EXPECT_TRUE(victim_exists());
  ASSERT_EQ(api("POST", "/v1/requests/" + id + "/approve", kBobToken, "{}").status, 200);
  std::this_thread::sleep_for(500ms);
  EXPECT_TRUE(victim_exists()) << "approving must not run anything without the client";
  auto c = via_proxy();
  const auto r = c.exec("DROP TABLE victim");
  EXPECT_TRUE(r.ok) << r.sqlstate << " " << r.message;
  EXPECT_FALSE(victim_exists());
}

TEST_F(Approvals, CliListsShowsAndApproves) {
  HeldStatement drop(proxy_->conninfo(), "DROP TABLE victim");
  const std::string id = wait_for_pending();
  TempDir dir("sg-cli");
  write_file(dir.file("token"), kAliceToken + "\n");
  const std::vector<std::string> base{proxy_binary(), "requests"};
  auto cli = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = base;
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--admin-url", admin_url(), "--token-file", dir.file("token")});
    return run_command_split(argv, 60s);
  };
  const auto list = cli({"list", "--status", "pending"});
  EXPECT_EQ(list.exit_code, 0) << list.output << list.errors;
  EXPECT_NE(list.output.find(id), std::string::npos) << list.output;
  const auto show = cli({"show", id, "--format", "json"});
  EXPECT_EQ(show.exit_code, 0) << show.errors;
  EXPECT_NE(show.output.find("DROP TABLE victim"), std::string::npos) << show.output;
  const auto approve = cli({"approve", id, "--reason", "from the CLI"});
  EXPECT_EQ(approve.exit_code, 0) << approve.output << approve.errors;
  const auto r = drop.result();
  EXPECT_TRUE(r.ok) << r.sqlstate << " " << r.message;
  EXPECT_FALSE(victim_exists());
  // alice approving again is idempotent; another approver gets 409, the CLI exits 1.
  EXPECT_EQ(cli({"approve", id}).exit_code, 0);
  write_file(dir.file("token"), kBobToken + "\n");
  const auto again = cli({"approve", id});
  EXPECT_EQ(again.exit_code, 1) << "approving a request that already ran is refused: " << again.output << again.errors;
}

TEST_F(Approvals, ApprovedStatementRunsThroughItsRewritePlan) {
  ASSERT_TRUE(direct()
                  .exec("DROP TABLE IF EXISTS big_orders; CREATE TABLE big_orders (id int PRIMARY KEY, amount int);"
                        "INSERT INTO big_orders SELECT g, g % 100 FROM generate_series(1, 50000) g; ANALYZE big_orders")
                  .ok);
  // Every change to big_* tables needs a human; the index build still runs as its safe plan.
  proxy_ = start_proxy("", "", "policy:\n  scopes:\n    - {name: big tables, match: {table: \"big*\"}, action: hold}\n");
  HeldStatement build(proxy_->conninfo(), "CREATE INDEX big_orders_amount_idx ON big_orders (amount)");
  const std::string id = wait_for_pending();
  const json pending = request(id);
  ASSERT_TRUE(pending["plan"].is_object()) << pending.dump();
  EXPECT_EQ(direct().scalar("SELECT count(*) FROM pg_class WHERE relname = 'big_orders_amount_idx'"), "0");
  ASSERT_EQ(api("POST", "/v1/requests/" + id + "/approve", kAliceToken, "{}").status, 200);
  const auto r = build.result();
  EXPECT_TRUE(r.ok) << r.sqlstate << " " << r.message;
  EXPECT_EQ(r.command_status, "CREATE INDEX");
  bool phased = false;
  for (const auto& n : build.notices()) phased |= n.find("phased rewrite") != std::string::npos;
  EXPECT_TRUE(phased) << ::testing::PrintToString(build.notices());
  EXPECT_EQ(direct().scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 'big_orders_amount_idx'::regclass"), "t");
  EXPECT_TRUE(eventually([&] { return request(id)["status"] == "executed"; })) << request(id).dump();
}

TEST_F(Approvals, WebhookIsSignedAndCarriesTheRequest) {
  WebhookReceiver receiver;
  proxy_ = start_proxy(webhook_yaml(receiver.url(), "notify"));
  HeldStatement drop(proxy_->conninfo(), "DROP TABLE victim");
  const std::string id = wait_for_pending();
  ASSERT_TRUE(eventually([&] { return !receiver.deliveries().empty(); }, 30s)) << "no webhook delivery";
  const json d = receiver.deliveries().front();
  EXPECT_TRUE(d["valid_signature"].get<bool>()) << d.dump();
  EXPECT_EQ(d["body"]["type"], "approval_request.created");
  EXPECT_EQ(d["body"]["request"]["id"], id);
  EXPECT_EQ(d["body"]["request"]["statement"], "DROP TABLE victim");
  EXPECT_EQ(d["body"]["approve_url"], admin_url() + "/v1/requests/" + id + "/approve");
  EXPECT_NE(d["body"]["text"].get<std::string>().find("DROP TABLE"), std::string::npos);
  // The URL in the payload works.
  ASSERT_EQ(api("POST", "/v1/requests/" + id + "/approve", kAliceToken, "{}").status, 200);
  EXPECT_TRUE(drop.result().ok);
  EXPECT_FALSE(victim_exists());
}

TEST_F(Approvals, DecideWebhookApproves) {
  WebhookReceiver receiver({"--mode", "decide", "--decision", "approve", "--approver", "change-bot", "--reason", "CAB-7"});
  proxy_ = start_proxy(webhook_yaml(receiver.url(), "decide"));
  auto c = via_proxy();
  const auto r = c.exec("DROP TABLE victim");
  EXPECT_TRUE(r.ok) << r.sqlstate << " " << r.message;
  EXPECT_FALSE(victim_exists());
}

TEST_F(Approvals, DecideWebhookDenies) {
  WebhookReceiver receiver({"--mode", "decide", "--decision", "deny", "--approver", "change-bot", "--reason", "freeze"});
  proxy_ = start_proxy(webhook_yaml(receiver.url(), "decide"));
  auto c = via_proxy();
  const auto r = c.exec("DROP TABLE victim");
  EXPECT_EQ(r.sqlstate, "SG002") << r.message;
  EXPECT_NE(r.message.find("change-bot"), std::string::npos) << r.message;
  EXPECT_TRUE(victim_exists());
}

TEST_F(Approvals, DecideWebhookDownFallsBackToPendingOrDeny) {
  const std::string nobody = "http://127.0.0.1:" + std::to_string(free_port()) + "/hook";
  proxy_ = start_proxy(webhook_yaml(nobody, "decide", "pending"));
  {
    HeldStatement drop(proxy_->conninfo(), "DROP TABLE victim");
    const std::string id = wait_for_pending();
    std::this_thread::sleep_for(3s);  // the delivery and its retry fail meanwhile
    EXPECT_EQ(request(id)["status"], "pending") << "fallback pending: humans still decide";
    ASSERT_EQ(api("POST", "/v1/requests/" + id + "/deny", kAliceToken, R"({"reason":"done"})").status, 200);
    EXPECT_EQ(drop.result().sqlstate, "SG002");
  }
  proxy_ = start_proxy(webhook_yaml(nobody, "decide", "deny"));
  auto c = via_proxy();
  const auto r = c.exec("DROP TABLE victim");
  EXPECT_EQ(r.sqlstate, "SG002") << r.message;
  EXPECT_TRUE(victim_exists());
}

TEST_F(Approvals, TwoProxiesShareAPostgresStore) {
  // One store for both: a request held on A is approved through B's API, and A's client
  // proceeds (LISTEN/NOTIFY carries the change across).
  static std::atomic<int> n{0};
  const std::string schema = "sg_shared_" + std::to_string(::getpid()) + "_" + std::to_string(n++);
  const std::string store = "  store: {backend: postgres, dsn: \"" + pg_->conninfo() + "\", schema: " + schema + "}\n";
  proxy_ = start_proxy(store);
  const int a_admin = admin_port_;
  auto b = start_proxy(store);
  const int b_admin = admin_port_;
  ASSERT_NE(a_admin, b_admin);
  HeldStatement drop(proxy_->conninfo(), "DROP TABLE victim");
  const std::string id = wait_for_pending();  // read through B (admin_port_ is B's now)
  EXPECT_EQ(request(id)["status"], "pending");
  const auto approved_at = std::chrono::steady_clock::now();
  ASSERT_EQ(api("POST", "/v1/requests/" + id + "/approve", kBobToken, "{}").status, 200);
  const auto r = drop.result();
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - approved_at);
  EXPECT_TRUE(r.ok) << r.sqlstate << " " << r.message;
  EXPECT_FALSE(victim_exists());
  std::cout << "approve on replica B -> statement done on replica A: " << took.count() << " ms\n";
}

}  // namespace
}  // namespace schemagate::testing
