// When things go wrong: the database is unreachable or dies, a client sends garbage, limits are
// hit, the proxy is told to stop. Each time the affected client gets a proper error and
// everybody else carries on.
#include <csignal>

#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

class Errors : public ProxiedPg {
 protected:
  std::unique_ptr<ProxyProcess> proxy_with(const std::string& yaml) { return ProxyProcess::start(pg_->port(), yaml); }
};

bool one_of(const std::string& s, std::initializer_list<const char*> codes) {
  for (const char* c : codes)
    if (s == c) return true;
  return false;
}

TEST_F(Errors, UnreachableUpstreamGives08001AndTheProxyKeepsServing) {
  auto nowhere = ProxyProcess::start(free_port());  // nothing listens there
  for (int i = 0; i < 3; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = pq_connect(nowhere->conninfo());
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.sqlstate, "08001") << r.error;
    EXPECT_LT(seconds_since(t0), 5.0);
  }
  EXPECT_TRUE(nowhere->alive());
  // Sessions through the other proxy were never affected.
  EXPECT_EQ(via_proxy().scalar("SELECT 1"), "1");
}

TEST_F(Errors, BackendTerminatedMidQueryReachesTheClientAndOthersCarryOn) {
  auto bystander = via_proxy();
  ASSERT_TRUE(bystander.exec("BEGIN").ok);
  auto victim = via_proxy("application_name=victim");
  ASSERT_TRUE(PQsendQuery(victim.get(), "SELECT pg_sleep(30)"));
  auto d = direct();
  ASSERT_TRUE(eventually([&] {
    return d.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'victim' AND state = 'active'") ==
           "1";
  }));
  EXPECT_EQ(d.scalar("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'victim'"), "t");
  ASSERT_TRUE(wait_not_busy(victim.get(), 10s)) << "the client never heard that its backend died";
  const auto r = drain_results(victim.get());
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(one_of(r.sqlstate, {"57P01", "08006"})) << r.sqlstate << " " << r.message;
  EXPECT_EQ(bystander.scalar("SELECT 'unaffected'"), "unaffected");
  EXPECT_TRUE(bystander.exec("COMMIT").ok);
  EXPECT_EQ(via_proxy().scalar("SELECT 'new session'"), "new session");
}

TEST_F(Errors, ServerRestartMidSessionThenNewSessionsWork) {
  auto idle = via_proxy();
  auto busy = via_proxy();
  ASSERT_EQ(idle.scalar("SELECT 1"), "1");
  ASSERT_TRUE(PQsendQuery(busy.get(), "SELECT pg_sleep(30)"));
  std::this_thread::sleep_for(200ms);
  pg_->stop_server();
  ASSERT_TRUE(wait_not_busy(busy.get(), 10s));
  const auto r = drain_results(busy.get());
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(one_of(r.sqlstate, {"57P01", "08006"})) << r.sqlstate << " " << r.message;

  // While the server is down: a clean 08001 (or 57P03 while it starts), no hang.
  const auto down = pq_connect(proxy_->conninfo());
  EXPECT_FALSE(down.ok());
  EXPECT_TRUE(one_of(down.sqlstate, {"08001", "08006", "57P03"})) << down.error;

  pg_->start_server();
  const auto stale = idle.exec("SELECT 1");
  EXPECT_FALSE(stale.ok) << "a session whose server went away cannot just continue";
  auto fresh = via_proxy();
  EXPECT_EQ(fresh.scalar("SELECT 'back'"), "back");
  EXPECT_TRUE(proxy_->alive());
}

TEST_F(Errors, ClientVanishingMidTransactionReleasesItsLocks) {
  auto d = direct();
  ASSERT_TRUE(d.exec("CREATE TABLE IF NOT EXISTS vanish (id int)").ok);
  {
    auto raw = RawClient::connect(proxy_->port());
    ASSERT_TRUE(find_message(raw.startup(), 'Z'));
    const auto locked = raw.simple_query("BEGIN; LOCK TABLE vanish IN ACCESS EXCLUSIVE MODE");
    ASSERT_FALSE(first_error(locked).has_value());
  }  // the socket is closed without Terminate, as when a client process dies
  // The proxy must close its server connection so that the server rolls back and frees the lock.
  auto other = via_proxy();
  ASSERT_TRUE(other.exec("SET lock_timeout = '10s'").ok);
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = other.exec("BEGIN; LOCK TABLE vanish IN ACCESS EXCLUSIVE MODE");
  EXPECT_TRUE(r.ok) << "the dead client's lock was never released: " << r.sqlstate << " " << r.message;
  EXPECT_LT(seconds_since(t0), 5.0);
  EXPECT_TRUE(other.exec("COMMIT").ok);
}

