// `schemagate migrations list|show`, as an operator runs it: the real binary reading a journal
// that this test writes with the store API (as a running proxy would, the file open meanwhile).
// No PostgreSQL needed.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <optional>

#include "proxy/state_store.h"
#include "tests/support/process.h"

namespace schemagate::testing {
namespace {

/// True when `s` holds an ISO 8601 UTC timestamp like 2026-12-01T20:33:30Z at `pos`.
bool iso_utc_at(const std::string& s, std::size_t pos) {
  static const char* kShape = "dddd-dd-ddTdd:dd:ddZ";
  for (std::size_t i = 0; kShape[i]; ++i) {
    if (pos + i >= s.size()) return false;
    const char c = s[pos + i];
    if (kShape[i] == 'd' ? !(c >= '0' && c <= '9') : c != kShape[i]) return false;
  }
  return true;
}
/// True when `s` contains such a timestamp anywhere (after `prefix`, if given).
bool has_iso_utc(const std::string& s, const std::string& prefix = "") {
  for (std::size_t p = s.find(prefix); p != std::string::npos; p = s.find(prefix, p + 1)) {
    std::size_t q = p + prefix.size();
    while (q < s.size() && s[q] == ' ') ++q;
    if (iso_utc_at(s, q)) return true;
    if (prefix.empty())
      for (std::size_t k = p; k < s.size(); ++k)
        if (iso_utc_at(s, k)) return true;
  }
  return false;
}


using namespace std::chrono_literals;
using proxy::PlanJournalEntry;
using proxy::PlanStatus;

const std::string kLongStatement =
    "ALTER TABLE public.orders ADD COLUMN confirmation_token uuid NOT NULL DEFAULT gen_random_uuid()";
const std::string kPlanJson =
    R"({"rule":"add_column_volatile_default","phases":[{"kind":"guarded","sql":"ALTER TABLE public.orders )"
    R"(ADD COLUMN confirmation_token uuid"},{"kind":"backfill"}]})";

class MigrationsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    store_ = proxy::open_sqlite_state_store(path_, error);
    ASSERT_NE(store_, nullptr) << error;
  }

  /// A plan at phase 3 of 6 with a backfill under way; `finish` ends it.
  std::string add(const std::string& statement, std::optional<PlanStatus> finish = std::nullopt,
                  const std::string& error_text = "") {
    PlanJournalEntry e;
    e.statement = statement;
    e.statement_hash = proxy::statement_hash(statement);
    e.user = "app";
    e.database = "shop";
    e.client_addr = "10.1.2.3:40000";
    e.application_name = "rails";
    e.rule_id = "add_column_volatile_default";
    e.plan_json = kPlanJson;
    e.phase_count = 6;
    std::string error;
    EXPECT_TRUE(store_->begin_plan(e, error)) << error;
    EXPECT_TRUE(store_->record_phase_done(e.id, 3, error)) << error;
    EXPECT_TRUE(store_->record_backfill(e.id, 12000, R"({"id":12000})", error)) << error;
    if (finish) {
      EXPECT_TRUE(store_->finish_plan(e.id, *finish, error_text, error)) << error;
    }
    return e.id;
  }

  CommandResult run(std::vector<std::string> args) {
    args.insert(args.begin(), {SG_PROXY_BINARY, "migrations"});
    return run_command_split(args);
  }

  TempDir dir_{"sg-migrations"};
  std::string path_ = dir_.file("state.db");
  std::unique_ptr<proxy::StateStore> store_;
};

TEST_F(MigrationsCli, ListPrintsATableNewestFirst) {
  const auto older = add(kLongStatement);
  const auto newer = add("CREATE INDEX orders_user ON orders (user_id)", PlanStatus::failed, "55P03: lock timeout");
  const auto r = run({"list", "--state", path_});
  ASSERT_EQ(r.exit_code, 0) << r.output << r.errors;
  EXPECT_EQ(r.errors, "");
  for (const char* column : {"ID", "STATUS", "USER", "DATABASE", "RULE", "PHASE", "ROWS", "UPDATED", "STATEMENT"})
    EXPECT_NE(r.output.find(column), std::string::npos) << column << "\n" << r.output;
  const auto at_newer = r.output.find(newer), at_older = r.output.find(older);
  ASSERT_NE(at_newer, std::string::npos) << r.output;
  ASSERT_NE(at_older, std::string::npos) << r.output;
  EXPECT_LT(at_newer, at_older) << r.output;
  EXPECT_NE(r.output.find("running"), std::string::npos);
  EXPECT_NE(r.output.find("failed"), std::string::npos);
  EXPECT_NE(r.output.find("add_column_volatile_default"), std::string::npos);
  EXPECT_NE(r.output.find("3/6"), std::string::npos);
  EXPECT_NE(r.output.find("12000"), std::string::npos);
  EXPECT_TRUE(has_iso_utc(r.output)) << r.output;
  // The long statement is shortened to fit a row.
  EXPECT_EQ(r.output.find(kLongStatement), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(kLongStatement.substr(0, 50)), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("..."), std::string::npos) << r.output;
  // Three lines: the header and one per plan; the columns line up.
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 3) << r.output;
  const auto line2 = r.output.find('\n') + 1, line3 = r.output.find('\n', line2) + 1;
  EXPECT_EQ(r.output.find("STATUS"), r.output.find("failed", line2) - line2) << r.output;
  EXPECT_EQ(r.output.find("STATUS"), r.output.find("running", line3) - line3) << r.output;
}

