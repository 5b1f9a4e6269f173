#pragma once
// Small POSIX helpers shared by the integration-test support code: temp dirs, free ports,
// running a command and capturing its output.
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace schemagate::testing {

/// A directory from mkdtemp, removed recursively (rm -rf) when destroyed, even if a test failed.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "sg-it");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  void keep() { keep_ = true; }

 private:
  std::string path_;
  bool keep_ = false;
};

struct CommandResult {
  int exit_code = -1;   // exit status, or 128+signal
  std::string output;   // stdout and stderr, interleaved (stdout only with run_command_split)
  std::string errors;   // stderr, with run_command_split
};

/// Runs argv (PATH lookup) and waits for it. stdin is /dev/null. Kills it after `timeout`.
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = std::chrono::seconds(120));

/// Like run_command, but keeps stderr apart from stdout.
CommandResult run_command_split(const std::vector<std::string>& argv,
                                std::chrono::milliseconds timeout = std::chrono::seconds(120));

/// Prefixes argv with `runuser -u postgres --` when running as root (PostgreSQL refuses root).
std::vector<std::string> as_postgres(std::vector<std::string> argv);
bool running_as_root();
/// chown to the postgres OS user when root; no-op otherwise.
void chown_to_postgres(const std::string& path);

/// A TCP port on 127.0.0.1 that nobody listens on right now (bind to port 0, read it, close).
int free_port();
/// True if something accepts TCP connections on 127.0.0.1:port.
bool port_accepts(int port);

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& text);

/// Resident set size of a process in KiB (VmRSS from /proc/PID/status), -1 if unknown.
long rss_kib(pid_t pid);
/// CPU seconds (user + system) the process has used so far, from /proc/PID/stat.
double cpu_seconds(pid_t pid);

/// Raises RLIMIT_NOFILE's soft limit towards `want` (up to the hard limit); returns the new soft limit.
long raise_fd_limit(long want);

}  // namespace schemagate::testing
