// PostgreSQL's own regression SQL (../shared/pg-regress-15/sql, next to the repository) as a corpus
// of real, messy statements: the pre-classifier property must hold on every one, and the engine
// must judge every file and statement without crashing (ASan/UBSan builds). Skipped when absent.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "policy/engine.h"
#include "policy/pre_classifier.h"
#include "tests/policy/ddl_oracle.h"

namespace schemagate::policy {
namespace {

namespace fs = std::filesystem;

fs::path regress_dir() {
  if (const char* env = std::getenv("SG_PG_REGRESS_SQL")) return env;
  return fs::path(SG_SOURCE_DIR) / ".." / "shared" / "pg-regress-15" / "sql";
}

TEST(RegressCorpus, PreClassifierAndEngineOnPostgresRegressionSql) {
  const fs::path dir = regress_dir();
  if (!fs::is_directory(dir)) GTEST_SKIP() << "no regression SQL at " << dir;
  PolicyEngine engine{config::Policy{}};
  OfflineFacts facts;
  SessionInfo session;
  std::size_t files = 0, statements = 0, fast = 0, governed = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".sql") continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    if (text.find('\0') != std::string::npos) continue;
    ++files;
    const BatchDecision whole = engine.evaluate_script(text, session, &facts);
    for (const auto& d : whole.statements) governed += is_schema_changing(d.statement.klass) ? 1 : 0;
    for (const auto& sp : split_statements(text).spans) {
      const std::string sql = text.substr(sp.offset, sp.length);
      ++statements;
      if (!might_change_schema(sql)) {
        ++fast;
        ASSERT_TRUE(testing_oracle::parser_says_ordinary(sql)) << e.path().filename() << ": " << sql;
      }
      (void)engine.evaluate(sql, session, &facts);
    }
  }
  EXPECT_GT(files, 100u);
  EXPECT_GT(governed, 1000u);
  // A large share of the suite is plain queries; they must mostly take the fast path.
  EXPECT_GT(fast * 100, statements * 25) << fast << " of " << statements;
  std::printf("regression corpus: %zu files, %zu statements, %zu fast path, %zu schema-changing\n", files, statements,
              fast, governed);
}

}  // namespace
}  // namespace schemagate::policy
