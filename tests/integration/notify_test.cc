// LISTEN/NOTIFY through schemagate: a notification reaches a client that sits idle, without
// the client sending anything.
#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

class Notify : public ProxiedPg {};

struct Notification {
  std::string channel, payload;
  int pid = 0;
};

/// Waits on the socket only (no query is sent) until a notification arrives.
std::optional<Notification> wait_notification(PGconn* c, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (PGnotify* n = PQnotifies(c)) {
      Notification out{n->relname, n->extra, n->be_pid};
      PQfreemem(n);
      return out;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return std::nullopt;
    pollfd p{PQsocket(c), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) > 0 && !PQconsumeInput(c)) return std::nullopt;
  }
}

TEST_F(Notify, IdleListenerReceivesNotificationsFromOtherSessions) {
  auto listener = via_proxy();
  ASSERT_TRUE(listener.exec("LISTEN orders_changed").ok);
  auto notifier = via_proxy();
  const std::string notifier_pid = notifier.scalar("SELECT pg_backend_pid()");
  ASSERT_TRUE(notifier.exec("NOTIFY orders_changed, 'order 17 shipped'").ok);

  const auto n = wait_notification(listener.get(), 5s);
  ASSERT_TRUE(n.has_value()) << "the idle listener got no notification";
  EXPECT_EQ(n->channel, "orders_changed");
  EXPECT_EQ(n->payload, "order 17 shipped");
  EXPECT_EQ(std::to_string(n->pid), notifier_pid);

  // Several, in order, including one sent directly to the server and one from a transaction.
  auto d = direct();
  ASSERT_TRUE(d.exec("SELECT pg_notify('orders_changed', 'direct')").ok);
  ASSERT_TRUE(notifier.exec("BEGIN; NOTIFY orders_changed, 'tx 1'; NOTIFY orders_changed, 'tx 2'; COMMIT").ok);
  std::vector<std::string> got;
  while (got.size() < 3) {
    const auto m = wait_notification(listener.get(), 5s);
    if (!m) break;
    got.push_back(m->payload);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"direct", "tx 1", "tx 2"}));
  // The listener's session is still in sync.
  EXPECT_EQ(listener.scalar("SELECT 'ok'"), "ok");
}

TEST_F(Notify, UnlistenStopsDelivery) {
  auto listener = via_proxy();
  ASSERT_TRUE(listener.exec("LISTEN a; LISTEN b").ok);
  ASSERT_TRUE(listener.exec("UNLISTEN a").ok);
  auto notifier = via_proxy();
  ASSERT_TRUE(notifier.exec("NOTIFY a, 'ignored'; NOTIFY b, 'delivered'").ok);
  const auto n = wait_notification(listener.get(), 5s);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->channel, "b");
  EXPECT_EQ(n->payload, "delivered");
  EXPECT_FALSE(wait_notification(listener.get(), 300ms).has_value());
}

}  // namespace
}  // namespace schemagate::testing
