// How the proxy is reached, reaches the database and waits for work: a Unix-socket listener and
// upstream (libpq's "host is a directory" convention) and busy polling (io.busy_poll_us). Both are performance
// options; what is asserted is that nothing a client relies on changes with them.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

std::string socket_file(const std::string& dir, int port) { return dir + "/.s.PGSQL." + std::to_string(port); }
std::string unix_conninfo(const std::string& dir, int port) {
  return "host=" + dir + " port=" + std::to_string(port) + " dbname=postgres user=postgres";
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
  ASSERT_NO_FATAL_FAILURE(expect_cancelled(c.get()));
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

// Clients on the same host (an application container sharing a volume with the sidecar) can
// use a Unix socket, as with PostgreSQL itself: psql -h DIR -p PORT.
TEST_F(Io, UnixSocketListenerServesPsqlLibpqAndCancel) {
  TempDir dir("sg-listen");
  ProxyOptions o;
  o.upstream_port = pg_->port();
  o.config_yaml = "listen:\n  unix_socket_dir: " + dir.path() + "\n";
  auto proxy = ProxyProcess::start(o);
  const std::string path = socket_file(dir.path(), proxy->port());
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0) << "no socket file at " << path;
  EXPECT_TRUE(S_ISSOCK(st.st_mode));

  auto c = pq_connect_ok(unix_conninfo(dir.path(), proxy->port()));
  EXPECT_EQ(c.exec_params("SELECT $1::int * 3", {"14"}).value(), "42");
  EXPECT_NE(proxy->log().find("client=local socket"), std::string::npos) << proxy->log();
  // libpq sends the CancelRequest over the same kind of socket.
  ASSERT_TRUE(PQsendQuery(c.get(), "SELECT pg_sleep(60)"));
  ASSERT_NO_FATAL_FAILURE(expect_cancelled(c.get()));

  const auto psql = run_command({std::string(SG_PG_BINDIR) + "/psql", "-X", "-At", "-h", dir.path(), "-p",
                                 std::to_string(proxy->port()), "-U", "postgres", "-d", "postgres", "-c",
                                 "SELECT 'psql over a unix socket'"});
  EXPECT_EQ(psql.exit_code, 0) << psql.output;
  EXPECT_NE(psql.output.find("psql over a unix socket"), std::string::npos) << psql.output;

  // Another proxy for the same socket file (same port on another loopback address) is refused
  // while this one listens.
  const auto clash =
      run_command({proxy_binary(), "serve", "--listen", "127.0.0.2:" + std::to_string(proxy->port()), "--upstream",
                   "127.0.0.1:" + std::to_string(pg_->port()), "--unix-socket-dir", dir.path()},
                  20s);
  EXPECT_EQ(clash.exit_code, 1) << clash.output;
  EXPECT_NE(clash.output.find("another server is listening there"), std::string::npos) << clash.output;
  EXPECT_EQ(c.scalar("SELECT 'first proxy unaffected'"), "first proxy unaffected");

  c.reset();
  EXPECT_EQ(proxy->terminate(), 0);
  EXPECT_NE(::lstat(path.c_str(), &st), 0) << "the socket file outlived the proxy";
}

TEST_F(Io, UnixSocketListenerReplacesAStaleSocketFile) {
  TempDir dir("sg-listen");
  const int port = free_port();
  const std::string path = socket_file(dir.path(), port);
  {  // a socket file nobody listens on, as a proxy killed with SIGKILL leaves behind
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::close(fd);
  }
  ProxyOptions o;
  o.upstream_port = pg_->port();
  // The later --listen wins: the proxy's TCP port is `port`, so its socket file is `path`.
  o.extra_args = {"--listen", "127.0.0.1:" + std::to_string(port), "--unix-socket-dir", dir.path()};
  auto proxy = ProxyProcess::start(o);
  EXPECT_EQ(pq_connect_ok(unix_conninfo(dir.path(), port)).scalar("SELECT 'replaced'"), "replaced");
}

TEST_F(Io, UnixSocketDirectoryMustBeAbsolute) {
  const auto r = run_command({proxy_binary(), "serve", "--upstream", "127.0.0.1:" + std::to_string(pg_->port()),
                              "--unix-socket-dir", "relative/dir"},
                             20s);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("listen.unix_socket_dir"), std::string::npos) << r.output;
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
