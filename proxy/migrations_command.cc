#include "proxy/migrations_command.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <optional>
#include <ostream>

#include "config/loader.h"
#include "proxy/migration_resume.h"
#include "proxy/state_store.h"
#include "proxy/utc_time.h"

namespace schemagate::proxy {
namespace {

using Json = nlohmann::ordered_json;  // fields in the order written, as a reader expects them

constexpr const char* kUsage =
    "usage: schemagate migrations list [--state PATH | --config FILE] [--format text|json] [--limit N]\n"
    "       schemagate migrations show ID [--state PATH | --config FILE] [--format text|json]\n"
    "       schemagate migrations resume ID [--state PATH | --config FILE] [--dsn CONNINFO]\n"
    "\n"
    "Lists the rewrite plans in the plan journal, newest first (--limit: default 50, 0 for all),\n"
    "or shows one in full. The journal is --state PATH, else state.path of --config FILE, else\n"
    "schemagate-state.db in the working directory.\n"
    "resume runs the rest of an interrupted plan itself, from its first unfinished phase, on a\n"
    "connection as the plan's user to its database: --dsn (a libpq connection string or URL),\n"
    "else upstream.host/port of --config (or libpq's PG* defaults) with that user and database.\n"
    "The password comes from PGPASSWORD or ~/.pgpass, never from a flag. Ctrl-C stops it between\n"
    "steps and leaves the plan interrupted.\n"
    "Exit codes: 0 success, 1 unknown id, unreadable journal or failed plan, 2 usage error or no\n"
    "journal file.\n";

constexpr std::size_t kDefaultLimit = 50;
constexpr std::size_t kStatementWidth = 60;  // characters of the statement a list row shows

struct Options {
  std::string command;  // list | show
  std::optional<std::string> state_path, config_file;
  std::string format = "text";
  std::size_t limit = kDefaultLimit;
  std::vector<std::string> positional;
  std::optional<std::string> dsn;  // resume
};

int usage_error(std::ostream& err, const std::string& msg) {
  err << "schemagate migrations: " << msg << "\n" << kUsage;
  return 2;
}

/// Parses the arguments after the subcommand; returns an error message or "".
std::string parse_options(const std::vector<std::string>& args, Options& o) {
  for (std::size_t i = 1; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a.rfind("--", 0) != 0 || a == "--") {
      o.positional.push_back(a);
      continue;
    }
    std::string flag = a, value;
    if (const auto eq = a.find('='); eq != std::string::npos) {
      flag = a.substr(0, eq);
      value = a.substr(eq + 1);
    } else {
      if (i + 1 >= args.size()) return a + " needs a value";
      value = args[++i];
    }
    if (flag == "--state") o.state_path = value;
    else if (flag == "--config") o.config_file = value;
    else if (flag == "--format") {
      if (value != "text" && value != "json") return "--format: expected text or json, got '" + value + "'";
      o.format = value;
    } else if (flag == "--dsn" && o.command == "resume") {
      o.dsn = value;
    } else if (flag == "--limit" && o.command == "list") {
      const bool digits = !value.empty() && value.size() <= 9 &&
                          std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (!digits) return "--limit: expected an integer from 0 to 999999999, got '" + value + "'";
      o.limit = std::stoul(value);
    } else {
      return "unknown option " + flag;
    }
  }
  if (o.state_path && o.config_file) return "give --state or --config, not both";
  if (o.state_path && o.state_path->empty()) return "--state: the path is empty";
  if (o.command == "list" && !o.positional.empty()) return "unexpected argument '" + o.positional[0] + "'";
  if (o.command != "list" && o.positional.size() != 1) return o.command + " needs exactly one ID";
  return "";
}

/// ms since the epoch as ISO 8601 UTC, to the second ("-" for none).
std::string iso_utc(std::int64_t ms) { return utc_time_text(ms, 'T'); }

/// Text from clients (statements, names) can hold terminal escape sequences: control
/// characters are shown as \xHH, never written to the operator's terminal. With `one_line`,
/// line breaks and runs of white space become one space.
std::string printable(std::string_view s, bool one_line) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    const bool space = c == ' ' || c == '\n' || c == '\r' || c == '\t';
    if (one_line && space) {
      if (!out.empty() && out.back() != ' ') out += ' ';
      continue;
    }
    // C0 controls but line breaks and tabs, DEL, and the C1 controls (U+0080..U+009F: C2 80..C2 9F).
    const auto next = i + 1 < s.size() ? static_cast<unsigned char>(s[i + 1]) : 0;
    const bool c1 = c == 0xc2 && next >= 0x80 && next < 0xa0;
    if (!((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f || c1)) {
      out += static_cast<char>(c);
      continue;
    }
    const unsigned char shown = c1 ? static_cast<unsigned char>(s[++i]) : c;
    out += "\\x";
    out += kHex[shown >> 4];
    out += kHex[shown & 0xf];
  }
  while (one_line && !out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

/// Characters (UTF-8 code points) in `s`, for aligning columns.
std::size_t width(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; }));
}

