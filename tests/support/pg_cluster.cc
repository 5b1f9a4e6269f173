#include "tests/support/pg_cluster.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <stdexcept>

namespace schemagate::testing {
namespace {

const std::string kBin = SG_PG_BINDIR;

bool exists(const std::string& p) {
  struct stat st{};
  return ::stat(p.c_str(), &st) == 0;
}

/// initdb takes seconds; every test process copies one template instead. The template is
/// built once per machine, under an exclusive lock so that parallel ctest jobs wait for it.
std::string template_data_dir() {
  const std::string root = "/tmp/schemagate-it-pg15-template-" + std::to_string(::geteuid()) + "-v1";
  const std::string lock_path = root + ".lock";
  const int lock = ::open(lock_path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (lock < 0) throw std::runtime_error("cannot open " + lock_path);
  ::flock(lock, LOCK_EX);
  const std::string marker = root + "/complete";
  if (!exists(marker)) {
    run_command({"rm", "-rf", root});
    ::mkdir(root.c_str(), 0755);
    chown_to_postgres(root);
    const auto r = run_command(as_postgres({kBin + "/initdb", "-D", root + "/data", "-U", "postgres", "--auth=trust",
                                            "--encoding=UTF8", "--locale=C", "--no-sync"}));
    if (r.exit_code != 0) {
      ::close(lock);
      throw std::runtime_error("initdb failed:\n" + r.output);
    }
    write_file(marker, "ok\n");
  }
  ::close(lock);  // releases the lock
  return root + "/data";
}

}  // namespace

std::unique_ptr<PgCluster> PgCluster::start(PgClusterOptions options) {
  std::unique_ptr<PgCluster> c(new PgCluster());
  chown_to_postgres(c->dir());
  c->start_reaper();
  const auto cp = run_command({"cp", "-a", template_data_dir(), c->data_dir()});
  if (cp.exit_code != 0) throw std::runtime_error("copying the template cluster failed:\n" + cp.output);
  c->port_ = free_port();
  std::vector<std::string> conf = {
      "",
      "# schemagate integration test cluster",
      "listen_addresses = '127.0.0.1'",
      "port = " + std::to_string(c->port_),
      "unix_socket_directories = '" + c->dir() + "'",
      "max_connections = " + std::to_string(options.max_connections),
      "fsync = off",
      "synchronous_commit = off",
      "full_page_writes = off",
      "log_line_prefix = '%m [%p] %q%a '",
  };
  conf.insert(conf.end(), options.conf.begin(), options.conf.end());
  c->append_conf(conf);
  c->set_hba(options.hba.empty() ? std::vector<std::string>{"local all all trust", "host all all 127.0.0.1/32 trust"}
                                 : options.hba);
  c->start_server();
  return c;
}

std::unique_ptr<PgCluster> PgCluster::start_standby(const PgCluster& primary) {
  std::unique_ptr<PgCluster> c(new PgCluster());
  chown_to_postgres(c->dir());
  c->start_reaper();
  const auto r = run_command(as_postgres({kBin + "/pg_basebackup", "-h", "127.0.0.1", "-p", std::to_string(primary.port()),
                                          "-U", "postgres", "-D", c->data_dir(), "-R", "-X", "stream",
                                          "--no-sync", "-c", "fast"}));
  if (r.exit_code != 0) throw std::runtime_error("pg_basebackup failed:\n" + r.output);
  c->port_ = free_port();
  // The copied postgresql.conf is the primary's: later lines win.
  c->append_conf({"", "# standby of port " + std::to_string(primary.port()), "port = " + std::to_string(c->port_),
                  "unix_socket_directories = '" + c->dir() + "'", "hot_standby = on"});
  c->start_server();
  return c;
}

void PgCluster::start_reaper() {
  // `sh` waits on its stdin, the read end of a pipe whose write end only this process holds
  // (close-on-exec). The destructor writes "done"; EOF without it means the process died: then,
  // after letting an in-flight cp/pg_ctl finish, stop the postmaster and remove the dir.
  const std::string script =
      "read -r v; [ \"$v\" = done ] && exit 0; sleep 2; d='" + dir() + "'; f=\"$d/data/postmaster.pid\"; "
      "if [ -f \"$f\" ]; then p=$(head -n1 \"$f\"); kill -INT \"$p\" 2>/dev/null; "
      "for i in $(seq 100); do kill -0 \"$p\" 2>/dev/null || break; sleep 0.1; done; "
      "kill -QUIT \"$p\" 2>/dev/null; fi; rm -rf \"$d\"";
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setsid();  // outlive a kill of the test's process group
    ::dup2(fds[0], 0);
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    ::execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ::close(fds[0]);
  if (pid < 0) {
    ::close(fds[1]);
    return;
  }
  reaper_pipe_ = fds[1];
  reaper_pid_ = pid;
}

PgCluster::~PgCluster() {
  try {
    if (running_) stop_server();
  } catch (...) {
  }
  // Last resort: a postmaster still alive would keep files open in a removed dir.
  const std::string pidfile = data_dir() + "/postmaster.pid";
  if (exists(pidfile)) {
    const std::string text = read_file(pidfile);
    const long pid = std::strtol(text.c_str(), nullptr, 10);
    if (pid > 0) ::kill(static_cast<pid_t>(pid), SIGQUIT);
  }
  // The server is stopped: let the watchdog find nothing to do, and reap it. The TempDir member
  // removes the directory after this.
  if (reaper_pipe_ >= 0) {
    [[maybe_unused]] const auto n = ::write(reaper_pipe_, "done\n", 5);
    ::close(reaper_pipe_);
  }
  if (reaper_pid_ > 0) {
    int status = 0;
    while (::waitpid(reaper_pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

std::string PgCluster::conninfo(const std::string& extra) const {
  std::string s = "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=postgres user=postgres sslmode=disable";
  if (!extra.empty()) s += " " + extra;
  return s;
}

std::string PgCluster::install_file(const std::string& src, const std::string& name) const {
  const std::string dst = dir() + "/" + name;
  write_file(dst, read_file(src));
  ::chmod(dst.c_str(), 0600);
  chown_to_postgres(dst);
  return dst;
}

void PgCluster::set_hba(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  const std::string path = data_dir() + "/pg_hba.conf";
  write_file(path, text);
  chown_to_postgres(path);
}

void PgCluster::append_conf(const std::vector<std::string>& lines) {
  const std::string path = data_dir() + "/postgresql.conf";
  std::string text = read_file(path);
  for (const auto& l : lines) text += l + "\n";
  write_file(path, text);
  chown_to_postgres(path);
}

void PgCluster::ctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{kBin + "/pg_ctl", "-D", data_dir()};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto r = run_command(as_postgres(argv));
  if (r.exit_code != 0)
    throw std::runtime_error("pg_ctl " + args.back() + " failed:\n" + r.output + "\n--- server log ---\n" +
                             server_log());
}

void PgCluster::reload() { ctl({"reload"}); }

void PgCluster::start_server() {
  ctl({"-l", dir() + "/server.log", "-w", "-t", "60", "start"});
  running_ = true;
}

void PgCluster::stop_server() {
  running_ = false;
  ctl({"-m", "fast", "-w", "-t", "60", "stop"});
}

void PgCluster::restart() {
  stop_server();
  start_server();
}

std::string PgCluster::server_log() const { return read_file(dir() + "/server.log"); }

}  // namespace schemagate::testing
