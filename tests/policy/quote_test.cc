#include "policy/quote.h"

#include <gtest/gtest.h>

namespace schemagate::policy {
namespace {

TEST(Quote, IdentifiersBareOnlyWhenSafe) {
  EXPECT_EQ(quote_ident("orders"), "orders");
  EXPECT_EQ(quote_ident("order_items_2"), "order_items_2");
  EXPECT_EQ(quote_ident("Orders"), "\"Orders\"");
  EXPECT_EQ(quote_ident("select"), "\"select\"");
  EXPECT_EQ(quote_ident("user"), "\"user\"");
  EXPECT_EQ(quote_ident("2fast"), "\"2fast\"");
  EXPECT_EQ(quote_ident("a b"), "\"a b\"");
  EXPECT_EQ(quote_ident("x\"; DROP TABLE t; --"), "\"x\"\"; DROP TABLE t; --\"");
  EXPECT_EQ(quote_ident(""), "\"\"");
  EXPECT_EQ(quote_ident("tablé"), "\"tablé\"");
}

TEST(Quote, Literals) {
  EXPECT_EQ(quote_literal("abc"), "'abc'");
  EXPECT_EQ(quote_literal("it's"), "'it''s'");
  EXPECT_EQ(quote_literal("a\\b"), "E'a\\\\b'");
  EXPECT_EQ(quote_literal("'; DROP TABLE t; --"), "'''; DROP TABLE t; --'");
}

TEST(Quote, Qualified) {
  EXPECT_EQ(quote_qualified("", "t"), "t");
  EXPECT_EQ(quote_qualified("public", "t"), "public.t");
  EXPECT_EQ(quote_qualified("My Schema", "T"), "\"My Schema\".\"T\"");
}

}  // namespace
}  // namespace schemagate::policy