TEST_F(Errors, ClientVanishingMidQueryDoesNotLeaveTheServerSessionBehind) {
  auto d = direct();
  {
    auto raw = RawClient::connect(proxy_->port());
    raw.send(wire::startup({{"user", "postgres"}, {"database", "postgres"}, {"application_name", "vanisher"}}));
    ASSERT_TRUE(find_message(raw.read_until_ready(), 'Z'));
    raw.send(wire::query("SELECT pg_sleep(30)"));
    std::this_thread::sleep_for(200ms);
  }
  // The proxy cancels the statement it was running for the vanished client; without that the
  // server would sleep on for 30 s, holding whatever the statement locked.
  EXPECT_TRUE(eventually(
      [&] { return d.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'vanisher'") == "0"; },
      5s))
      << "the server backend of a vanished client is still there";
}

TEST_F(Errors, MessageLengthBelowFourIsFatal08P01ForThatClientOnly) {
  auto other = via_proxy();
  ASSERT_TRUE(other.exec("BEGIN").ok);
  auto raw = RawClient::connect(proxy_->port());
  ASSERT_TRUE(find_message(raw.startup(), 'Z'));
  raw.send(std::string("Q") + wire::be32(2));
  const auto m = raw.read(5s);
  ASSERT_TRUE(m.has_value()) << "no error for a malformed message";
  EXPECT_EQ(m->tag, 'E');
  EXPECT_EQ(m->field('V'), "FATAL");
  EXPECT_EQ(m->field('C'), "08P01");
  EXPECT_TRUE(raw.wait_closed(5s));
  EXPECT_EQ(other.scalar("SELECT 'unaffected'"), "unaffected");
  EXPECT_TRUE(other.exec("COMMIT").ok);
}

TEST_F(Errors, OversizedMessageIsRefusedBeforeItsBodyArrives) {
  auto proxy = proxy_with("limits:\n  max_message_bytes: 8192\n");
  auto other = pq_connect_ok(proxy->conninfo());
  auto raw = RawClient::connect(proxy->port());
  ASSERT_TRUE(find_message(raw.startup(), 'Z'));
  raw.send(std::string("Q") + wire::be32(1000000));  // announces 1 MB, sends nothing more
  const auto m = raw.read(5s);
  ASSERT_TRUE(m.has_value()) << "the proxy waited for a body it should have refused";
  EXPECT_EQ(m->field('V'), "FATAL");
  EXPECT_EQ(m->field('C'), "08P01");
  EXPECT_TRUE(raw.wait_closed(5s));
  // Large results are not limited by it (DataRows stream through); a query text that size is.
  EXPECT_EQ(other.scalar("SELECT repeat('x', 100000)").size(), 100000u);
  EXPECT_EQ(other.exec("SELECT '" + std::string(20000, 'y') + "'").sqlstate, "08P01");
  EXPECT_FALSE(other.ok()) << "an oversized query ends that session";
  EXPECT_EQ(pq_connect_ok(proxy->conninfo()).scalar("SELECT 'next client fine'"), "next client fine");
}

TEST_F(Errors, InvalidStartupPacketsAreRefusedWith08P01) {
  {
    auto raw = RawClient::connect(proxy_->port());
    raw.send(wire::be32(3));  // length smaller than the header itself
    const auto m = raw.read(5s);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->field('C'), "08P01");
    EXPECT_TRUE(raw.wait_closed(5s));
  }
  {
    auto raw = RawClient::connect(proxy_->port());
    raw.send(wire::be32(1u << 24) + wire::be32(196608));  // 16 MB startup packet
    const auto m = raw.read(5s);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->field('C'), "08P01");
    EXPECT_TRUE(raw.wait_closed(5s));
  }
  {
    auto raw = RawClient::connect(proxy_->port());
    std::string body = wire::be32(196608) + "user";  // parameter without its value or terminator
    raw.send(wire::be32(static_cast<std::uint32_t>(body.size() + 4)) + body);
    const auto m = raw.read(5s);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->field('C'), "08P01");
  }
  EXPECT_EQ(via_proxy().scalar("SELECT 'still serving'"), "still serving");
}

TEST_F(Errors, UnsupportedProtocolVersionIsRefusedWith0A000) {
  auto raw = RawClient::connect(proxy_->port());
  const std::string body = wire::be32(2u << 16) + "user" + '\0' + "postgres" + '\0' + '\0';  // protocol 2.0
  raw.send(wire::be32(static_cast<std::uint32_t>(body.size() + 4)) + body);
  const auto m = raw.read(5s);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->field('C'), "0A000");
  EXPECT_NE(m->field('M').find("unsupported frontend protocol 2.0"), std::string::npos) << m->field('M');
  EXPECT_TRUE(raw.wait_closed(5s));
  EXPECT_EQ(via_proxy().scalar("SELECT 'still serving'"), "still serving");
}

