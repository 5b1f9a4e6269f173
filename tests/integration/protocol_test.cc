// Everyday protocol traffic through schemagate, as a libpq application sees it: simple and
// extended queries, pipelining, notices, ParameterStatus, the FunctionCall fast path, Terminate.
#include <libpq/libpq-fs.h>

#include <vector>

#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

class Protocol : public ProxiedPg {};

std::vector<QueryResult> all_results(PGconn* c) {
  std::vector<QueryResult> out;
  while (PGresult* r = PQgetResult(c)) out.push_back(QueryResult::from(r, c));
  return out;
}

TEST_F(Protocol, MultiStatementSimpleQueryReturnsEveryResult) {
  auto c = via_proxy();
  ASSERT_TRUE(PQsendQuery(c.get(), "SELECT 1 AS a; SELECT 'two' AS b, NULL AS c; CREATE TEMP TABLE t(x int)"));
  const auto results = all_results(c.get());
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].value(), "1");
  EXPECT_EQ(results[1].columns, (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(results[1].value(0, 0), "two");
  EXPECT_FALSE(results[1].rows[0][1].has_value());
  EXPECT_EQ(results[2].command_status, "CREATE TABLE");
}

TEST_F(Protocol, ErrorInTheMiddleOfAMultiStatementStringStopsItAndTheSessionGoesOn) {
  auto c = via_proxy();
  ASSERT_TRUE(PQsendQuery(c.get(), "SELECT 1; SELECT 1/0; SELECT 3"));
  const auto results = all_results(c.get());
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].value(), "1");
  EXPECT_EQ(results[1].sqlstate, "22012");
  EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_IDLE);
  EXPECT_EQ(c.scalar("SELECT 40 + 2"), "42");
}

TEST_F(Protocol, TransactionStatusFollowsTheServer) {
  auto c = via_proxy();
  ASSERT_TRUE(c.exec("BEGIN").ok);
  EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_INTRANS);
  EXPECT_EQ(c.exec("SELECT nope").sqlstate, "42703");
  EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_INERROR);
  EXPECT_EQ(c.exec("SELECT 1").sqlstate, "25P02");
  ASSERT_TRUE(c.exec("ROLLBACK").ok);
  EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_IDLE);
}

TEST_F(Protocol, ExecParamsWithTextAndNullParameters) {
  auto c = via_proxy();
  const auto r = c.exec_params("SELECT $1::int + $2::int, $3::text IS NULL, length($4)",
                               {"40", "2", std::nullopt, std::string(100000, 'x')});
  ASSERT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.value(0, 0), "42");
  EXPECT_EQ(r.value(0, 1), "t");
  EXPECT_EQ(r.value(0, 2), "100000");
  const auto err = c.exec_params("SELECT 10 / $1::int", {"0"});
  EXPECT_EQ(err.sqlstate, "22012");
  EXPECT_EQ(c.exec_params("SELECT $1::text", {"still fine"}).value(), "still fine");
}

TEST_F(Protocol, BinaryResultsAreRelayedByteForByte) {
  auto c = via_proxy();
  PGresult* res = PQexecParams(c.get(), "SELECT 258::int4, '\\x00ff00'::bytea", 0, nullptr, nullptr, nullptr, nullptr, 1);
  ASSERT_EQ(PQresultStatus(res), PGRES_TUPLES_OK) << PQerrorMessage(c.get());
  ASSERT_EQ(PQgetlength(res, 0, 0), 4);
  const auto* v = reinterpret_cast<const unsigned char*>(PQgetvalue(res, 0, 0));
  EXPECT_EQ((v[0] << 24) | (v[1] << 16) | (v[2] << 8) | v[3], 258);
  ASSERT_EQ(PQgetlength(res, 0, 1), 3);
  EXPECT_EQ(std::string(PQgetvalue(res, 0, 1), 3), std::string("\0\xff\0", 3));
  PQclear(res);
}

