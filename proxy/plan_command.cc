#include "proxy/plan_command.h"

#include <libpq-fe.h>

#include <fstream>
#include <memory>
#include <ostream>
#include <sstream>

#include "policy/commands/output.h"
#include "policy/engine.h"
#include "proxy/live_facts.h"

namespace schemagate::proxy {

namespace {

constexpr const char* kUsage =
    "usage: schemagate plan [--config F | --policy F] [--dsn CONNINFO] [--format text|json] [--pg-version N]\n"
    "                       [--user U] [--database D] [--application-name A] FILE.sql...\n";

struct PgConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using PgConnPtr = std::unique_ptr<PGconn, PgConnCloser>;

/// Runs one catalog query through `conn`, handing each row to `add`.
template <typename AddRow>
bool catalog_rows(PGconn* conn, const std::string& sql, std::string& error, AddRow add) {
  PGresult* res = PQexec(conn, sql.c_str());
  const bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
  if (!ok) error = PQresultErrorMessage(res);
  for (int r = 0; ok && r < PQntuples(res); ++r) {
    std::vector<std::optional<std::string>> row;
    for (int c = 0; c < PQnfields(res); ++c)
      row.push_back(PQgetisnull(res, r, c) ? std::nullopt : std::optional<std::string>(PQgetvalue(res, r, c)));
    add(row);
  }
  PQclear(res);
  return ok;
}

/// Reads the catalog facts for the tables `sql` names through `conn`: one catalog query, and a
/// second for the partitions when a table is partitioned — as the proxy does.
bool read_live_facts(PGconn* conn, const policy::PolicyEngine& engine, const std::string& sql, LiveFacts& facts,
                     std::string& error) {
  const auto tables = engine.referenced_tables(sql);
  if (tables.empty()) return true;
  const bool in_transaction = PQtransactionStatus(conn) != PQTRANS_IDLE;
  if (!catalog_rows(conn, LiveFacts::catalog_query(tables, in_transaction), error,
                    [&](const auto& row) { facts.add_row(row, tables); }))
    return false;
  const auto partitions = facts.partitions_query();
  return partitions.empty() ||
         catalog_rows(conn, partitions, error, [&](const auto& row) { facts.add_partitions_row(row); });
}

}  // namespace

int run_plan_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::vector<std::string> rest;
  std::string dsn;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      out << kUsage;
      return 0;
    }
    if (args[i] == "--dsn") {
      if (i + 1 >= args.size()) {
        err << "schemagate plan: --dsn needs a value\n" << kUsage;
        return 2;
      }
      dsn = args[++i];
      continue;
    }
    rest.push_back(args[i]);
  }
  policy::commands::CommonOptions opts;
  std::string error;
  if (!policy::commands::parse_common(rest, false, opts, error)) {
    err << "schemagate plan: " << error << "\n" << kUsage;
    return 2;
  }
  if (opts.positional.empty()) {
    err << "schemagate plan: no migration file given\n" << kUsage;
    return 2;
  }
  std::vector<std::string> errors;
  const auto policy = policy::commands::load_policy(opts, errors);
  if (!policy) {
    for (const auto& e : errors) err << "schemagate plan: " << e << "\n";
    return 2;
  }
  policy::PolicyEngine engine(*policy);
  PgConnPtr conn;
  if (!dsn.empty()) {
    conn.reset(PQconnectdb(dsn.c_str()));
    if (PQstatus(conn.get()) != CONNECTION_OK) {
      err << "schemagate plan: cannot connect with --dsn: " << PQerrorMessage(conn.get());
      return 1;
    }
    // Read only, and never wait behind a lock: facts are catalog reads.
    PQclear(PQexec(conn.get(), "SET default_transaction_read_only = on; SET lock_timeout = '2s'"));
  }
  policy::SessionInfo session;
  session.user = opts.user;
  session.database = opts.database;
  session.application_name = opts.application_name;
  session.server_version_num = conn ? PQserverVersion(conn.get()) : opts.facts.server_version_num;
  int status = 0;
  for (const auto& file : opts.positional) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      err << "schemagate plan: cannot read " << file << "\n";
      status = 2;
      continue;
    }
    std::stringstream text;
    text << in.rdbuf();
    const std::string sql = text.str();
    policy::OfflineFacts offline(opts.facts);
    LiveFacts live(session.server_version_num);
    if (conn && !read_live_facts(conn.get(), engine, sql, live, error)) {
      err << "schemagate plan: " << file << ": catalog query failed: " << error;
      status = 1;
      continue;
    }
    const policy::CatalogFacts* facts = conn ? static_cast<const policy::CatalogFacts*>(&live) : &offline;
    const auto d = engine.evaluate_script(sql, session, facts);
    if (opts.format == "json") {
      out << policy::commands::decision_json(d, *policy, 2) << "\n";
    } else {
      out << "== " << file << (conn ? " (live facts)" : " (no database: facts unknown, risky case assumed)") << "\n";
      policy::commands::print_decision_text(d, *policy, out);
      out << "\n";
    }
  }
  return status;
}

}  // namespace schemagate::proxy
