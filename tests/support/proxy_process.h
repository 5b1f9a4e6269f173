#pragma once
// The real `schemagate serve` binary as a child process on a free port, its log in a temp dir.
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace schemagate::testing {

struct ProxyOptions {
  int upstream_port = 0;
  std::string upstream_host = "127.0.0.1";
  /// YAML written to a file and passed as --config; empty = no config file.
  std::string config_yaml;
  std::vector<std::string> extra_args;
  /// --mode: these tests are about the transparent proxy, so statements are judged but all
  /// forwarded ("observe"); "" leaves the config's / built-in mode.
  std::string policy_mode = "observe";
  /// Wait until the proxy logs that it listens (false: return right after exec).
  bool wait_ready = true;
};

/// The schemagate binary under test: $SG_SCHEMAGATE if set, else the one of this build tree.
std::string proxy_binary();

class ProxyProcess {
 public:
  static std::unique_ptr<ProxyProcess> start(ProxyOptions options);
  static std::unique_ptr<ProxyProcess> start(int upstream_port, const std::string& config_yaml = "") {
    ProxyOptions o;
    o.upstream_port = upstream_port;
    o.config_yaml = config_yaml;
    return start(o);
  }
  ~ProxyProcess();  // SIGTERM, then SIGKILL after 10 s; prints the log if the test failed
  ProxyProcess(const ProxyProcess&) = delete;
  ProxyProcess& operator=(const ProxyProcess&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_.path(); }
  /// libpq conninfo through the proxy as the superuser, plus `extra`.
  std::string conninfo(const std::string& extra = "") const;
  std::string log() const;

  /// Sends SIGTERM and waits up to `timeout`; returns the exit code (128+sig if killed by a signal),
  /// or -1 if it did not exit in time (then it is SIGKILLed).
  int terminate(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  /// Kills the proxy with SIGKILL (a crash, as far as anything it runs is concerned) and waits
  /// for it; the destructor then does not count the exit as a failure.
  void kill_hard();
  /// Waits for exit without signalling; -1 on timeout.
  int wait_exit(std::chrono::milliseconds timeout);
  bool alive();
  long rss_kib() const { return schemagate::testing::rss_kib(pid_); }
  /// True if the running binary has AddressSanitizer loaded (memory figures are inflated).
  bool sanitized() const;

 private:
  ProxyProcess() : dir_("sg-proxy") {}
  TempDir dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  int exit_code_ = -1;
  bool killed_on_purpose_ = false;
};

}  // namespace schemagate::testing