TEST_F(Protocol, NamedAndUnnamedPreparedStatements) {
  auto c = via_proxy();
  PGresult* p = PQprepare(c.get(), "add", "SELECT $1::int + $2::int", 2, nullptr);
  ASSERT_EQ(PQresultStatus(p), PGRES_COMMAND_OK) << PQerrorMessage(c.get());
  PQclear(p);
  PGresult* d = PQdescribePrepared(c.get(), "add");
  ASSERT_EQ(PQresultStatus(d), PGRES_COMMAND_OK);
  EXPECT_EQ(PQnparams(d), 2);
  EXPECT_EQ(PQnfields(d), 1);
  PQclear(d);
  for (int i = 0; i < 3; ++i) {
    const std::string a = std::to_string(i), b = std::to_string(i * 10);
    const char* vals[2] = {a.c_str(), b.c_str()};
    auto r = QueryResult::from(PQexecPrepared(c.get(), "add", 2, vals, nullptr, nullptr, 0), c.get());
    ASSERT_TRUE(r.ok) << r.message;
    EXPECT_EQ(r.value(), std::to_string(i * 11));
  }
  // The unnamed statement.
  p = PQprepare(c.get(), "", "SELECT upper($1::text)", 1, nullptr);
  ASSERT_EQ(PQresultStatus(p), PGRES_COMMAND_OK);
  PQclear(p);
  const char* v[1] = {"abc"};
  EXPECT_EQ(QueryResult::from(PQexecPrepared(c.get(), "", 1, v, nullptr, nullptr, 0), c.get()).value(), "ABC");
  // The named statement is still there, and DEALLOCATE reaches the server.
  EXPECT_EQ(c.scalar("SELECT count(*) FROM pg_prepared_statements WHERE name = 'add'"), "1");
  ASSERT_TRUE(c.exec("DEALLOCATE add").ok);
  const char* vals[2] = {"1", "2"};
  EXPECT_EQ(QueryResult::from(PQexecPrepared(c.get(), "add", 2, vals, nullptr, nullptr, 0), c.get()).sqlstate,
            "26000");
}

TEST_F(Protocol, PipelineWithSeveralSyncsAndAnErrorInTheFirst) {
  auto c = via_proxy();
  ASSERT_TRUE(PQenterPipelineMode(c.get()));
  const char* one[1] = {"1"};
  const char* zero[1] = {"0"};
  ASSERT_TRUE(PQsendQueryParams(c.get(), "SELECT 100 / $1::int", 1, nullptr, one, nullptr, nullptr, 0));
  ASSERT_TRUE(PQsendQueryParams(c.get(), "SELECT 100 / $1::int", 1, nullptr, zero, nullptr, nullptr, 0));
  ASSERT_TRUE(PQsendQueryParams(c.get(), "SELECT 'skipped'", 0, nullptr, nullptr, nullptr, nullptr, 0));
  ASSERT_TRUE(PQpipelineSync(c.get()));
  ASSERT_TRUE(PQsendPrepare(c.get(), "pp", "SELECT $1::int * 2", 1, nullptr));
  for (const char* v : {"5", "21"}) {
    const char* vals[1] = {v};
    ASSERT_TRUE(PQsendQueryPrepared(c.get(), "pp", 1, vals, nullptr, nullptr, 0));
  }
  ASSERT_TRUE(PQpipelineSync(c.get()));

  auto next = [&] {
    EXPECT_TRUE(wait_not_busy(c.get())) << "timed out waiting for a pipelined result";
    return QueryResult::from(PQgetResult(c.get()), c.get());
  };
  auto end_of_query = [&] {
    EXPECT_TRUE(wait_not_busy(c.get()));
    EXPECT_EQ(PQgetResult(c.get()), nullptr);
  };
  EXPECT_EQ(next().value(), "100");
  end_of_query();
  EXPECT_EQ(next().sqlstate, "22012");
  end_of_query();
  EXPECT_EQ(next().status, PGRES_PIPELINE_ABORTED);
  end_of_query();
  EXPECT_EQ(next().status, PGRES_PIPELINE_SYNC);
  EXPECT_EQ(next().status, PGRES_COMMAND_OK);  // Parse of "pp"
  end_of_query();
  EXPECT_EQ(next().value(), "10");
  end_of_query();
  EXPECT_EQ(next().value(), "42");
  end_of_query();
  EXPECT_EQ(next().status, PGRES_PIPELINE_SYNC);
  ASSERT_TRUE(PQexitPipelineMode(c.get()));
  EXPECT_EQ(c.scalar("SELECT 'after pipeline'"), "after pipeline");
}

TEST_F(Protocol, FlushRequestDeliversResultsBeforeAnySync) {
  auto c = via_proxy();
  ASSERT_TRUE(PQenterPipelineMode(c.get()));
  ASSERT_TRUE(PQsendQueryParams(c.get(), "SELECT 'flushed'", 0, nullptr, nullptr, nullptr, nullptr, 0));
  ASSERT_TRUE(PQsendFlushRequest(c.get()));
  ASSERT_EQ(PQflush(c.get()), 0);
  ASSERT_TRUE(wait_not_busy(c.get(), 5s)) << "no result after Flush without Sync";
  EXPECT_EQ(QueryResult::from(PQgetResult(c.get()), c.get()).value(), "flushed");
  ASSERT_TRUE(PQpipelineSync(c.get()));
  ASSERT_TRUE(wait_not_busy(c.get()));
  EXPECT_EQ(PQgetResult(c.get()), nullptr);
  ASSERT_TRUE(wait_not_busy(c.get()));
  EXPECT_EQ(QueryResult::from(PQgetResult(c.get()), c.get()).status, PGRES_PIPELINE_SYNC);
  ASSERT_TRUE(PQexitPipelineMode(c.get()));
}

