// The floor, not a product: the least a TCP proxy can do per message on this kernel. One thread,
// one level-triggered epoll set, one recv and one send per readiness event, no protocol parsing,
// no TLS, no policy, no limits. pgbench-vs-pgbouncer.sh (SUBJECT=floor) measures it with the same
// harness as schemagate and PgBouncer, so "proxy CPU per transaction" can be read against what
// the kernel itself costs (TCP send and receive, wake-ups, scheduling).
//
//   min_forwarder LISTEN_PORT UPSTREAM_PORT [UNIX_SOCKET_PATH]
//
// Loopback only. Not hardened: a bench tool, never a test and never deployed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

struct Side {
  int fd;
  Side* peer;
  char buf[16384];
};

int connect_upstream(int port, const char* unix_path) {
  if (unix_path != nullptr) {
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", unix_path);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
    close(fd);
    return -1;
  }
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
  }
  close(fd);
  return -1;
}

Side closed_marker{-1, nullptr, {}};  // events of a pair closed earlier in the same batch

void close_pair(int ep, Side* s) {
  Side* p = s->peer;
  epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, nullptr);
  epoll_ctl(ep, EPOLL_CTL_DEL, p->fd, nullptr);
  close(s->fd);
  close(p->fd);
  delete s;
  delete p;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s LISTEN_PORT UPSTREAM_PORT [UNIX_SOCKET_PATH]\n", argv[0]);
    return 2;
  }
  const int listen_port = std::atoi(argv[1]);
  const int upstream_port = std::atoi(argv[2]);
  const char* unix_path = argc > 3 ? argv[3] : nullptr;

  const int ls = socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(listen_port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(ls, 512) != 0) {
    std::perror("listen");
    return 1;
  }
  const int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // the listener
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);

  epoll_event events[128];
  for (;;) {
    const int n = epoll_wait(ep, events, 128, -1);
    for (int i = 0; i < n; ++i) {
      auto* side = static_cast<Side*>(events[i].data.ptr);
      if (side == &closed_marker) continue;
      if (side == nullptr) {
        const int cfd = accept4(ls, nullptr, nullptr, 0);
        if (cfd < 0) continue;
        const int ufd = connect_upstream(upstream_port, unix_path);
        if (ufd < 0) {
          close(cfd);
          continue;
        }
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        auto* client = new Side{cfd, nullptr, {}};
        auto* server = new Side{ufd, client, {}};
        client->peer = server;
        ev.data.ptr = client;
        epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
        ev.data.ptr = server;
        epoll_ctl(ep, EPOLL_CTL_ADD, ufd, &ev);
        continue;
      }
      // Blocking sockets: a readiness event means recv returns data (or EOF) at once, and a
      // send of a few hundred bytes to a loopback peer never waits in this benchmark.
      const ssize_t got = recv(side->fd, side->buf, sizeof side->buf, 0);
      if (got <= 0) {
        Side* peer = side->peer;
        close_pair(ep, side);
        for (int j = i + 1; j < n; ++j)  // the pair may have more events in this batch
          if (events[j].data.ptr == side || events[j].data.ptr == peer) events[j].data.ptr = &closed_marker;
        continue;
      }
      for (ssize_t off = 0; off < got;) {
        const ssize_t put = send(side->peer->fd, side->buf + off, static_cast<size_t>(got - off), MSG_NOSIGNAL);
        if (put <= 0) break;
        off += put;
      }
    }
  }
}
