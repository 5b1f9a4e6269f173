#include "tests/support/proxy_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <thread>

namespace schemagate::testing {

std::string proxy_binary() {
  const char* env = std::getenv("SG_SCHEMAGATE");
  return env && *env ? env : SG_PROXY_BINARY;
}

bool ProxyProcess::sanitized() const {
  return read_file("/proc/" + std::to_string(pid_) + "/maps").find("libasan") != std::string::npos;
}

std::unique_ptr<ProxyProcess> ProxyProcess::start(ProxyOptions options) {
  std::unique_ptr<ProxyProcess> p(new ProxyProcess());
  p->port_ = free_port();
  std::vector<std::string> argv{proxy_binary(), "serve"};
  if (!options.config_yaml.empty()) {
    const std::string path = p->dir() + "/schemagate.yaml";
    write_file(path, options.config_yaml);
    argv.insert(argv.end(), {"--config", path});
  }
  argv.insert(argv.end(), {"--listen", "127.0.0.1:" + std::to_string(p->port_), "--upstream",
                           options.upstream_host + ":" + std::to_string(options.upstream_port)});
  if (!options.policy_mode.empty()) argv.insert(argv.end(), {"--mode", options.policy_mode});
  // A plan journal per proxy: tests never resume (or list) each other's plans. Before
  // extra_args, so that a test can name another (two proxies sharing one journal).
  argv.insert(argv.end(), {"--state", p->dir() + "/state.db", "--approvals-store", p->dir() + "/approvals.db"});
  argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());

  const std::string log_path = p->dir() + "/proxy.log";
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // do not outlive a crashed test (started from its main thread)
    const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::dup2(log, 1);
    ::dup2(log, 2);
    ::execv(args[0], args.data());
    _exit(127);
  }
  p->pid_ = pid;
  if (!options.wait_ready) return p;
  // A later --listen in extra_args wins, as it does for the proxy: probe the port it really binds.
  for (std::size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] != "--listen") continue;
    const auto colon = argv[i + 1].rfind(':');
    if (colon != std::string::npos) p->port_ = std::stoi(argv[i + 1].substr(colon + 1));
  }
  // Generous: an ASan proxy started beside heavy tests on a loaded 2-core machine can take many
  // seconds to exec and bind. Readiness is the port accepting, not a log line (stdout may be
  // buffered, and the log level may hide it); a proxy that exits is reported at once.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    if (port_accepts(p->port_)) return p;
    if (!p->alive()) throw std::runtime_error("schemagate exited with " + std::to_string(p->exit_code_) + ":\n" + p->log());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("schemagate did not start listening within 120 s:\n" + p->log());
}

ProxyProcess::~ProxyProcess() {
  if (pid_ > 0 && exit_code_ < 0) terminate(std::chrono::seconds(10));
  // Every proxy must end cleanly: a crash, a hang, or (in the sanitizer build) a leak report
  // (LeakSanitizer exits 23) fails the test that ran it.
  if (pid_ > 0 && exit_code_ != 0 && !killed_on_purpose_)
    ADD_FAILURE() << "schemagate (pid " << pid_ << ") did not exit cleanly: status " << exit_code_
                  << " (-1: hung and was killed; 23: LeakSanitizer report; 128+N: signal N)";
  if (::testing::Test::HasFailure()) std::cerr << "---- schemagate log (" << dir() << ") ----\n" << log() << "----\n";
}

std::string ProxyProcess::conninfo(const std::string& extra) const {
  std::string s = "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=postgres user=postgres";
  if (extra.find("sslmode") == std::string::npos) s += " sslmode=disable";
  if (!extra.empty()) s += " " + extra;
  return s;
}

std::string ProxyProcess::log() const { return read_file(dir() + "/proxy.log"); }

bool ProxyProcess::alive() {
  if (exit_code_ >= 0) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return true;
}

void ProxyProcess::kill_hard() {
  killed_on_purpose_ = true;
  if (!alive()) return;
  ::kill(pid_, SIGKILL);
  wait_exit(std::chrono::seconds(30));
}

int ProxyProcess::wait_exit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (alive()) {
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return exit_code_;
}

int ProxyProcess::terminate(std::chrono::milliseconds timeout) {
  if (!alive()) return exit_code_;
  ::kill(pid_, SIGTERM);
  const int code = wait_exit(timeout);
  if (code >= 0) return code;
  ::kill(pid_, SIGKILL);
  wait_exit(std::chrono::seconds(10));
  return -1;
}

}  // namespace schemagate::testing