TEST_F(Protocol, NoticesFromTheServerReachTheClient) {
  auto c = via_proxy();
  std::vector<std::string> notices;
  PQsetNoticeReceiver(
      c.get(),
      [](void* arg, const PGresult* r) {
        static_cast<std::vector<std::string>*>(arg)->push_back(
            std::string(PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED)) + " " +
            PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY));
      },
      &notices);
  ASSERT_TRUE(c.exec("DO $$BEGIN RAISE NOTICE 'hello from %', 'plpgsql'; RAISE WARNING 'careful'; END$$").ok);
  EXPECT_EQ(notices, (std::vector<std::string>{"NOTICE hello from plpgsql", "WARNING careful"}));
}

TEST_F(Protocol, ParameterStatusChangesAreSeenByTheClient) {
  auto c = via_proxy("application_name=sg-start");
  EXPECT_EQ(std::string(PQparameterStatus(c.get(), "server_version")).substr(0, 3), "15.");
  EXPECT_STREQ(PQparameterStatus(c.get(), "application_name"), "sg-start");
  ASSERT_TRUE(c.exec("SET application_name = 'sg-it'").ok);
  EXPECT_STREQ(PQparameterStatus(c.get(), "application_name"), "sg-it");
  ASSERT_TRUE(c.exec("SET TimeZone = 'Asia/Tokyo'").ok);
  EXPECT_STREQ(PQparameterStatus(c.get(), "TimeZone"), "Asia/Tokyo");
  // The server really runs with the setting: it is not just a relayed message.
  EXPECT_EQ(c.scalar("SELECT current_setting('application_name')"), "sg-it");
}

TEST_F(Protocol, LargeObjectsUseTheFunctionCallFastPath) {
  auto c = via_proxy();
  ASSERT_TRUE(c.exec("BEGIN").ok);
  const Oid oid = lo_creat(c.get(), INV_READ | INV_WRITE);
  ASSERT_NE(oid, InvalidOid) << PQerrorMessage(c.get());
  int fd = lo_open(c.get(), oid, INV_WRITE);
  ASSERT_GE(fd, 0) << PQerrorMessage(c.get());
  std::string data;
  for (int i = 0; i < 300000; ++i) data += static_cast<char>('a' + (i * 7) % 26);
  data[1000] = '\0';  // binary-safe
  ASSERT_EQ(lo_write(c.get(), fd, data.data(), data.size()), static_cast<int>(data.size()));
  ASSERT_EQ(lo_close(c.get(), fd), 0);
  fd = lo_open(c.get(), oid, INV_READ);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(lo_lseek(c.get(), fd, 500, SEEK_SET), 500);
  std::string back(data.size() - 500, '?');
  ASSERT_EQ(lo_read(c.get(), fd, back.data(), back.size()), static_cast<int>(back.size()));
  EXPECT_TRUE(back == data.substr(500)) << "large object content differs";
  ASSERT_EQ(lo_close(c.get(), fd), 0);
  ASSERT_TRUE(c.exec("COMMIT").ok);
  // The server agrees about the size.
  EXPECT_EQ(c.scalar("SELECT length(lo_get(" + std::to_string(oid) + "))"), std::to_string(data.size()));
  // A failing fast-path call (no such large object) is an error, and the session goes on.
  EXPECT_EQ(lo_open(c.get(), 424242, INV_READ), -1);
  EXPECT_NE(std::string(PQerrorMessage(c.get())).find("does not exist"), std::string::npos);
  EXPECT_EQ(lo_unlink(c.get(), oid), 1);
  EXPECT_EQ(c.scalar("SELECT 1"), "1");
}

