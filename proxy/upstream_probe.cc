#include "proxy/upstream_probe.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>


namespace schemagate::proxy {
namespace {

using Clock = std::chrono::steady_clock;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

int ms_left(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

/// Waits for `events` on `fd`; "" when ready.
std::string wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, ms_left(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::string("poll: ") + std::strerror(errno);
    if (n == 0) return "timed out";
    return {};
  }
}

/// Connects a non-blocking socket to `addr`, by `deadline`.
std::string connect_by(int fd, const sockaddr* addr, socklen_t len, Clock::time_point deadline) {
  if (::connect(fd, addr, len) == 0) return {};
  if (errno != EINPROGRESS) return std::strerror(errno);
  if (auto e = wait_for(fd, POLLOUT, deadline); !e.empty()) return e;
  int err = 0;
  socklen_t el = sizeof err;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
  return err == 0 ? std::string() : std::strerror(err);
}

}  // namespace

std::string probe_upstream(const config::Upstream& up, std::uint32_t timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  if (up.is_unix_socket()) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    const auto path = up.unix_socket_path();
    if (path.size() >= sizeof sa.sun_path) return "socket path too long";
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) return std::strerror(errno);
    if (auto e = connect_by(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa, deadline); !e.empty())
      return path + ": " + e;
    return {};
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const auto port = std::to_string(up.port);
  if (const int rc = ::getaddrinfo(up.host.c_str(), port.c_str(), &hints, &found); rc != 0)
    return up.describe() + ": " + ::gai_strerror(rc);
  std::string last = "no address";
  for (auto* a = found; a != nullptr; a = a->ai_next) {
    Fd fd(::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
    if (fd.get() < 0) {
      last = std::strerror(errno);
      continue;
    }
    last = connect_by(fd.get(), a->ai_addr, a->ai_addrlen, deadline);
    if (last.empty()) break;
  }
  ::freeaddrinfo(found);
  return last.empty() ? last : up.describe() + ": " + last;
}

}  // namespace schemagate::proxy