/// At most `max` characters, cut at a character boundary and marked with "...".
std::string shorten(const std::string& s, std::size_t max) {
  if (width(s) <= max) return s;
  std::size_t chars = 0, i = 0;
  for (; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xc0) != 0x80 && chars++ == max - 3) break;
  return s.substr(0, i) + "...";
}

std::string phase_text(const PlanJournalEntry& e) {
  return std::to_string(e.phases_done) + "/" + std::to_string(e.phase_count);
}

Json entry_json(const PlanJournalEntry& e, bool with_plan) {
  Json j = {{"id", e.id},
            {"status", to_string(e.status)},
            {"user", e.user},
            {"database", e.database},
            {"client_addr", e.client_addr},
            {"application_name", e.application_name},
            {"rule_id", e.rule_id},
            {"phase_count", e.phase_count},
            {"phases_done", e.phases_done},
            {"rows_backfilled", e.rows_backfilled},
            {"backfill_resume", e.backfill_resume},
            {"error", e.error},
            {"statement", e.statement},
            {"statement_hash", e.statement_hash},
            {"created", iso_utc(e.created_ms)},
            {"created_ms", e.created_ms},
            {"updated", iso_utc(e.updated_ms)},
            {"updated_ms", e.updated_ms},
            {"owner", e.owner},
            {"lease_until_ms", e.lease_until_ms}};
  if (with_plan) {
    // The store keeps the plan as opaque text; embed it as JSON when it is JSON.
    auto plan = Json::parse(e.plan_json, nullptr, false);
    j["plan"] = plan.is_discarded() ? Json(e.plan_json) : std::move(plan);
  }
  return j;
}

void print_json(std::ostream& out, const Json& doc) {
  out << doc.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
}

void print_table(std::ostream& out, const std::vector<PlanJournalEntry>& entries) {
  std::vector<std::vector<std::string>> rows{
      {"ID", "STATUS", "USER", "DATABASE", "RULE", "PHASE", "ROWS", "UPDATED", "STATEMENT"}};
  for (const auto& e : entries)
    rows.push_back({e.id, to_string(e.status), printable(e.user, true), printable(e.database, true),
                    printable(e.rule_id, true), phase_text(e), std::to_string(e.rows_backfilled), iso_utc(e.updated_ms),
                    shorten(printable(e.statement, true), kStatementWidth)});
  std::vector<std::size_t> widths(rows[0].size(), 0);
  for (const auto& r : rows)
    for (std::size_t c = 0; c < r.size(); ++c) widths[c] = std::max(widths[c], width(r[c]));
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t c = 0; c < r.size(); ++c) {
      line += r[c];
      if (c + 1 < r.size()) line += std::string(widths[c] - width(r[c]) + 2, ' ');
    }
    out << line << "\n";
  }
}

/// `label:` padded to one column, then the value; a multi-line value goes below, indented.
void field(std::ostream& out, const char* label, const std::string& value, bool block = false) {
  std::string l = std::string(label) + ":";
  if (block) {
    out << l << "\n";
    std::string indented = "  ";
    for (char c : value) indented += c == '\n' ? std::string("\n  ") : std::string(1, c);
    out << indented << "\n";
    return;
  }
  l.resize(std::max<std::size_t>(l.size() + 1, 18), ' ');
  out << l << value << "\n";
}

void print_entry(std::ostream& out, const PlanJournalEntry& e) {
  field(out, "id", e.id);
  field(out, "status", to_string(e.status));
  field(out, "user", printable(e.user, true));
  field(out, "database", printable(e.database, true));
  field(out, "client address", printable(e.client_addr, true));
  field(out, "application", printable(e.application_name, true));
  field(out, "rule", printable(e.rule_id, true));
  field(out, "phases done", phase_text(e));
  field(out, "rows backfilled", std::to_string(e.rows_backfilled));
  field(out, "backfill resume", e.backfill_resume.empty() ? "-" : printable(e.backfill_resume, true));
  field(out, "error", e.error.empty() ? "-" : printable(e.error, true));
  field(out, "created", iso_utc(e.created_ms));
  field(out, "updated", iso_utc(e.updated_ms));
  field(out, "owner", e.owner.empty() ? "-" : printable(e.owner, true));
  if (e.status == PlanStatus::running) field(out, "lease until", iso_utc(e.lease_until_ms));
  field(out, "statement hash", e.statement_hash);
  field(out, "statement", printable(e.statement, false), true);
  const auto plan = Json::parse(e.plan_json, nullptr, false);
  field(out, "plan",
        printable(plan.is_discarded() ? e.plan_json : plan.dump(2, ' ', false, Json::error_handler_t::replace), false),
        true);
}

