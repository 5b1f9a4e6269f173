// Cancelling through schemagate: libpq's PQcancel (what psql's Ctrl-C does) stops a long
// statement within a second or two; a CancelRequest with a forged key cancels nothing.
#include <arpa/inet.h>

#include <cstring>

#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

class Cancel : public ProxiedPg {};

struct Key {
  std::uint32_t pid = 0, key = 0;
};

Key backend_key(const std::vector<BackendMessage>& startup) {
  const auto k = find_message(startup, 'K');
  EXPECT_TRUE(k.has_value()) << "no BackendKeyData from the proxy";
  if (!k || k->body.size() != 8) return {};
  Key out;
  std::memcpy(&out.pid, k->body.data(), 4);
  std::memcpy(&out.key, k->body.data() + 4, 4);
  out.pid = ntohl(out.pid);
  out.key = ntohl(out.key);
  return out;
}

TEST_F(Cancel, PqCancelStopsALongSleepQuickly) {
  auto c = via_proxy();
  ASSERT_TRUE(PQsendQuery(c.get(), "SELECT pg_sleep(60)"));
  std::this_thread::sleep_for(300ms);  // let it start on the server
  PGcancel* cancel = PQgetCancel(c.get());
  ASSERT_NE(cancel, nullptr);
  char err[256] = {};
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(PQcancel(cancel, err, sizeof err), 1) << err;
  PQfreeCancel(cancel);
  ASSERT_TRUE(wait_not_busy(c.get(), 10s)) << "the statement was not cancelled";
  const auto r = drain_results(c.get());
  const double took = seconds_since(t0);
  EXPECT_EQ(r.sqlstate, "57014") << r.message;
  EXPECT_LT(took, 2.0) << "cancel took " << took << " s";
  std::cout << "[ figures  ] cancel round trip " << took * 1000 << " ms\n";
  EXPECT_EQ(c.scalar("SELECT 'still connected'"), "still connected");
}

TEST_F(Cancel, CtrlCInPsqlCancelsPgSleep60) {
  // timeout(1) sends psql a SIGINT after 1 s, as Ctrl-C would; psql then sends a CancelRequest.
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = run_command({"timeout", "--signal=INT", "--kill-after=20", "1", std::string(SG_PG_BINDIR) + "/psql",
                              "-X", "-d", proxy_->conninfo(), "-c", "SELECT pg_sleep(60)"});
  const double took = seconds_since(t0);
  EXPECT_NE(r.output.find("canceling statement due to user request"), std::string::npos) << r.output;
  EXPECT_LT(took, 3.0) << "psql took " << took << " s to come back after Ctrl-C";
}

TEST_F(Cancel, CancelWorksForAnExtendedProtocolStatementToo) {
  auto c = via_proxy();
  const char* v[1] = {"60"};
  ASSERT_TRUE(PQsendQueryParams(c.get(), "SELECT pg_sleep($1::float8)", 1, nullptr, v, nullptr, nullptr, 0));
  ASSERT_NO_FATAL_FAILURE(expect_cancelled(c.get()));
}

TEST_F(Cancel, ForgedKeyCancelsNothingAndTheRealKeyDoes) {
  auto victim = RawClient::connect(proxy_->port());
  const Key key = backend_key(victim.startup());

  victim.send(wire::query("SELECT pg_sleep(2)"));
  std::this_thread::sleep_for(300ms);
  for (const Key forged : {Key{key.pid, key.key ^ 0x5a5a5a5au}, Key{key.pid + 1, key.key}, Key{12345, 67890}}) {
    auto attacker = RawClient::connect(proxy_->port());
    attacker.send(wire::cancel_request(forged.pid, forged.key));
    EXPECT_TRUE(attacker.wait_closed(5s)) << "the proxy should close a CancelRequest connection";
  }
  const auto reply = victim.read_until_ready(10s);
  EXPECT_FALSE(first_error(reply).has_value()) << "forged cancel key cancelled the statement: "
                                               << first_error(reply)->field('M');
  EXPECT_TRUE(find_message(reply, 'C').has_value()) << "pg_sleep(2) did not complete";

  // The key the proxy handed out does cancel.
  victim.send(wire::query("SELECT pg_sleep(60)"));
  std::this_thread::sleep_for(300ms);
  auto canceller = RawClient::connect(proxy_->port());
  canceller.send(wire::cancel_request(key.pid, key.key));
  const auto cancelled = victim.read_until_ready(5s);
  const auto e = first_error(cancelled);
  ASSERT_TRUE(e.has_value()) << "the proxy's own BackendKeyData did not cancel";
  EXPECT_EQ(e->field('C'), "57014");
}

TEST_F(Cancel, TheProxyDoesNotLeakTheServerKey) {
  auto c = via_proxy();
  // The pid the client sees is the proxy's, not the server backend's: a cancel sent directly to
  // the server with it would hit nobody (or somebody else).
  const std::string server_pid = c.scalar("SELECT pg_backend_pid()");
  EXPECT_NE(std::to_string(PQbackendPID(c.get())), server_pid);
}

}  // namespace
}  // namespace schemagate::testing
