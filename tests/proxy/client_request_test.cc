#include "proxy/client_request.h"

#include <gtest/gtest.h>

namespace schemagate::proxy {
namespace {

TEST(ClientRequest, TracksFramesAndWhetherSqlIsCarried) {
  ClientRequest r;
  r.add('B', 20);
  r.add('E', 10);
  EXPECT_FALSE(r.needs_inspection());  // Bind/Execute of a prepared statement: nothing to judge
  r.add('S', 5);
  EXPECT_EQ(r.size(), 35u);
  EXPECT_EQ(r.terminator(), 'S');
  EXPECT_EQ(r.frames()[1].offset, 20u);
  r.clear();
  EXPECT_TRUE(r.empty());
  r.add('P', 30);
  EXPECT_TRUE(r.needs_inspection());
}

// A DDL sent with Parse/Bind/Execute must not reach the server before its Sync (or Flush).
TEST(ClientRequest, OnlyTerminatorsEndARequest) {
  for (char t : {'Q', 'S', 'H', 'F', 'd', 'c', 'f', 'X'}) EXPECT_TRUE(ClientRequest::ends_request(t)) << t;
  for (char t : {'P', 'B', 'E', 'D', 'C'}) EXPECT_FALSE(ClientRequest::ends_request(t)) << t;
}

TEST(ClientRequest, FrameViewsPointIntoTheRequestBytes) {
  const char raw[] = "Q\0\0\0\x0bSELECT 1";
  std::vector<std::byte> bytes(reinterpret_cast<const std::byte*>(raw), reinterpret_cast<const std::byte*>(raw) + 13);
  ClientRequest r;
  r.add('Q', bytes.size());
  const auto f = r.frame(0, bytes);
  EXPECT_EQ(f.tag, 'Q');
  EXPECT_EQ(f.body.size(), 8u);
  EXPECT_EQ(f.body.data(), bytes.data() + 5);
}

}  // namespace
}  // namespace schemagate::proxy
