// A scripted server for PlanRunner's step logic (plan_runner_test.cc, plan_passthrough_test.cc).
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "proxy/plan_runner.h"

namespace schemagate::proxy {

using policy::Phase;
using policy::PhaseKind;
using policy::Plan;

inline QueryResult ok_rows(std::vector<QueryResult::Row> rows = {}, std::vector<std::string> tags = {}) {
  QueryResult r;
  r.rows = std::move(rows);
  r.command_tags = std::move(tags);
  return r;
}
inline QueryResult error(const std::string& sqlstate, char tx_status = 'I', const std::string& message = "boom") {
  QueryResult r;
  r.error = protocol::ErrorFields{"ERROR", sqlstate, message, {}, {}};
  r.tx_status = tx_status;
  return r;
}
inline QueryResult settings() { return ok_rows({{std::string("0"), std::string("0")}}); }

struct Run {
  std::vector<std::string> sql;
  std::vector<bool> relayed;                     // per query: its replies go to the client
  std::size_t statement_done_at = std::string::npos;  // queries sent before statement_done
  std::vector<std::string> notices;
  std::vector<std::uint32_t> sleeps;
  PlanStep last;
};

/// Drives the runner to the end; `server` answers every query (index = query number).
inline Run drive(PlanRunner& runner, const std::function<QueryResult(const std::string&, std::size_t)>& server) {
  Run out;
  std::int64_t now = 1000;
  for (int guard = 0; guard < 10000; ++guard) {
    auto step = runner.next(now);
    switch (step.kind) {
      case PlanStep::query:
        out.sql.push_back(step.sql);
        out.relayed.push_back(step.relay);
        runner.on_result(server(step.sql, out.sql.size() - 1), now += 10);
        break;
      case PlanStep::sleep:
        out.sleeps.push_back(step.sleep_ms);
        now += step.sleep_ms;
        break;
      case PlanStep::notice:
        out.notices.push_back(step.text);
        break;
      case PlanStep::statement_done:
        EXPECT_EQ(out.statement_done_at, std::string::npos) << "statement_done given twice";
        out.statement_done_at = out.sql.size();
        break;
      case PlanStep::done:
      case PlanStep::failed:
        out.last = step;
        return out;
    }
  }
  ADD_FAILURE() << "the runner never finished";
  return out;
}

inline Phase phase(PhaseKind kind, std::string sql, std::uint32_t attempts = 1, std::string cleanup = {}) {
  Phase p;
  p.kind = kind;
  p.description = "step " + sql;
  p.sql = std::move(sql);
  p.table = "public.orders";
  p.lock_timeout_ms = 2000;
  p.retry = {attempts, 100};
  p.cleanup_sql = std::move(cleanup);
  return p;
}

inline bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }


}  // namespace schemagate::proxy
