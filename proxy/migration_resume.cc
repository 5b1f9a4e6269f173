// `schemagate migrations resume ID`: PlanRunner's steps over a blocking libpq connection.
//
// The proxy resumes an interrupted plan when the client sends the same statement again; this is
// the way to finish it without that client (its deploy is gone, the migration tool moved on).
// The journal's plan is run as written there, so a resumed plan is the very plan that started.
#include "proxy/migration_resume.h"

#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <memory>
#include <random>
#include <thread>

#include "policy/commands/output.h"
#include "proxy/monotonic_clock.h"
#include "proxy/plan_journal.h"
#include "proxy/plan_runner.h"

namespace schemagate::proxy {
namespace {

std::atomic<PGcancel*> g_cancel{nullptr};
volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void on_sigint(int) {
  g_interrupted = 1;
  // PQcancel is documented as safe to call from a signal handler.
  if (PGcancel* c = g_cancel.load()) {
    char buf[128];
    PQcancel(c, buf, sizeof buf);
  }
}

std::string field(const PGresult* r, int code) {
  const char* v = PQresultErrorField(r, code);
  return v ? v : "";
}

/// One simple Query (possibly several statements), collected as the proxy's exchange does.
QueryResult run_query(PGconn* c, const std::string& sql) {
  QueryResult out;
  if (!PQsendQuery(c, sql.c_str())) {
    out.connection_lost = true;
    return out;
  }
  while (PGresult* r = PQgetResult(c)) {
    switch (PQresultStatus(r)) {
      case PGRES_TUPLES_OK:
        for (int i = 0; i < PQntuples(r); ++i) {
          QueryResult::Row row;
          for (int j = 0; j < PQnfields(r); ++j)
            row.push_back(PQgetisnull(r, i, j) ? std::nullopt : std::optional<std::string>(PQgetvalue(r, i, j)));
          out.rows.push_back(std::move(row));
        }
        out.command_tags.emplace_back(PQcmdStatus(r));
        break;
      case PGRES_COMMAND_OK:
        out.command_tags.emplace_back(PQcmdStatus(r));
        break;
      case PGRES_FATAL_ERROR:
        if (!out.error)
          out.error = protocol::ErrorFields{field(r, PG_DIAG_SEVERITY), field(r, PG_DIAG_SQLSTATE),
                                            field(r, PG_DIAG_MESSAGE_PRIMARY), field(r, PG_DIAG_MESSAGE_DETAIL),
                                            field(r, PG_DIAG_MESSAGE_HINT)};
        break;
      default:
        break;
    }
    PQclear(r);
  }
  if (PQstatus(c) != CONNECTION_OK) out.connection_lost = true;
  const auto tx = PQtransactionStatus(c);
  out.tx_status = tx == PQTRANS_INERROR ? 'E' : tx == PQTRANS_INTRANS ? 'T' : 'I';
  if (out.error && out.error->sqlstate.empty() && out.connection_lost) out.error.reset();
  return out;
}

extern "C" void print_server_notice(void* arg, const PGresult* r) {
  *static_cast<std::ostream*>(arg) << field(r, PG_DIAG_SEVERITY) << ":  " << field(r, PG_DIAG_MESSAGE_PRIMARY) << "\n";
}

}  // namespace

int resume_migration(StateStore& store, const std::string& id, const std::string& conninfo, std::ostream& out,
                     std::ostream& err) {
  std::string error;
  const auto entry = store.get(id, error);
  if (!entry) {
    err << "schemagate: " << (error.empty() ? "no migration with id " + id : error) << "\n";
    return 1;
  }
  const bool abandoned = entry->status == PlanStatus::running && store.abandoned(*entry);
  if (entry->status != PlanStatus::interrupted && !abandoned) {
    err << "schemagate: migration " << id << " is " << to_string(entry->status)
        << (entry->status == PlanStatus::running ? " (held by " + entry->owner + ", whose lease is current)" : "")
        << "; only an interrupted one, or a running one its proxy abandoned, can be resumed\n";
    return 1;
  }
  const auto plan = policy::commands::plan_from_json_text(entry->plan_json, error);
  if (!plan) {
    err << "schemagate: migration " << id << ": the journal's plan cannot be read: " << error << "\n";
    return 1;
  }
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(conninfo.c_str()), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    err << "schemagate: cannot connect to the database: " << PQerrorMessage(conn.get());
    return 1;
  }
  PQsetNoticeReceiver(conn.get(), print_server_notice, &out);
  // The plan's phases must run with the privileges (and create objects owned by the role) the
  // client had: the same login user, on the same database.
  const auto who = run_query(conn.get(), "SELECT session_user, current_database()");
  if (!who.ok() || who.rows.empty() || who.rows[0].size() < 2) {
    err << "schemagate: cannot read session_user: " << (who.error ? who.error->message : "no answer") << "\n";
    return 1;
  }
  if (who.rows[0][0].value_or("") != entry->user || who.rows[0][1].value_or("") != entry->database) {
    err << "schemagate: migration " << id << " belongs to user '" << entry->user << "' on database '"
        << entry->database << "', but the connection is user '" << who.rows[0][0].value_or("") << "' on '"
        << who.rows[0][1].value_or("") << "'; connect as that user (--dsn)\n";
    return 1;
  }
  if (!store.resume_plan(id, error)) {
    err << "schemagate: migration " << id << " could not be claimed (a proxy may be resuming it now): " << error
        << "\n";
    return 1;
  }
  const ResumePoint resume = resume_point_of(*entry);
  out << "NOTICE:  schemagate: resuming migration " << id << " at phase " << resume.phase + 1 << "/"
      << plan->phases.size() << " (rule " << entry->rule_id << ")\n";

