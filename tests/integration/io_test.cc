// How the proxy reaches the database and waits for work: a Unix-socket upstream (libpq's
// "host is a directory" convention) and busy polling (io.busy_poll_us). Both are performance
// options; what is asserted is that nothing a client relies on changes with them.
#include <fstream>
#include <sstream>

#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

/// CPU seconds (user + system) the process has used so far, from /proc/PID/stat.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  const auto close_paren = line.rfind(')');  // the command name may contain spaces
  std::istringstream fields(line.substr(close_paren + 2));
  std::string skip;
  for (int i = 3; i < 14; ++i) fields >> skip;  // fields 3..13
  long utime = 0, stime = 0;
  fields >> utime >> stime;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

class Io : public ProxiedPg {
 protected:
  std::unique_ptr<ProxyProcess> proxy_with(const std::string& upstream_host, std::vector<std::string> args = {}) {
    ProxyOptions o;
    o.upstream_port = pg_->port();
    o.upstream_host = upstream_host;
    o.extra_args = std::move(args);
    return ProxyProcess::start(o);
  }
};

TEST_F(Io, UnixSocketUpstreamCarriesQueriesCopyAndCancel) {
  auto proxy = proxy_with(pg_->dir());  // the cluster's unix_socket_directories
  auto c = pq_connect_ok(proxy->conninfo("application_name=over_unix"));
  // The server sees a local-socket session: client_addr is NULL only for Unix sockets.
  EXPECT_EQ(c.scalar("SELECT coalesce(client_addr::text, 'local') FROM pg_stat_activity WHERE pid = pg_backend_pid()"),
            "local");
  EXPECT_EQ(c.exec_params("SELECT $1::int + 1", {"41"}).value(), "42");
  ASSERT_TRUE(c.exec("CREATE TEMP TABLE t AS SELECT g FROM generate_series(1, 5000) g").ok);
  EXPECT_EQ(c.scalar("SELECT sum(g) FROM t"), "12502500");

  // A cancel request is sent over the same kind of connection.
  ASSERT_TRUE(PQsendQuery(c.get(), "SELECT pg_sleep(60)"));
  std::this_thread::sleep_for(300ms);
  PGcancel* cancel = PQgetCancel(c.get());
  ASSERT_NE(cancel, nullptr);
  char err[256] = {};
  EXPECT_EQ(PQcancel(cancel, err, sizeof err), 1) << err;
  PQfreeCancel(cancel);
  ASSERT_TRUE(wait_not_busy(c.get(), 10s)) << "the statement was not cancelled over the Unix socket";
  EXPECT_EQ(drain_results(c.get()).sqlstate, "57014");
  EXPECT_EQ(c.scalar("SELECT 'still connected'"), "still connected");
}

TEST_F(Io, MissingUnixSocketGives08001NamingTheSocketFile) {
  TempDir empty("sg-nosock");
  auto proxy = proxy_with(empty.path());
  const auto r = pq_connect(proxy->conninfo());
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.sqlstate, "08001") << r.error;
  EXPECT_NE(r.error.find(empty.path() + "/.s.PGSQL." + std::to_string(pg_->port())), std::string::npos) << r.error;
  EXPECT_TRUE(proxy->alive());
}

TEST_F(Io, BusyPollingServesClientsAndSleepsWhenIdle) {
  auto proxy = proxy_with("127.0.0.1", {"--busy-poll-us", "2000"});
  {
    auto a = pq_connect_ok(proxy->conninfo());
    auto b = pq_connect_ok(proxy->conninfo());
    for (int i = 0; i < 200; ++i) {
      ASSERT_EQ(a.exec_params("SELECT $1::int * 2", {std::to_string(i)}).value(), std::to_string(i * 2));
      ASSERT_EQ(b.scalar("SELECT " + std::to_string(i)), std::to_string(i));
    }
    EXPECT_EQ(run_deep_pipeline(a.get(), 500, 100), "");
    // Idle with connections open: the poll window (2 ms) has long passed, so the proxy must be
    // asleep in epoll_wait rather than spinning.
    std::this_thread::sleep_for(200ms);
    const double before = cpu_seconds(proxy->pid());
    std::this_thread::sleep_for(1500ms);
    const double used = cpu_seconds(proxy->pid()) - before;
    EXPECT_LT(used, 0.15) << "an idle proxy used " << used << " s of CPU in 1.5 s: it keeps polling";
  }
  EXPECT_EQ(pq_connect_ok(proxy->conninfo()).scalar("SELECT 'after'"), "after");
}

}  // namespace
}  // namespace schemagate::testing
