// PlanRunner with passthrough phases: the read-only queries of the client's message run as
// written, in their place, relayed to the client, under the client's own settings; the
// statement's command tag goes out between them; an error in one ends the message.
#include "tests/proxy/plan_runner_fixture.h"

namespace schemagate::proxy {
namespace {

Phase query(std::string sql) {
  Phase p;
  p.kind = PhaseKind::passthrough;
  p.description = "another statement of the message, run as written";
  p.sql = std::move(sql);
  return p;
}

// SELECT 1; CREATE INDEX …; SHOW lock_timeout — the index built CONCURRENTLY under the plan's
// session-level lock_timeout, which is put back before the SHOW.
Plan split_index_plan() {
  Plan p;
  p.rule_id = "require_concurrent_index";
  p.phases = {query("SELECT 1"), phase(PhaseKind::autocommit, "CREATE INDEX CONCURRENTLY i ON t (a)"),
              query("SHOW lock_timeout")};
  return p;
}

const std::string kRestore = "SELECT pg_catalog.set_config('lock_timeout', '0', false), "
                             "pg_catalog.set_config('statement_timeout', '0', false)";

TEST(PlanPassthrough, QueriesRunInTheirPlaceRelayedAndUnderTheClientsSettings) {
  const Plan plan = split_index_plan();
  PlanRunner runner(plan, 1);
  const auto run = drive(runner, [](const std::string& sql, std::size_t) {
    return sql.rfind("SELECT pg_catalog.current_setting", 0) == 0 ? settings() : ok_rows();
  });
  ASSERT_EQ(run.last.kind, PlanStep::done) << run.last.error.message;
  const std::vector<std::string> expected = {
      "SELECT 1",  // before anything is saved or changed
      "SELECT pg_catalog.current_setting('lock_timeout'), pg_catalog.current_setting('statement_timeout')",
      "SET lock_timeout = '2000ms'",
      "CREATE INDEX CONCURRENTLY i ON t (a)",
      kRestore,  // the client's lock_timeout is back before its SHOW
      "SHOW lock_timeout",
  };
  EXPECT_EQ(run.sql, expected);
  EXPECT_EQ(run.relayed, (std::vector<bool>{true, false, false, false, false, true}));
  // The CREATE INDEX tag goes out once the index is built, before the SHOW (and its restore).
  EXPECT_EQ(run.statement_done_at, 4u);
  EXPECT_TRUE(runner.statement_replied());
  EXPECT_EQ(run.notices.size(), 3u);  // one per phase
}

TEST(PlanPassthrough, WithoutQueriesAfterItTheTagComesAtTheEnd) {
  Plan plan;
  plan.phases = {query("SELECT 1"), phase(PhaseKind::autocommit, "CREATE INDEX CONCURRENTLY i ON t (a)")};
  PlanRunner runner(plan, 1);
  const auto run = drive(runner, [](const std::string& sql, std::size_t) {
    return sql.rfind("SELECT pg_catalog.current_setting", 0) == 0 ? settings() : ok_rows();
  });
  ASSERT_EQ(run.last.kind, PlanStep::done);
  EXPECT_EQ(run.statement_done_at, std::string::npos);
  EXPECT_FALSE(runner.statement_replied());  // the session sends the tag with the end of the plan
}

TEST(PlanPassthrough, AFailingQueryBeforeTheStatementEndsTheMessageWithNothingChanged) {
  const Plan plan = split_index_plan();
  PlanRunner runner(plan, 1);
  const auto run = drive(runner, [](const std::string&, std::size_t i) {
    return i == 0 ? error("22012", 'I', "division by zero") : ok_rows();
  });
  ASSERT_EQ(run.last.kind, PlanStep::failed);
  EXPECT_TRUE(run.last.error_relayed);  // the client has the server's own error already
  EXPECT_EQ(run.last.error.sqlstate, "22012");
  EXPECT_EQ(run.sql, std::vector<std::string>{"SELECT 1"});  // the index is never built
  EXPECT_FALSE(runner.statement_completed());
  EXPECT_FALSE(runner.resumable());
}

TEST(PlanPassthrough, AFailingQueryAfterTheStatementLeavesItDone) {
  const Plan plan = split_index_plan();
  PlanRunner runner(plan, 1);
  const auto run = drive(runner, [](const std::string& sql, std::size_t) {
    if (sql == "SHOW lock_timeout") return error("42704", 'I', "unrecognized configuration parameter");
    return sql.rfind("SELECT pg_catalog.current_setting", 0) == 0 ? settings() : ok_rows();
  });
  ASSERT_EQ(run.last.kind, PlanStep::failed);
  EXPECT_TRUE(run.last.error_relayed);
  EXPECT_EQ(run.statement_done_at, 4u);
  EXPECT_TRUE(runner.statement_completed());  // journaled as succeeded: the index stays
  EXPECT_EQ(run.sql.back(), "SHOW lock_timeout");  // settings were restored before it, not after
}

TEST(PlanPassthrough, AFailedPhaseIsReportedByThePlanAndTheQueriesAfterItDoNotRun) {
  const Plan plan = split_index_plan();
  PlanRunner runner(plan, 1);
  const auto run = drive(runner, [](const std::string& sql, std::size_t) {
    if (sql.rfind("CREATE INDEX", 0) == 0) return error("23505", 'I', "could not create unique index");
    return sql.rfind("SELECT pg_catalog.current_setting", 0) == 0 ? settings() : ok_rows();
  });
  ASSERT_EQ(run.last.kind, PlanStep::failed);
  EXPECT_FALSE(run.last.error_relayed);  // the plan's SG004 goes to the client
  EXPECT_EQ(run.last.error.sqlstate, "SG004");
  EXPECT_EQ(run.statement_done_at, std::string::npos);
  EXPECT_EQ(std::count(run.sql.begin(), run.sql.end(), "SHOW lock_timeout"), 0);
  EXPECT_EQ(run.sql.back(), kRestore);
}

TEST(PlanPassthrough, ResumedTheQueriesRunAgainAndTheDonePhasesDoNot) {
  Plan plan;
  plan.phases = {query("SELECT 1"), phase(PhaseKind::guarded, "ALTER TABLE t ADD COLUMN c int"),
                 phase(PhaseKind::guarded, "ALTER TABLE t ADD CONSTRAINT c_check CHECK (c > 0) NOT VALID"),
                 query("SELECT 2")};
  ResumePoint resume;
  resume.phase = 2;  // an earlier run finished the query and the first ALTER
  PlanRunner runner(plan, 1, resume);
  const auto run = drive(runner, [](const std::string& sql, std::size_t) {
    return sql.rfind("SELECT pg_catalog.current_setting", 0) == 0 ? settings() : ok_rows();
  });
  ASSERT_EQ(run.last.kind, PlanStep::done);
  ASSERT_GE(run.sql.size(), 4u);
  EXPECT_EQ(run.sql.front(), "SELECT 1");
  EXPECT_EQ(std::count_if(run.sql.begin(), run.sql.end(),
                          [](const std::string& s) { return s.find("ADD COLUMN") != std::string::npos; }),
            0);
  EXPECT_EQ(std::count_if(run.sql.begin(), run.sql.end(),
                          [](const std::string& s) { return s.find("ADD CONSTRAINT") != std::string::npos; }),
            1);
  EXPECT_EQ(run.sql.back(), "SELECT 2");
  EXPECT_EQ(runner.phases_done(), 4u);
}

TEST(PlanPassthrough, ACancelBeforeAQueryStopsThePlanWithoutRunningIt) {
  const Plan plan = split_index_plan();
  PlanRunner runner(plan, 1);
  runner.cancel();
  const auto run = drive(runner, [](const std::string&, std::size_t) { return ok_rows(); });
  ASSERT_EQ(run.last.kind, PlanStep::failed);
  EXPECT_EQ(run.last.error.sqlstate, "57014");
  EXPECT_FALSE(run.last.error_relayed);
  EXPECT_TRUE(run.sql.empty());
}

}  // namespace
}  // namespace schemagate::proxy
