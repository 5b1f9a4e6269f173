#include "proxy/live_facts.h"

#include <gtest/gtest.h>

namespace schemagate::proxy {
namespace {

using policy::QualifiedName;

// Table names come from the client's SQL: they must reach the catalog query quoted, never raw.
TEST(LiveFacts, CatalogQueryQuotesHostileNames) {
  const std::vector<QualifiedName> tables = {{"", "orders"}, {"s", "x'); DROP TABLE y; --"}};
  const auto sql = LiveFacts::catalog_query(tables, false);
  EXPECT_NE(sql.find("(0, 'orders')"), std::string::npos) << sql;
  EXPECT_NE(sql.find("(1, 's.\"x''); DROP TABLE y; --\"')"), std::string::npos) << sql;
  EXPECT_NE(sql.find("to_regclass(t.name)"), std::string::npos);
}

TEST(LiveFacts, AnswersFromRowsAndResolvesUnqualifiedNames) {
  const std::vector<QualifiedName> tables = {{"", "orders"}, {"app", "Events"}, {"", "missing"}};
  LiveFacts f(150004);
  f.add_row({"0", "16384", "public", "123456", "9000000", "r",
             R"j([["id","bigint",true,1],["code","character varying(20)",false,3]])j",
             R"j([["orders_pkey",true,true,"1",1,false],["orders_expr",false,false,"0",1,false],)j"
             R"j(["orders_cover",true,true,"3 1",1,false]])j",
             R"j([["orders_pkey","p","PRIMARY KEY (id)",true],["c1","c","CHECK ((id > 0)) NOT VALID",false]])j"},
            tables);
  f.add_row({"1", "16390", "app", "-1", "8192", "p", std::nullopt, "not json", std::nullopt}, tables);
  f.add_row({"2", std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt,
             std::nullopt},
            tables);
  EXPECT_EQ(f.server_version_num(), 150004);
  ASSERT_TRUE(f.table_size({"", "orders"}));
  EXPECT_EQ(f.table_size({"", "orders"})->rows, 123456);
  EXPECT_EQ(f.table_size({"public", "orders"})->bytes, 9000000);  // asked with the resolved schema
  EXPECT_EQ(f.resolve_schema("orders"), "public");
  EXPECT_EQ(f.has_primary_key({"", "orders"}), true);
  EXPECT_EQ(f.is_partitioned({"app", "Events"}), true);
  EXPECT_FALSE(f.table_size({"app", "Events"}));  // reltuples unknown and no estimate: unknown
  EXPECT_FALSE(f.table_size({"", "missing"}));    // does not exist (yet): nothing known
  EXPECT_FALSE(f.has_primary_key({"", "missing"}));
  EXPECT_FALSE(f.table_size({"other", "orders"}));  // a different table of the same name
  EXPECT_EQ(f.column_type({"", "orders"}, "code"), "character varying(20)");
  EXPECT_FALSE(f.column_type({"", "orders"}, "nope"));
  const auto idx = f.indexes({"", "orders"});
  ASSERT_EQ(idx.size(), 3u);
  EXPECT_EQ(idx[0].name, "orders_pkey");
  EXPECT_TRUE(idx[0].unique);
  EXPECT_EQ(idx[0].columns, std::vector<std::string>{"id"});  // attnum 1
  EXPECT_FALSE(idx[1].valid);
  EXPECT_EQ(idx[1].columns, std::vector<std::string>{""});  // attnum 0: an expression
  EXPECT_EQ(idx[2].columns, std::vector<std::string>{"code"});  // key columns only, not INCLUDE (id)
  const auto cons = f.constraints({"public", "orders"});
  ASSERT_EQ(cons.size(), 2u);
  EXPECT_EQ(cons[1].type, 'c');
  EXPECT_FALSE(cons[1].validated);
  EXPECT_TRUE(f.indexes({"app", "Events"}).empty());  // malformed JSON: that part unknown
  EXPECT_EQ(f.is_partitioned({"app", "Events"}), true);  // ... the rest still known
  EXPECT_EQ(f.has_primary_key({"app", "Events"}), false);
  EXPECT_TRUE(f.describes({"", "orders"}));
  EXPECT_FALSE(f.describes({"app", "Events"}));  // partitioned, partitions not read yet
}

// Outside a transaction nothing can be created or locked by it: those columns are not asked.
TEST(LiveFacts, AsksTransactionFactsOnlyInsideATransaction) {
  const std::vector<QualifiedName> tables = {{"", "t"}};
  const auto outside = LiveFacts::catalog_query(tables, false);
  const auto inside = LiveFacts::catalog_query(tables, true);
  EXPECT_EQ(outside.find("pg_locks"), std::string::npos);
  EXPECT_EQ(outside.find("txid_current_if_assigned"), std::string::npos);
  EXPECT_NE(inside.find("pg_catalog.pg_locks"), std::string::npos);
  EXPECT_NE(inside.find("txid_current_if_assigned"), std::string::npos);
  // Neither reads partitions: that is the follow-up query's job.
  EXPECT_EQ(inside.find("pg_inherits"), std::string::npos);
  LiveFacts f(150000);
  f.add_row({"0", "1", "public", "5", "8192", "r", "[]", "[]", "[]"}, tables);
  EXPECT_TRUE(f.describes({"", "t"}));
  EXPECT_TRUE(f.created_in_transaction().empty());
  EXPECT_FALSE(f.holds_access_exclusive({"", "t"}));
  EXPECT_EQ(f.partitions_query(), "");  // nothing partitioned: no second round trip
}

TEST(LiveFacts, ReadsWhatTheOpenTransactionCreatedAndLocked) {
  const std::vector<QualifiedName> tables = {{"", "fresh"}, {"", "locked"}, {"", "old"}};
  LiveFacts f(150004);
  const auto row = [](const char* ord, const char* created, const char* locked) {
    return std::vector<std::optional<std::string>>{ord, "1", "public", "100000", "8192", "r", "[]", "[]", "[]",
                                                   created, locked};
  };
  f.add_row(row("0", "t", "t"), tables);  // fresh
  f.add_row(row("1", "f", "t"), tables);  // locked
  f.add_row(row("2", "f", "f"), tables);  // old
  ASSERT_EQ(f.created_in_transaction().size(), 1u);
  EXPECT_EQ(f.created_in_transaction()[0].name, "fresh");
  EXPECT_TRUE(f.holds_access_exclusive({"public", "locked"}));
  EXPECT_TRUE(f.holds_access_exclusive({"", "locked"}));
  EXPECT_FALSE(f.holds_access_exclusive({"public", "old"}));
  EXPECT_FALSE(f.holds_access_exclusive({"public", "unknown"}));
  // The query reads the session's own locks, granted, from pg_locks.
  const auto q = LiveFacts::catalog_query(tables, true);
  EXPECT_NE(q.find("pg_catalog.pg_locks"), std::string::npos);
  EXPECT_NE(q.find("pg_catalog.pg_backend_pid()"), std::string::npos);
}

TEST(LiveFacts, IgnoresMalformedRows) {
  const std::vector<QualifiedName> tables = {{"", "t"}};
  LiveFacts f(150000);
  f.add_row({"7", "1", "public", "1", "1", "r", "[]", "[]", "[]"}, tables);  // ord out of range
  f.add_row({"0", "public"}, tables);                                      // wrong width
  f.add_row({"0", "1", "public", "1", "1", "r", "[]", "[]", "[]", "t"}, tables);  // wrong width
  EXPECT_FALSE(f.table_size({"", "t"}));
}

}  // namespace
}  // namespace schemagate::proxy