  g_cancel.store(PQgetCancel(conn.get()));
  g_interrupted = 0;
  struct sigaction sa {}, old {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, &old);

  // The lease is renewed beside the plan: one phase (a CONCURRENTLY build) may outlast it.
  std::atomic<bool> running{true};
  std::thread renewer([&store, &running] {
    std::string renew_error;
    auto next = std::chrono::steady_clock::now() + std::chrono::milliseconds(kPlanLeaseRenewMs);
    while (running.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (std::chrono::steady_clock::now() < next) continue;
      next += std::chrono::milliseconds(kPlanLeaseRenewMs);
      store.renew_leases(renew_error);
    }
  });
  struct JoinRenewer {
    std::atomic<bool>& running;
    std::thread& t;
    ~JoinRenewer() {
      running = false;
      t.join();
    }
  } join_renewer{running, renewer};
  PlanRunner runner(*plan, std::random_device{}(), resume, false);
  PlanJournalProgress journal(store, id, resume, monotonic_ms());
  PlanStep step;
  for (;;) {
    if (g_interrupted) runner.cancel();
    step = runner.next(monotonic_ms());
    if (step.kind == PlanStep::done || step.kind == PlanStep::failed) break;
    if (step.kind == PlanStep::query) {
      const auto result = run_query(conn.get(), step.sql);
      runner.on_result(result, monotonic_ms());
      if (!journal.update(runner, monotonic_ms(), false, error)) err << "schemagate: plan journal: " << error << "\n";
    } else if (step.kind == PlanStep::sleep) {
      const auto until = monotonic_ms() + step.sleep_ms;
      while (!g_interrupted && monotonic_ms() < until) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } else if (step.kind == PlanStep::statement_done) {
      // the client that sent the statement is not here: nothing to answer
    } else if (step.kind == PlanStep::notice) {
      out << "NOTICE:  " << step.text << "\n" << std::flush;
    }
  }
  journal.update(runner, monotonic_ms(), true, error);
  const PlanStatus status = journal.finish(runner, step, false, error);
  if (!error.empty()) err << "schemagate: plan journal: " << error << "\n";
  ::sigaction(SIGINT, &old, nullptr);
  PQfreeCancel(g_cancel.exchange(nullptr));

  if (step.kind == PlanStep::done) {
    out << "schemagate: migration " << id << " succeeded\n";
    return 0;
  }
  err << "ERROR:  " << step.error.message << " (SQLSTATE " << step.error.sqlstate << ")\n";
  if (!step.error.detail.empty()) err << "DETAIL:  " << step.error.detail << "\n";
  err << "schemagate: migration " << id << " is " << to_string(status)
      << (status == PlanStatus::interrupted ? "; run resume again to go on\n" : "\n");
  return 1;
}

}  // namespace schemagate::proxy
