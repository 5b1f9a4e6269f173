#pragma once
// A throwaway PostgreSQL 15 cluster for one test suite: its own temp dir, a free port on
// 127.0.0.1, a unix socket in the temp dir, fsync off. Stopped and removed when destroyed.
#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace schemagate::testing {

struct PgClusterOptions {
  /// pg_hba.conf lines; empty means trust for local sockets and 127.0.0.1.
  std::vector<std::string> hba;
  /// Extra postgresql.conf lines (e.g. "ssl = on", "password_encryption = md5").
  std::vector<std::string> conf;
  int max_connections = 100;
};

class PgCluster {
 public:
  /// initdb (from a cached template, made once per machine under a file lock) and start.
  static std::unique_ptr<PgCluster> start(PgClusterOptions options = {});
  /// A streaming-replication standby of `primary` (pg_basebackup -R), started. The primary's
  /// pg_hba.conf must allow `host replication all 127.0.0.1/32`.
  static std::unique_ptr<PgCluster> start_standby(const PgCluster& primary);
  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  int port() const { return port_; }
  const std::string& dir() const { return dir_.path(); }
  std::string data_dir() const { return dir_.path() + "/data"; }
  /// libpq conninfo for a direct TCP connection as the superuser, plus `extra` settings.
  std::string conninfo(const std::string& extra = "") const;

  /// Copies `src` into the cluster dir as `name`, owned by the server's OS user, mode 0600.
  /// Returns the new path (for ssl_cert_file / ssl_key_file).
  std::string install_file(const std::string& src, const std::string& name) const;

  void set_hba(const std::vector<std::string>& lines);
  void append_conf(const std::vector<std::string>& lines);
  void reload();
  void start_server();
  void stop_server();  // fast shutdown
  void restart();
  bool running() const { return running_; }
  std::string server_log() const;

 private:
  PgCluster() : dir_("sg-pg") {}
  void ctl(const std::vector<std::string>& args);
  void start_reaper();
  TempDir dir_;
  // A watchdog process that stops the postmaster and removes the dir if this test process
  // dies without running destructors (crash, abort, SIGKILL by a ctest timeout).
  int reaper_pipe_ = -1;
  pid_t reaper_pid_ = -1;
  int port_ = 0;
  bool running_ = false;
};

}  // namespace schemagate::testing
