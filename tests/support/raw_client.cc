#include "tests/support/raw_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace schemagate::testing {

std::string BackendMessage::field(char code) const {
  std::size_t i = 0;
  while (i < body.size() && body[i] != '\0') {
    const char c = body[i++];
    const auto end = body.find('\0', i);
    if (end == std::string::npos) break;
    if (c == code) return body.substr(i, end - i);
    i = end + 1;
  }
  return "";
}

namespace wire {
std::string be32(std::uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                     static_cast<char>(v)};
  return std::string(b, 4);
}
std::string startup(const std::map<std::string, std::string>& params) {
  std::string body = be32(196608);
  for (const auto& [k, v] : params) body += k + '\0' + v + '\0';
  body += '\0';
  return be32(static_cast<std::uint32_t>(body.size() + 4)) + body;
}
std::string cancel_request(std::uint32_t pid, std::uint32_t key) {
  return be32(16) + be32(80877102) + be32(pid) + be32(key);
}
std::string ssl_request() { return be32(8) + be32(80877103); }
std::string message(char tag, const std::string& body) {
  return std::string(1, tag) + be32(static_cast<std::uint32_t>(body.size() + 4)) + body;
}
std::string query(const std::string& sql) { return message('Q', sql + '\0'); }
std::string terminate() { return message('X', ""); }
}  // namespace wire

RawClient RawClient::connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    const std::string err = std::strerror(errno);
    ::close(fd);
    throw std::runtime_error("RawClient: connect to port " + std::to_string(port) + ": " + err);
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return RawClient(fd);
}

RawClient::~RawClient() {
  if (fd_ >= 0) ::close(fd_);
}

void RawClient::send(const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("RawClient: send: ") + std::strerror(errno));
    }
    off += static_cast<std::size_t>(n);
  }
}

std::optional<BackendMessage> RawClient::read(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (buf_.size() >= 5) {
      const auto* p = reinterpret_cast<const unsigned char*>(buf_.data());
      const std::uint32_t len = (std::uint32_t{p[1]} << 24) | (std::uint32_t{p[2]} << 16) |
                                (std::uint32_t{p[3]} << 8) | std::uint32_t{p[4]};
      if (len < 4) throw std::runtime_error("RawClient: bad length from server");
      if (buf_.size() >= 1 + static_cast<std::size_t>(len)) {
        BackendMessage m{buf_[0], buf_.substr(5, len - 4)};
        buf_.erase(0, 1 + len);
        return m;
      }
    }
    if (eof_) return std::nullopt;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    char tmp[65536];
    const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof_ = true;  // orderly close or reset
      continue;
    }
    buf_.append(tmp, static_cast<std::size_t>(n));
  }
}

std::vector<BackendMessage> RawClient::read_until_ready(std::chrono::milliseconds timeout) {
  std::vector<BackendMessage> out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    auto m = read(left);
    if (!m) break;
    out.push_back(*m);
    if (m->tag == 'Z') break;
  }
  return out;
}

bool RawClient::wait_closed(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!eof_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    read(left);
  }
  return true;
}

std::vector<BackendMessage> RawClient::startup(const std::string& user, const std::string& database) {
  send(wire::startup({{"user", user}, {"database", database}}));
  return read_until_ready();
}

std::vector<BackendMessage> RawClient::simple_query(const std::string& sql) {
  send(wire::query(sql));
  return read_until_ready();
}

std::optional<BackendMessage> first_error(const std::vector<BackendMessage>& msgs) { return find_message(msgs, 'E'); }

std::optional<BackendMessage> find_message(const std::vector<BackendMessage>& msgs, char tag) {
  for (const auto& m : msgs)
    if (m.tag == tag) return m;
  return std::nullopt;
}

}  // namespace schemagate::testing
