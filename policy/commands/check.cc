#include "policy/commands/check.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>

#include "policy/commands/output.h"
#include "policy/engine.h"

namespace schemagate::policy {

namespace {

using nlohmann::json;

/// One reportable line of `check`.
struct Report {
  std::string file;
  SourcePos pos;
  std::string rule;
  Outcome action = Outcome::warn;
  std::string message, detail, hint, statement;
};

const char* usage() {
  return "usage: schemagate check [--config F | --policy F] [--format text|json|github] [--pg-version N] "
         "[--assume-large-tables] [--table-rows N] [--user U] [--database D] [--application-name A] FILE.sql...\n";
}

// GitHub workflow commands need %, CR and LF escaped in the message, and also : and , in properties.
std::string gh_escape(std::string s, bool property) {
  std::string out;
  for (char c : s) {
    if (c == '%') out += "%25";
    else if (c == '\r') out += "%0D";
    else if (c == '\n') out += "%0A";
    else if (property && c == ':') out += "%3A";
    else if (property && c == ',') out += "%2C";
    else out += c;
  }
  return out;
}

void collect(const std::string& file, const BatchDecision& d, std::vector<Report>& out) {
  for (const auto& sd : d.statements) {
    if (sd.syntax_error) {  // always a finding in a migration, whatever the proxy would do with it
      Report r{file, sd.syntax_error->pos, "syntax_error", Outcome::reject, "syntax error: " + sd.syntax_error->message,
               "", "", sd.statement.text};
      out.push_back(std::move(r));
    }
    bool any = false;
    for (const auto& f : sd.findings) {
      if (f.action == Outcome::pass || (sd.syntax_error && f.rule_id == "unparsable")) continue;
      any = true;
      SourcePos pos = f.rule_id == "unparsable" && sd.syntax_error ? sd.syntax_error->pos : sd.statement.pos;
      out.push_back(Report{file, pos, f.rule_id, f.action, f.message, f.detail, f.hint, sd.statement.text});
    }
    if (!any && sd.outcome != Outcome::pass)  // decided by a scope or default_action, not by a rule
      out.push_back(Report{file, sd.statement.pos, sd.scope.empty() ? "policy_default" : "policy_scope", sd.outcome,
                           sd.message, sd.detail, sd.hint, sd.statement.text});
  }
  // A syntax error in text the statements did not cover (e.g. one unterminated quote).
  if (d.syntax_error && std::none_of(d.statements.begin(), d.statements.end(),
                                     [](const StatementDecision& s) { return s.syntax_error.has_value(); }))
    out.push_back(Report{file, d.syntax_error->pos, "syntax_error", Outcome::reject,
                         "syntax error: " + d.syntax_error->message, "", "", ""});
}

}  // namespace

int run_check(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  commands::CommonOptions opts;
  std::string error;
  if (!commands::parse_common(args, false, opts, error)) {
    err << "schemagate check: " << error << "\n" << usage();
    return 2;
  }
  if (opts.positional.empty()) {
    err << "schemagate check: no files given\n" << usage();
    return 2;
  }
  std::vector<std::string> errors;
  auto policy = commands::load_policy(opts, errors);
  if (!policy) {
    for (const auto& e : errors) err << "schemagate check: " << e << "\n";
    return 2;
  }
  const Outcome fail_level = policy->check_fail_level;
  PolicyEngine engine(*policy);
  OfflineFacts facts(opts.facts);
  SessionInfo session;
  session.user = opts.user;
  session.database = opts.database;
  session.application_name = opts.application_name;
  session.server_version_num = opts.facts.server_version_num;

  std::vector<Report> reports;
  std::vector<std::pair<std::string, std::string>> file_errors;
  for (const auto& file : opts.positional) {
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec)) {
      file_errors.emplace_back(file, "is a directory");
      continue;
    }
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      file_errors.emplace_back(file, "cannot read file");
      continue;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    if (text.find('\0') != std::string::npos) {
      file_errors.emplace_back(file, "file contains a NUL byte; not SQL text");
      continue;
    }
    collect(file, engine.evaluate_script(text, session, &facts), reports);
  }

  std::size_t failing = 0;
  for (const auto& r : reports)
    if (static_cast<int>(r.action) >= static_cast<int>(fail_level)) ++failing;

  if (opts.format == "json") {
    json findings = json::array();
    for (const auto& r : reports)
      findings.push_back({{"file", r.file},
                          {"line", r.pos.line},
                          {"column", r.pos.column},
                          {"rule", r.rule},
                          {"action", outcome_name(r.action)},
                          {"fails", static_cast<int>(r.action) >= static_cast<int>(fail_level)},
                          {"message", r.message},
                          {"detail", r.detail},
                          {"hint", r.hint},
                          {"statement", r.statement}});
    json errs = json::array();
    for (const auto& [f, m] : file_errors) errs.push_back({{"file", f}, {"message", m}});
    json doc = {{"version", 1},
                {"fail_level", outcome_name(fail_level)},
                {"findings", findings},
                {"errors", errs},
                {"summary",
                 {{"files", opts.positional.size()}, {"findings", reports.size()}, {"failing", failing},
                  {"errors", file_errors.size()}}}};
    out << doc.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  } else if (opts.format == "github") {
    for (const auto& r : reports) {
      const bool fails = static_cast<int>(r.action) >= static_cast<int>(fail_level);
      out << "::" << (fails ? "error" : "warning") << " file=" << gh_escape(r.file, true) << ",line=" << r.pos.line
          << ",col=" << r.pos.column << ",title=" << gh_escape(r.rule, true) << "::"
          << gh_escape(r.message + (r.hint.empty() ? "" : "\nhint: " + r.hint), false) << "\n";
    }
    for (const auto& [f, m] : file_errors) out << "::error file=" << gh_escape(f, true) << "::" << gh_escape(m, false) << "\n";
  } else {
    for (const auto& r : reports) {
      out << r.file << ":" << r.pos.line << ":" << r.pos.column << ": " << outcome_name(r.action) << ": " << r.rule
          << ": " << r.message << "\n";
      if (!r.detail.empty()) out << "  detail: " << r.detail << "\n";
      if (!r.hint.empty()) out << "  hint: " << r.hint << "\n";
    }
    for (const auto& [f, m] : file_errors) err << f << ": error: " << m << "\n";
    out << opts.positional.size() << " file(s), " << reports.size() << " finding(s), " << failing
        << " at or above '" << outcome_name(fail_level) << "'" << (file_errors.empty() ? "" : ", ")
        << (file_errors.empty() ? std::string() : std::to_string(file_errors.size()) + " error(s)") << "\n";
  }
  if (!file_errors.empty()) {
    if (opts.format != "text")
      for (const auto& [f, m] : file_errors) err << f << ": error: " << m << "\n";
    return 2;
  }
  return failing > 0 ? 1 : 0;
}

}  // namespace schemagate::policy