/// Which journal to read (--state, the config's state.path, or the default) and, for
/// messages, where that came from. Returns 0, or an exit code.
/// A libpq conninfo value, quoted (it's becomes 'it\'s').
std::string conninfo_value(const std::string& v) {
  std::string out = "'";
  for (const char c : v) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

int resolve_path(const Options& o, std::string& path, std::string& source, std::ostream& err) {
  if (o.state_path) {
    path = *o.state_path;
    source = "--state";
    return 0;
  }
  if (!o.config_file) {
    path = config::State{}.path;
    source = "the default state.path";
    return 0;
  }
  source = "state.path in " + *o.config_file;
  const auto loaded = config::load_config_file(*o.config_file);
  if (!loaded.ok()) {
    err << loaded.error_text(*o.config_file);
    return 2;
  }
  path = loaded.config.state.path;  // relative to the working directory, as for the proxy
  return 0;
}

}  // namespace

int run_migrations(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  const auto help = [](const std::string& a) { return a == "--help" || a == "-h"; };
  if (!args.empty() && std::any_of(args.begin(), args.end(), help)) {
    out << kUsage;
    return 0;
  }
  if (args.empty() || (args[0] != "list" && args[0] != "show" && args[0] != "resume"))
    return usage_error(err, args.empty() ? "expected list, show or resume" : "unknown subcommand '" + args[0] + "'");
  Options o;
  o.command = args[0];
  if (const auto e = parse_options(args, o); !e.empty()) return usage_error(err, e);

  std::string path, source;
  if (const int rc = resolve_path(o, path, source, err); rc != 0) return rc;
  std::error_code ec;
  // Opening would create an empty journal: a mistyped path must not look like "no migrations".
  if (path != ":memory:" && !std::filesystem::exists(path, ec)) {
    err << "schemagate: no plan journal at '" << path << "' (" << source << "): the proxy creates it when it "
        << "starts; name another with --state PATH or --config FILE\n";
    return 2;
  }
  std::string error;
  const auto store = open_sqlite_state_store(path, error);
  if (!store) {
    err << "schemagate: " << error << "\n";
    return 1;
  }

  if (o.command == "resume") {
    const std::string& id = o.positional[0];
    std::string conninfo;
    if (o.dsn) {
      conninfo = *o.dsn;
    } else {
      const auto e = store->get(id, error);
      if (!e) {
        err << "schemagate: " << (error.empty() ? "no migration with id " + printable(id, true) : error) << "\n";
        return 1;
      }
      conninfo = "user=" + conninfo_value(e->user) + " dbname=" + conninfo_value(e->database) +
                 " application_name=schemagate-resume";
      if (o.config_file) {
        const auto loaded = config::load_config_file(*o.config_file);  // read once already: valid
        conninfo += " host=" + conninfo_value(loaded.config.upstream.host) +
                    " port=" + std::to_string(loaded.config.upstream.port);
      }
    }
    return resume_migration(*store, id, conninfo, out, err);
  }

  if (o.command == "show") {
    const std::string& id = o.positional[0];
    const auto e = store->get(id, error);
    if (!error.empty()) {
      err << "schemagate: " << error << "\n";
      return 1;
    }
    if (!e) {
      err << "schemagate: no migration with id " << printable(id, true) << "\n";
      return 1;
    }
    if (o.format == "json") print_json(out, {{"version", 1}, {"migration", entry_json(*e, true)}});
    else print_entry(out, *e);
    return 0;
  }

  // One more than asked for: tells "exactly N" from "N of more".
  auto entries = store->list(o.limit == 0 ? 0 : o.limit + 1, error);
  if (!error.empty()) {
    err << "schemagate: " << error << "\n";
    return 1;
  }
  const bool more = o.limit != 0 && entries.size() > o.limit;
  if (more) entries.resize(o.limit);
  if (o.format == "json") {
    Json list = Json::array();
    for (const auto& e : entries) list.push_back(entry_json(e, false));
    print_json(out, {{"version", 1}, {"journal", path}, {"truncated", more}, {"migrations", std::move(list)}});
    return 0;
  }
  if (entries.empty()) {
    out << "no migrations in " << path << "\n";
    return 0;
  }
  print_table(out, entries);
  if (more) out << "(the " << o.limit << " newest; --limit 0 lists all)\n";
  return 0;
}

}  // namespace schemagate::proxy
