// How the I/O threads wait for and share work: adaptive busy polling that gives the core up to a
// process that wants it, the sidecar profile (no polling at all), and several workers, each with
// its own io_context, serving sessions side by side. What is asserted is behaviour (what the
// proxy counts, which thread did work, that every answer is right), never speed.
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <atomic>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <thread>

#include "proxy/approvals/http_client.h"
#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

/// A process that burns one CPU until the test ends (killed in the destructor, and by the
/// kernel if the test process dies first).
class CpuHog {
 public:
  explicit CpuHog(int cpu) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      ::sched_setaffinity(0, sizeof set, &set);
      volatile unsigned long spins = 0;
      for (;;) spins = spins + 1;
    }
  }
  ~CpuHog() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  bool started() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

/// The thread ids of a process.
std::vector<pid_t> threads_of(pid_t pid) {
  std::vector<pid_t> out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') out.push_back(static_cast<pid_t>(std::stol(e->d_name)));
    ::closedir(d);
  }
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// A field of /proc/PID/task/TID/status ("voluntary_ctxt_switches", ...), or -1.
long task_status(pid_t pid, pid_t tid, const std::string& field) {
  std::istringstream in(read_text("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/status"));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return -1;
}

std::string task_name(pid_t pid, pid_t tid) {
  auto name = read_text("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/comm");
  while (!name.empty() && name.back() == '\n') name.pop_back();
  return name;
}

/// The value of one sample line of a Prometheus exposition ("name{labels} value"), or -1.
double sample(const std::string& exposition, const std::string& series) {
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  return -1;
}

class IoWorkers : public ProxiedPg {
 protected:
  void SetUp() override { ASSERT_NE(pg_, nullptr); }

  /// A proxy with the admin listener (for /metrics) and these extra flags.
  void start(std::vector<std::string> args, const std::string& extra_yaml = "") {
    admin_port_ = free_port();
    ProxyOptions o;
    o.upstream_port = pg_->port();
    o.config_yaml = "admin:\n  address: 127.0.0.1\n  port: " + std::to_string(admin_port_) + "\n" +
                    "state:\n  path: \":memory:\"\n" + extra_yaml;
    o.extra_args = std::move(args);
    proxy_ = ProxyProcess::start(o);
    ASSERT_TRUE(eventually([&] { return port_accepts(admin_port_); }, 60s)) << "admin listener did not open";
  }

  std::string metrics() const {
    proxy::approvals::HttpCall call;
    call.url = "http://127.0.0.1:" + std::to_string(admin_port_) + "/metrics";
    call.timeout_ms = 30000;
    const auto r = proxy::approvals::http_call(call);
    EXPECT_EQ(r.status, 200) << r.error;
    return r.body;
  }

  /// Pins every thread of the proxy to one CPU (as a sidecar shares its application's core).
  void pin_proxy(int cpu) const {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    for (const pid_t tid : threads_of(proxy_->pid())) ::sched_setaffinity(tid, sizeof set, &set);
  }

  /// A CPU this test may use (the first of its affinity mask).
  static int some_cpu() {
    cpu_set_t set;
    CPU_ZERO(&set);
    ::sched_getaffinity(0, sizeof set, &set);
    for (int i = 0; i < CPU_SETSIZE; ++i)
      if (CPU_ISSET(i, &set)) return i;
    return 0;
  }

  int admin_port_ = 0;
};

TEST_F(IoWorkers, AdaptivePollingGivesTheCoreUpToAProcessThatWantsIt) {
  // A long window, so that without the back-off the proxy would spin 2 ms after every message.
  ASSERT_NO_FATAL_FAILURE(start({"--busy-poll-us", "2000"}));
  const int cpu = some_cpu();
  pin_proxy(cpu);
  CpuHog hog(cpu);  // the "application" on the sidecar's core
  ASSERT_TRUE(hog.started());
  auto c = pq_connect_ok(proxy_->conninfo());
  for (int i = 0; i < 200; ++i) ASSERT_EQ(c.scalar("SELECT " + std::to_string(i)), std::to_string(i));
  const auto m = metrics();
  EXPECT_GT(sample(m, "schemagate_busy_poll_contended_total"), 0)
      << "the poll loop's yields ran the other process, and polling should have backed off\n"
      << m;
  EXPECT_GT(sample(m, "schemagate_busy_poll_sleeps_total"), 0) << m;
}