TEST_F(Errors, ConnectionLimitGives53300ToTheFourthClient) {
  auto proxy = proxy_with("limits:\n  max_client_connections: 3\n");
  std::vector<PgConn> held;
  for (int i = 0; i < 3; ++i) held.push_back(pq_connect_ok(proxy->conninfo()));
  const auto fourth = pq_connect(proxy->conninfo());
  EXPECT_FALSE(fourth.ok());
  EXPECT_EQ(fourth.sqlstate, "53300") << fourth.error;
  for (auto& c : held) EXPECT_EQ(c.scalar("SELECT 1"), "1");
  held.pop_back();
  EXPECT_TRUE(eventually([&] { return pq_connect(proxy->conninfo()).ok(); }, 5s))
      << "a slot freed by a disconnect was not reused";
}

TEST_F(Errors, CancelStillWorksAtTheConnectionLimit) {
  auto proxy = proxy_with("limits:\n  max_client_connections: 2\n");
  auto idle = pq_connect_ok(proxy->conninfo());
  auto busy = pq_connect_ok(proxy->conninfo());
  ASSERT_TRUE(PQsendQuery(busy.get(), "SELECT pg_sleep(60)"));
  SCOPED_TRACE("a full proxy must still take the CancelRequest");
  ASSERT_NO_FATAL_FAILURE(expect_cancelled(busy.get(), 5s));
}

TEST_F(Errors, SilentClientIsDisconnectedAfterTheStartupTimeout) {
  auto proxy = proxy_with("limits:\n  startup_timeout_ms: 300\n");
  auto silent = RawClient::connect(proxy->port());
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(silent.wait_closed(5s)) << "a client that sends nothing is kept forever";
  std::cout << "[ figures  ] silent client dropped after " << seconds_since(t0) << " s\n";
  // A client that completes its startup in time is not affected, and stays connected.
  auto ok = pq_connect_ok(proxy->conninfo());
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(ok.scalar("SELECT 'kept'"), "kept");
}

TEST_F(Errors, IdleTimeoutClosesAnIdleSessionWith57P05) {
  auto proxy = proxy_with("limits:\n  client_idle_timeout_ms: 500\n");
  auto raw = RawClient::connect(proxy->port());
  ASSERT_TRUE(find_message(raw.startup(), 'Z'));
  const auto m = raw.read(5s);
  ASSERT_TRUE(m.has_value()) << "idle session was not closed";
  EXPECT_EQ(m->field('C'), "57P05");
  EXPECT_TRUE(raw.wait_closed(5s));
}

TEST_F(Errors, SigtermLetsTheRunningStatementFinishThenExitsZero) {
  auto proxy = proxy_with("limits:\n  shutdown_grace_ms: 10000\n");
  auto c = pq_connect_ok(proxy->conninfo());
  ASSERT_TRUE(PQsendQuery(c.get(), "SELECT 'finished', pg_sleep(1)"));
  std::this_thread::sleep_for(200ms);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(proxy->pid(), SIGTERM), 0);
  EXPECT_TRUE(eventually([&] { return !port_accepts(proxy->port()); }, 2s)) << "still accepting after SIGTERM";
  ASSERT_TRUE(wait_not_busy(c.get(), 10s));
  const auto r = drain_results(c.get());
  EXPECT_TRUE(r.ok) << "the in-flight statement was cut off: " << r.sqlstate << " " << r.message;
  EXPECT_EQ(r.value(), "finished");
  // Then the connection is closed and the proxy exits cleanly.
  EXPECT_FALSE(c.exec("SELECT 1").ok);
  EXPECT_EQ(proxy->wait_exit(10s), 0) << proxy->log();
  std::cout << "[ figures  ] SIGTERM to exit " << seconds_since(t0) << " s\n";
}

TEST_F(Errors, SigtermGraceDeadlineEndsLongStatementsWith57P01) {
  auto proxy = proxy_with("limits:\n  shutdown_grace_ms: 1000\n");
  auto idle = pq_connect_ok(proxy->conninfo());
  auto c = pq_connect_ok(proxy->conninfo("application_name=too-long"));
  ASSERT_TRUE(PQsendQuery(c.get(), "SELECT pg_sleep(30)"));
  std::this_thread::sleep_for(200ms);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(proxy->pid(), SIGTERM), 0);
  ASSERT_TRUE(wait_not_busy(c.get(), 10s)) << "the statement outlived the grace period";
  const auto r = drain_results(c.get());
  EXPECT_EQ(r.sqlstate, "57P01") << r.message;
  EXPECT_EQ(proxy->wait_exit(10s), 0) << proxy->log();
  const double took = seconds_since(t0);
  EXPECT_GT(took, 0.9);
  EXPECT_LT(took, 5.0);
  std::cout << "[ figures  ] grace 1 s: proxy gone " << took << " s after SIGTERM\n";
  // ... and the statement was cancelled on the server too, not left sleeping.
  auto d = direct();
  EXPECT_TRUE(eventually(
      [&] { return d.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'too-long'") == "0"; }, 5s))
      << "the statement kept running on the server after the proxy closed its session";
}

}  // namespace
}  // namespace schemagate::testing