TEST_F(MigrationsCli, ListAsJsonHasOneObjectPerEntry) {
  const auto older = add(kLongStatement, PlanStatus::interrupted);
  const auto newer = add("CREATE INDEX i ON t (c)");
  const auto r = run({"list", "--format", "json", "--state=" + path_});
  ASSERT_EQ(r.exit_code, 0) << r.output << r.errors;
  const auto doc = nlohmann::json::parse(r.output, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << r.output;
  EXPECT_EQ(doc["version"], 1);
  EXPECT_EQ(doc["truncated"], false);
  ASSERT_EQ(doc["migrations"].size(), 2u) << r.output;
  const auto& first = doc["migrations"][0];
  EXPECT_EQ(first["id"], newer);
  EXPECT_EQ(doc["migrations"][1]["id"], older);
  EXPECT_EQ(doc["migrations"][1]["status"], "interrupted");
  EXPECT_EQ(doc["migrations"][1]["statement"], kLongStatement);  // whole, not shortened
  EXPECT_EQ(first["status"], "running");
  EXPECT_EQ(first["user"], "app");
  EXPECT_EQ(first["database"], "shop");
  EXPECT_EQ(first["client_addr"], "10.1.2.3:40000");
  EXPECT_EQ(first["application_name"], "rails");
  EXPECT_EQ(first["rule_id"], "add_column_volatile_default");
  EXPECT_EQ(first["phases_done"], 3);
  EXPECT_EQ(first["phase_count"], 6);
  EXPECT_EQ(first["rows_backfilled"], 12000);
  EXPECT_EQ(first["backfill_resume"], R"({"id":12000})");
  EXPECT_EQ(first["statement_hash"], proxy::statement_hash("CREATE INDEX i ON t (c)"));
  EXPECT_TRUE(first["updated_ms"].is_number_integer());
  EXPECT_TRUE(first["updated"].get<std::string>().size() == 20 && iso_utc_at(first["updated"].get<std::string>(), 0));
  EXPECT_FALSE(first.contains("plan"));  // show has it

  const auto limited = run({"list", "--format", "json", "--limit", "1", "--state", path_});
  ASSERT_EQ(limited.exit_code, 0) << limited.errors;
  const auto one = nlohmann::json::parse(limited.output, nullptr, false);
  ASSERT_EQ(one["migrations"].size(), 1u) << limited.output;
  EXPECT_EQ(one["migrations"][0]["id"], newer);
  EXPECT_EQ(one["truncated"], true);
  const auto text = run({"list", "--limit", "1", "--state", path_});
  EXPECT_NE(text.output.find("--limit 0 lists all"), std::string::npos) << text.output;
}

TEST_F(MigrationsCli, ShowPrintsEveryFieldAndThePlan) {
  add("CREATE INDEX other ON t (c)");
  const auto id = add(kLongStatement, PlanStatus::failed, "23502: column contains null values");
  const auto r = run({"show", id, "--state", path_});
  ASSERT_EQ(r.exit_code, 0) << r.output << r.errors;
  for (const std::string& s :
       {id, std::string("failed"), std::string("app"), std::string("shop"), std::string("10.1.2.3:40000"),
        std::string("rails"), std::string("add_column_volatile_default"), std::string("3/6"),
        std::string("12000"), std::string(R"({"id":12000})"), std::string("23502: column contains null values"),
        proxy::statement_hash(kLongStatement), kLongStatement, std::string("\"kind\": \"backfill\"")})
    EXPECT_NE(r.output.find(s), std::string::npos) << s << "\n" << r.output;
  EXPECT_EQ(r.output.find("CREATE INDEX other"), std::string::npos);
  EXPECT_EQ(r.output.find(kPlanJson), std::string::npos) << "the plan is pretty-printed:\n" << r.output;
  EXPECT_TRUE(has_iso_utc(r.output, "created:")) << r.output;

  const auto j = run({"show", "--format", "json", "--state", path_, id});
  ASSERT_EQ(j.exit_code, 0) << j.errors;
  const auto doc = nlohmann::json::parse(j.output, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << j.output;
  EXPECT_EQ(doc["migration"]["id"], id);
  EXPECT_EQ(doc["migration"]["error"], "23502: column contains null values");
  EXPECT_EQ(doc["migration"]["plan"], nlohmann::json::parse(kPlanJson));  // embedded as JSON, not a string
}

// Statements come from clients: nothing in them may reach the operator's terminal as a control sequence.
TEST_F(MigrationsCli, ControlCharactersAreNeverPrintedRaw) {
  const auto id = add("ALTER TABLE t ADD c text DEFAULT '\x1b]0;owned\x07\x1b[2J'");
  for (const auto& args : {std::vector<std::string>{"list", "--state", path_},
                           std::vector<std::string>{"show", id, "--state", path_}}) {
    const auto r = run(args);
    ASSERT_EQ(r.exit_code, 0) << r.errors;
    EXPECT_EQ(r.output.find('\x1b'), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find('\x07'), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("\\x1b[2J"), std::string::npos) << r.output;
  }
}

TEST_F(MigrationsCli, EmptyJournalSaysSo) {
  const auto r = run({"list", "--state", path_});
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  EXPECT_EQ(r.output, "no migrations in " + path_ + "\n");
  const auto j = run({"list", "--format", "json", "--state", path_});
  EXPECT_EQ(nlohmann::json::parse(j.output, nullptr, false)["migrations"], nlohmann::json::array()) << j.output;
}

TEST_F(MigrationsCli, UnknownIdExitsOne) {
  add("CREATE INDEX i ON t (c)");
  const auto r = run({"show", "0123456789abcdef", "--state", path_});
  EXPECT_EQ(r.exit_code, 1) << r.output << r.errors;
  EXPECT_EQ(r.errors, "schemagate: no migration with id 0123456789abcdef\n");
  EXPECT_EQ(r.output, "");
}

TEST_F(MigrationsCli, MissingJournalExitsTwoAndCreatesNothing) {
  const std::string missing = dir_.file("nope.db");
  for (const auto& args : {std::vector<std::string>{"list", "--state", missing},
                           std::vector<std::string>{"show", "0123456789abcdef", "--state", missing}}) {
    const auto r = run(args);
    EXPECT_EQ(r.exit_code, 2) << r.output << r.errors;
    EXPECT_NE(r.errors.find("no plan journal at '" + missing + "'"), std::string::npos) << r.errors;
  }
  EXPECT_FALSE(std::filesystem::exists(missing));
}

TEST_F(MigrationsCli, ConfigFileNamesTheJournal) {
  const auto id = add("CREATE INDEX i ON t (c)");
  const std::string config = dir_.file("schemagate.yaml");
  write_file(config, "upstream:\n  port: 5432\nstate:\n  path: " + path_ + "\n");
  const auto r = run({"list", "--config", config});
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  EXPECT_NE(r.output.find(id), std::string::npos) << r.output;

  write_file(config, "state:\n  path: " + path_ + "\n  file: x\n");
  const auto bad = run({"list", "--config", config});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.errors.find("state.file (line 3): unknown key"), std::string::npos) << bad.errors;
}

TEST_F(MigrationsCli, HelpExitsZero) {
  for (const auto& args : {std::vector<std::string>{"--help"}, std::vector<std::string>{"list", "--help"},
                           std::vector<std::string>{"show", "--help"}, std::vector<std::string>{"show", "-h"}}) {
    const auto r = run(args);
    EXPECT_EQ(r.exit_code, 0) << args.back() << ": " << r.errors;
    EXPECT_NE(r.output.find("usage: schemagate migrations list"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("schemagate migrations show ID"), std::string::npos) << r.output;
  }
  const auto top = run_command_split({SG_PROXY_BINARY, "--help"});
  EXPECT_NE(top.output.find("schemagate migrations list"), std::string::npos) << top.output;
  EXPECT_NE(top.output.find("[--state PATH]"), std::string::npos) << top.output;
}

TEST_F(MigrationsCli, UsageErrorsExitTwo) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {},
           {"lst"},
           {"list", "--format", "yaml", "--state", path_},
           {"list", "--limit", "ten", "--state", path_},
           {"list", "--limit", "-1", "--state", path_},
           {"list", "extra", "--state", path_},
           {"list", "--state", path_, "--config", path_},
           {"list", "--state", ""},
           {"list", "--state"},
           {"list", "--verbose", "--state", path_},
           {"show", "--state", path_},
           {"show", "a", "b", "--state", path_},
           {"show", "a", "--limit", "3", "--state", path_}}) {
    const auto r = run(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(r.exit_code, 2) << joined << ": " << r.output << r.errors;
    EXPECT_NE(r.errors.find("usage: schemagate migrations"), std::string::npos) << joined << ": " << r.errors;
  }
}

TEST_F(MigrationsCli, ServeRefusesAnEmptyStatePath) {
  const auto r = run_command_split({SG_PROXY_BINARY, "serve", "--listen", "127.0.0.1:1", "--state", ""}, 20s);
  EXPECT_EQ(r.exit_code, 2) << r.output << r.errors;
  EXPECT_NE(r.errors.find("state.path: must not be empty"), std::string::npos) << r.errors;
}

}  // namespace
}  // namespace schemagate::testing
