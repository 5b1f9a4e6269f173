// COPY through schemagate: bulk data both ways with checksums, a 50 MB row, failures
// (bad data, CopyFail) that leave the session usable, and COPY over the extended protocol.
#include <openssl/evp.h>

#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

std::string md5_hex(const std::string& s) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), d, &n, EVP_md5(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out += hex[d[i] >> 4];
    out += hex[d[i] & 15];
  }
  return out;
}

/// COPY ... FROM STDIN: sends `data` in chunks and returns the final result.
QueryResult copy_in(const PgConn& c, const std::string& copy_sql, const std::string& data,
                    std::size_t chunk = 64 * 1024) {
  auto start = c.exec(copy_sql);
  if (start.status != PGRES_COPY_IN) return start;
  for (std::size_t off = 0; off < data.size(); off += chunk) {
    const auto n = std::min(chunk, data.size() - off);
    if (PQputCopyData(c.get(), data.data() + off, static_cast<int>(n)) != 1) break;
  }
  PQputCopyEnd(c.get(), nullptr);
  return drain_results(c.get());
}

/// COPY ... TO STDOUT: returns everything the server sent.
std::string copy_out(const PgConn& c, const std::string& copy_sql, QueryResult* final_result = nullptr) {
  auto start = c.exec(copy_sql);
  EXPECT_EQ(start.status, PGRES_COPY_OUT) << start.message;
  std::string out;
  char* buf = nullptr;
  int n;
  while ((n = PQgetCopyData(c.get(), &buf, 0)) > 0) {
    out.append(buf, static_cast<std::size_t>(n));
    PQfreemem(buf);
  }
  EXPECT_EQ(n, -1) << PQerrorMessage(c.get());
  auto r = drain_results(c.get());
  EXPECT_TRUE(r.ok) << r.message;
  if (final_result) *final_result = r;
  return out;
}

class Copy : public ProxiedPg {};

TEST_F(Copy, HundredThousandRowsRoundTripWithMatchingChecksums) {
  auto c = via_proxy();
  ASSERT_TRUE(c.exec("CREATE TABLE copy_rows (id int PRIMARY KEY, payload text)").ok);
  constexpr int kRows = 120000;
  std::string wire, logical;  // COPY text format, and the values as the server stores them
  for (int i = 1; i <= kRows; ++i) {
    std::string value = "row " + std::to_string(i) + " \xc3\xbc " + std::string(static_cast<std::size_t>(i % 61), 'x');
    std::string escaped = value;
    if (i % 1000 == 0) {
      value += "\\tab\t";
      escaped += "\\\\tab\\t";
    }
    wire += std::to_string(i) + "\t" + escaped + "\n";
    if (i > 1) logical += "\n";
    logical += std::to_string(i) + ":" + value;
  }
  const auto r = copy_in(c, "COPY copy_rows FROM STDIN", wire);
  ASSERT_TRUE(r.ok) << r.sqlstate << " " << r.message;
  EXPECT_EQ(r.command_status, "COPY " + std::to_string(kRows));

  // The server's own checksum, over a direct connection, equals the client's.
  auto d = direct();
  EXPECT_EQ(d.scalar("SELECT md5(string_agg(id::text || ':' || payload, E'\\n' ORDER BY id)) FROM copy_rows"),
            md5_hex(logical));

  // And back out through the proxy: byte-identical to what went in.
  QueryResult done;
  const std::string out = copy_out(c, "COPY (SELECT * FROM copy_rows ORDER BY id) TO STDOUT", &done);
  EXPECT_EQ(done.command_status, "COPY " + std::to_string(kRows));
  EXPECT_EQ(out.size(), wire.size());
  EXPECT_EQ(md5_hex(out), md5_hex(wire));
  EXPECT_EQ(c.scalar("SELECT count(*) FROM copy_rows"), std::to_string(kRows));
}

TEST_F(Copy, FiftyMegabyteRowBothWaysAndAsADataRow) {
  auto c = via_proxy();
  ASSERT_TRUE(c.exec("CREATE TABLE copy_big (id int, payload text)").ok);
  std::string big(50u << 20, 'z');
  for (std::size_t i = 0; i < big.size(); i += 4099) big[i] = static_cast<char>('a' + (i / 4099) % 26);
  const auto r = copy_in(c, "COPY copy_big FROM STDIN", "1\t" + big + "\n", 1u << 20);
  ASSERT_TRUE(r.ok) << r.sqlstate << " " << r.message;
  auto d = direct();
  EXPECT_EQ(d.scalar("SELECT length(payload) FROM copy_big"), std::to_string(big.size()));
  EXPECT_EQ(d.scalar("SELECT md5(payload) FROM copy_big"), md5_hex(big));

  const std::string out = copy_out(c, "COPY copy_big TO STDOUT");
  EXPECT_EQ(out.size(), big.size() + 3);
  EXPECT_TRUE(out == "1\t" + big + "\n") << "the 50 MB row came back different";

  const auto row = c.exec("SELECT payload FROM copy_big");
  ASSERT_TRUE(row.ok) << row.message;
  EXPECT_TRUE(row.value() == big) << "the 50 MB DataRow came back different";
  EXPECT_EQ(c.scalar("SELECT 'usable'"), "usable");
}