namespace schemagate::proxy {
namespace {

TEST(LiveFacts, ReadsNullabilityPartialIndexesAndPartitions) {
  const std::vector<policy::QualifiedName> tables = {{"", "m"}, {"", "plain"}};
  LiveFacts f(150000);
  f.add_row({"0", "16500", "public", "10", "8192", "p", R"j([["id","bigint",true,1],["note","text",false,2]])j",
             R"j([["m_id_idx",true,true,"1",1,false],["m_part",true,true,"1",1,true]])j", "[]"},
            tables);
  f.add_row({"1", "16600", "public", "10", "8192", "r", "[]", "[]", "[]"}, tables);
  EXPECT_FALSE(f.describes({"", "m"}));  // until its partitions are read
  // The follow-up asks for the partitioned table only, by the oid the server gave, without
  // opening any relation.
  const auto q = f.partitions_query();
  EXPECT_NE(q.find("(16500::oid)"), std::string::npos) << q;
  EXPECT_EQ(q.find("16600"), std::string::npos) << q;
  EXPECT_NE(q.find("pg_inherits"), std::string::npos);
  EXPECT_EQ(q.find("pg_partition_tree"), std::string::npos);
  f.add_partitions_row({"16600", R"j([["public","x","public","plain","r",false]])j"});  // not partitioned: ignored
  f.add_partitions_row(
      {"16500",
       R"j([["public","m1","public","m","r",false],["public","m_def","public","m","r",true],["s","m2","public","m","p",false]])j"});
  EXPECT_TRUE(f.describes({"", "m"}));
  EXPECT_FALSE(f.describes({"", "other"}));
  EXPECT_TRUE(f.partitions({"", "plain"}).empty());
  EXPECT_EQ(f.column_not_null({"", "m"}, "id"), true);
  EXPECT_EQ(f.column_not_null({"", "m"}, "note"), false);
  EXPECT_FALSE(f.column_not_null({"", "m"}, "missing").has_value());
  const auto idx = f.indexes({"", "m"});
  ASSERT_EQ(idx.size(), 2u);
  EXPECT_FALSE(idx[0].partial);
  EXPECT_TRUE(idx[1].partial);
  const auto parts = f.partitions({"", "m"});
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[1].table.name, "m_def");
  EXPECT_TRUE(parts[1].is_default);
  EXPECT_TRUE(parts[2].partitioned);
  EXPECT_EQ(parts[2].table.schema, "s");
  EXPECT_EQ(parts[2].parent.name, "m");
  const auto cols = LiveFacts::catalog_query(tables, false);
  EXPECT_NE(cols.find("attnotnull"), std::string::npos);
}

}  // namespace
}  // namespace schemagate::proxy
