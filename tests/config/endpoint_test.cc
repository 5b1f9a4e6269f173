#include "config/endpoint.h"

#include <gtest/gtest.h>

namespace schemagate::config {
namespace {

TEST(Endpoint, ParsesHostAndPort) {
  auto e = parse_endpoint("127.0.0.1:6432");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 6432);
  e = parse_endpoint("[::1]:5432");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "::1");
  e = parse_endpoint("db.internal:5432");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "db.internal");
}

TEST(Endpoint, RejectsMissingOrBadPorts) {
  for (const char* bad : {"127.0.0.1", "127.0.0.1:", ":5432", "h:0", "h:65536", "h:54x", "[::1:5432"})
    EXPECT_FALSE(parse_endpoint(bad)) << bad;
}

}  // namespace
}  // namespace schemagate::config