TEST_F(Protocol, TerminateEndsTheServerSession) {
  auto watcher = direct();
  std::string server_pid;
  {
    auto c = via_proxy("application_name=sg-terminate");
    server_pid = c.scalar("SELECT pg_backend_pid()");
    EXPECT_EQ(watcher.scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = " + server_pid), "1");
  }  // PQfinish sends Terminate
  EXPECT_TRUE(eventually([&] {
    return watcher.scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = " + server_pid) == "0";
  })) << "the server backend " << server_pid << " outlived the client's Terminate";

  auto raw = RawClient::connect(proxy_->port());
  ASSERT_TRUE(find_message(raw.startup(), 'Z'));
  raw.send(wire::terminate());
  EXPECT_TRUE(raw.wait_closed(5s)) << "the proxy kept the connection open after Terminate";
}

TEST_F(Protocol, NewerProtocolMinorVersionIsNegotiatedByTheServer) {
  // A client asking for 3.1 with an unknown protocol option: PostgreSQL 15 answers with
  // NegotiateProtocolVersion (3.0, the option it does not know) and carries on.
  auto raw = RawClient::connect(proxy_->port());
  std::string body = wire::be32((3u << 16) | 1u);
  for (const char* kv : {"user", "postgres", "database", "postgres", "_pq_.sg_test_option", "1"}) body += kv + std::string(1, '\0');
  body += '\0';
  raw.send(wire::be32(static_cast<std::uint32_t>(body.size() + 4)) + body);
  const auto msgs = raw.read_until_ready();
  const auto v = find_message(msgs, 'v');
  ASSERT_TRUE(v.has_value()) << "no NegotiateProtocolVersion relayed";
  EXPECT_EQ(v->body.substr(0, 4), wire::be32(3u << 16));  // newest version the server supports: 3.0
  EXPECT_NE(v->body.find("_pq_.sg_test_option"), std::string::npos);
  ASSERT_TRUE(find_message(msgs, 'Z').has_value()) << "the session did not become ready";
  const auto reply = raw.simple_query("SELECT 'negotiated'");
  const auto row = find_message(reply, 'D');
  ASSERT_TRUE(row.has_value());
  EXPECT_NE(row->body.find("negotiated"), std::string::npos);
}

TEST_F(Protocol, FiftyMegabyteBindParameter) {
  auto c = via_proxy();
  std::string big(50u << 20, 'p');
  big[12345] = 'q';
  const auto r = c.exec_params("SELECT length($1::text), position('q' in $1::text)", {big});
  ASSERT_TRUE(r.ok) << r.sqlstate << " " << r.message;
  EXPECT_EQ(r.value(0, 0), std::to_string(big.size()));
  EXPECT_EQ(r.value(0, 1), "12346");
}

TEST_F(Protocol, DeepPipelineWithLargeResultsDoesNotDeadlock) {
  // The client writes 3,000 queries (each returning 8 kB) before reading anything: the proxy must
  // keep reading the client while the server's replies pile up towards the client.
  auto c = via_proxy();
  EXPECT_EQ(run_deep_pipeline(c.get(), 3000, 8192), "");
  EXPECT_EQ(c.scalar("SELECT 'after'"), "after");
}

TEST_F(Protocol, TwentyMegabyteQueryText) {
  auto c = via_proxy();
  EXPECT_EQ(c.scalar("SELECT length('" + std::string(20u << 20, 't') + "')"), std::to_string(20u << 20));
}

TEST_F(Protocol, PsqlScriptWithMetaCommandsAndClientSideCopy) {
  TempDir work("sg-psql");
  write_file(work.file("rows.csv"), "1,alpha\n2,beta\n3,gamma\n");
  write_file(work.file("script.sql"), R"(\set ON_ERROR_STOP 1
CREATE TABLE psql_t (id int PRIMARY KEY, name text);
\copy psql_t FROM ')" + work.file("rows.csv") + R"(' WITH (FORMAT csv)
SELECT format('INSERT INTO psql_t VALUES (%s, %L)', 3 + g, 'gen' || g) FROM generate_series(1, 2) g \gexec
BEGIN;
UPDATE psql_t SET name = upper(name) WHERE id = 2;
COMMIT;
\echo total
SELECT count(*), string_agg(name, ',' ORDER BY id) FROM psql_t;
\copy (SELECT id FROM psql_t ORDER BY id) TO ')" + work.file("ids.txt") + R"('
)");
  const auto r = run_command({std::string(SG_PG_BINDIR) + "/psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
                              proxy_->conninfo(), "-f", work.file("script.sql")});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("COPY 3"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("total\n5|alpha,BETA,gamma,gen1,gen2"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(work.file("ids.txt")), "1\n2\n3\n4\n5\n");
  // An error in a psql script stops it with exit code 3 and the server's message.
  write_file(work.file("bad.sql"), "SELECT 1;\nSELECT * FROM no_such_table;\nSELECT 'not reached';\n");
  const auto bad = run_command({std::string(SG_PG_BINDIR) + "/psql", "-X", "-v", "ON_ERROR_STOP=1", "-d",
                                proxy_->conninfo(), "-f", work.file("bad.sql")});
  EXPECT_EQ(bad.exit_code, 3) << bad.output;
  EXPECT_NE(bad.output.find("relation \"no_such_table\" does not exist"), std::string::npos) << bad.output;
  EXPECT_EQ(bad.output.find("not reached"), std::string::npos);
}

}  // namespace
}  // namespace schemagate::testing