TEST_F(IoWorkers, FixedPollingDoesNotBackOff) {
  // The same setting with the adaptation off: the proof that the test above measures the rule.
  ASSERT_NO_FATAL_FAILURE(start({"--busy-poll-us", "2000", "--busy-poll-adaptive", "off"}));
  const int cpu = some_cpu();
  pin_proxy(cpu);
  CpuHog hog(cpu);
  ASSERT_TRUE(hog.started());
  auto c = pq_connect_ok(proxy_->conninfo());
  for (int i = 0; i < 50; ++i) ASSERT_EQ(c.scalar("SELECT " + std::to_string(i)), std::to_string(i));
  const auto m = metrics();
  EXPECT_EQ(sample(m, "schemagate_busy_poll_contended_total"), 0) << m;
  EXPECT_EQ(sample(m, "schemagate_busy_poll_window_microseconds{worker=\"0\"}"), 2000) << m;
}

TEST_F(IoWorkers, SidecarProfileNeverPollsAndSleepsWhenIdle) {
  // The Helm chart's sidecar values: io.busy_poll_us: 0.
  ASSERT_NO_FATAL_FAILURE(start({}, "io:\n  busy_poll_us: 0\n"));
  auto c = pq_connect_ok(proxy_->conninfo());
  for (int i = 0; i < 200; ++i) ASSERT_EQ(c.exec_params("SELECT $1::int", {std::to_string(i)}).value(), std::to_string(i));
  std::this_thread::sleep_for(200ms);
  const double before = cpu_seconds(proxy_->pid());
  std::this_thread::sleep_for(1500ms);
  const double used = cpu_seconds(proxy_->pid()) - before;
  EXPECT_LT(used, 0.15) << "an idle proxy used " << used << " s of CPU in 1.5 s";
  const auto m = metrics();
  EXPECT_EQ(sample(m, "schemagate_busy_poll_sleeps_total"), 0) << "it never polled, so it never stopped\n" << m;
  EXPECT_EQ(sample(m, "schemagate_busy_poll_caught_total"), 0) << m;
  EXPECT_EQ(sample(m, "schemagate_busy_poll_window_microseconds{worker=\"0\"}"), 0) << m;
}

TEST_F(IoWorkers, SeveralWorkersServeSessionsSideBySide) {
  constexpr int kWorkers = 3;
  constexpr int kSessions = 9;
  ASSERT_NO_FATAL_FAILURE(start({"--workers", std::to_string(kWorkers), "--busy-poll-us", "0"}));
  // Every session checks its own answers: a session's bytes must never reach another.
  std::atomic<int> wrong{0};
  {
    std::vector<std::thread> clients;
    for (int s = 0; s < kSessions; ++s)
      clients.emplace_back([&, s] {
        auto c = pq_connect_ok(proxy_->conninfo("application_name=worker_test_" + std::to_string(s)));
        for (int i = 0; i < 300; ++i) {
          const auto v = std::to_string(s * 100000 + i);
          if (c.exec_params("SELECT $1::int", {v}).value() != v) ++wrong;
        }
        if (c.scalar("SELECT repeat('x', 100000)").size() != 100000) ++wrong;
      });
    for (auto& t : clients) t.join();
  }
  EXPECT_EQ(wrong.load(), 0);

  // Sessions were dealt to all the workers: each I/O thread slept and woke for its sessions.
  // Worker 0 is the main thread; the others are named sg-io-N.
  const pid_t pid = proxy_->pid();
  int busy_workers = 0;
  std::string seen;
  for (const pid_t tid : threads_of(pid)) {
    const auto name = task_name(pid, tid);
    if (tid != pid && name.rfind("sg-io-", 0) != 0) continue;
    const long switches = task_status(pid, tid, "voluntary_ctxt_switches");
    seen += name + ":" + std::to_string(switches) + " ";
    if (switches >= 20) ++busy_workers;  // an idle worker sleeps once, in epoll_wait
  }
  EXPECT_EQ(busy_workers, kWorkers) << seen;

  // A cancel arrives on a new connection, dealt to another worker than the query it cancels.
  auto slow = pq_connect_ok(proxy_->conninfo());
  ASSERT_TRUE(PQsendQuery(slow.get(), "SELECT pg_sleep(60)"));
  ASSERT_NO_FATAL_FAILURE(expect_cancelled(slow.get()));
  EXPECT_EQ(slow.scalar("SELECT 'still here'"), "still here");

  const auto m = metrics();
  for (int w = 0; w < kWorkers; ++w)
    EXPECT_EQ(sample(m, "schemagate_busy_poll_window_microseconds{worker=\"" + std::to_string(w) + "\"}"), 0) << m;
  EXPECT_GE(sample(m, "schemagate_client_connections_total"), kSessions + 2) << m;

  // Shutdown drains every worker's sessions and then stops all of them.
  auto open = pq_connect_ok(proxy_->conninfo());
  EXPECT_EQ(proxy_->terminate(60s), 0) << proxy_->log();
}

}  // namespace
}  // namespace schemagate::testing