TEST_F(Copy, BadDataFailsTheCopyAndTheSessionStaysUsable) {
  auto c = via_proxy();
  ASSERT_TRUE(c.exec("CREATE TABLE copy_bad (id int, t text)").ok);
  std::string data;
  for (int i = 0; i < 5000; ++i) data += std::to_string(i) + "\tok\n";
  data += "not-a-number\toops\n";
  for (int i = 0; i < 5000; ++i) data += std::to_string(i) + "\tafter\n";
  const auto r = copy_in(c, "COPY copy_bad FROM STDIN", data);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.sqlstate, "22P02") << r.message;
  EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_IDLE);
  EXPECT_EQ(c.scalar("SELECT count(*) FROM copy_bad"), "0");
  ASSERT_TRUE(copy_in(c, "COPY copy_bad FROM STDIN", "1\tgood\n").ok);
  EXPECT_EQ(c.scalar("SELECT t FROM copy_bad"), "good");
}

TEST_F(Copy, ClientAbortsWithCopyFail) {
  auto c = via_proxy();
  ASSERT_TRUE(c.exec("CREATE TABLE copy_fail (id int)").ok);
  ASSERT_EQ(c.exec("COPY copy_fail FROM STDIN").status, PGRES_COPY_IN);
  ASSERT_EQ(PQputCopyData(c.get(), "1\n2\n", 4), 1);
  ASSERT_EQ(PQputCopyEnd(c.get(), "the client changed its mind"), 1);
  const auto r = drain_results(c.get());
  EXPECT_EQ(r.sqlstate, "57014");
  EXPECT_NE(r.message.find("the client changed its mind"), std::string::npos) << r.message;
  EXPECT_EQ(c.scalar("SELECT count(*) FROM copy_fail"), "0");
}

TEST_F(Copy, CopyOverTheExtendedProtocolThenMoreQueries) {
  auto c = via_proxy();
  ASSERT_TRUE(c.exec("CREATE TABLE copy_ext (id int, t text)").ok);
  auto start = c.exec_params("COPY copy_ext FROM STDIN", {});
  ASSERT_EQ(start.status, PGRES_COPY_IN) << start.message;
  const std::string data = "1\tone\n2\ttwo\n3\tthree\n";
  ASSERT_EQ(PQputCopyData(c.get(), data.data(), static_cast<int>(data.size())), 1);
  ASSERT_EQ(PQputCopyEnd(c.get(), nullptr), 1);
  const auto r = drain_results(c.get());
  ASSERT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.command_status, "COPY 3");

  EXPECT_EQ(c.exec_params("SELECT string_agg(t, ',' ORDER BY id) FROM copy_ext WHERE id <= $1", {"2"}).value(),
            "one,two");
  auto out_start = c.exec_params("COPY (SELECT t FROM copy_ext ORDER BY id) TO STDOUT", {});
  ASSERT_EQ(out_start.status, PGRES_COPY_OUT);
  std::string out;
  char* buf = nullptr;
  int n;
  while ((n = PQgetCopyData(c.get(), &buf, 0)) > 0) {
    out.append(buf, static_cast<std::size_t>(n));
    PQfreemem(buf);
  }
  EXPECT_TRUE(drain_results(c.get()).ok);
  EXPECT_EQ(out, "one\ntwo\nthree\n");
  EXPECT_EQ(c.scalar("SELECT count(*) FROM copy_ext"), "3");
}

TEST_F(Copy, SlowReaderIsBackpressuredInsteadOfBuffered) {
  // 200 MB of COPY output towards a client that does not read for 2 s: the proxy must stop
  // reading from the server, not hold the data in memory.
  auto raw = RawClient::connect(proxy_->port());
  ASSERT_TRUE(find_message(raw.startup(), 'Z'));
  const long before = proxy_->rss_kib();
  raw.send(wire::query("COPY (SELECT repeat('x', 1000) FROM generate_series(1, 200000)) TO STDOUT"));
  std::this_thread::sleep_for(2s);
  const long stalled = proxy_->rss_kib();
  std::size_t rows = 0;
  for (;;) {
    const auto m = raw.read(30s);
    ASSERT_TRUE(m.has_value()) << "COPY output stopped after " << rows << " rows";
    if (m->tag == 'd') ++rows;
    if (m->tag == 'E') FAIL() << m->field('M');
    if (m->tag == 'Z') break;
  }
  EXPECT_EQ(rows, 200000u);
  std::cout << "[ figures  ] proxy RSS growth while a 200 MB COPY waited for the client: " << (stalled - before) / 1024
            << " MiB\n";
  EXPECT_LT(stalled - before, 64 * 1024) << "the proxy buffered the COPY output instead of pausing the server";
}

}  // namespace
}  // namespace schemagate::testing
