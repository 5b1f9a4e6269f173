#include "proxy/cancel_map.h"

#include <gtest/gtest.h>

#include <set>

namespace schemagate::proxy {
namespace {

TEST(CancelMap, FindsTheServerKeyOnlyWithTheRightSecret) {
  CancelMap m;
  const auto k = m.add(ServerKey{4242, 777, nullptr, {}, nullptr, nullptr});
  const auto found = m.find(k.pid, k.secret);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->pid, 4242u);
  EXPECT_EQ(found->secret, 777u);
  EXPECT_FALSE(m.find(k.pid, k.secret ^ 1));  // forged secret
  EXPECT_FALSE(m.find(k.pid ^ 2, k.secret));  // unknown pid
  m.remove(k.pid);
  EXPECT_FALSE(m.find(k.pid, k.secret));
}

// A CancelRequest must also reach the proxy's own work for the session (a running plan).
TEST(CancelMap, CarriesTheSessionsCancelFlag) {
  CancelMap m;
  auto flag = std::make_shared<std::atomic<bool>>(false);
  const auto k = m.add(ServerKey{1, 2, flag, {}, nullptr, nullptr});
  const auto found = m.find(k.pid, k.secret);
  ASSERT_TRUE(found && found->cancelled);
  found->cancelled->store(true);
  EXPECT_TRUE(flag->load());
}

// The client must never see the real backend key: proxy keys are fresh and unique.
TEST(CancelMap, ProxyKeysAreUniqueAndUnrelatedToServerKeys) {
  CancelMap m;
  std::set<std::uint32_t> pids;
  for (int i = 0; i < 1000; ++i) {
    const auto k = m.add(ServerKey{100, 200, nullptr, {}, nullptr, nullptr});
    EXPECT_NE(k.pid, 100u);
    EXPECT_GT(k.pid, 0u);
    EXPECT_LE(k.pid, 0x7fffffffu);
    pids.insert(k.pid);
  }
  EXPECT_EQ(pids.size(), 1000u);
  EXPECT_EQ(m.size(), 1000u);
}

}  // namespace
}  // namespace schemagate::proxy
