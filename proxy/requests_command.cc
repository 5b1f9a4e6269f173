#include "proxy/requests_command.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "proxy/approvals/http_client.h"
#include "proxy/approvals/request.h"
#include "proxy/utc_time.h"

namespace schemagate::proxy {
namespace {

using Json = nlohmann::ordered_json;  // print fields in the order the API wrote them
using approvals::HttpCall;
using approvals::HttpResult;

constexpr const char* kDefaultAdminUrl = "http://127.0.0.1:6433";
constexpr std::size_t kStatementWidth = 60;  // characters of the statement a list row shows
constexpr std::uint32_t kTimeoutMs = 15000;

constexpr const char* kUsage =
    "usage: schemagate requests list [--status STATUS] [--format text|json] [OPTIONS]\n"
    "       schemagate requests show ID [--format text|json] [OPTIONS]\n"
    "       schemagate requests approve ID [--reason TEXT] [OPTIONS]\n"
    "       schemagate requests deny ID --reason TEXT [OPTIONS]\n"
    "\n"
    "Lists, shows, approves or denies held statements through the admin API.\n"
    "OPTIONS:\n"
    "  --admin-url URL    the admin API (default $SCHEMAGATE_ADMIN_URL, else http://127.0.0.1:6433)\n"
    "  --token-file FILE  read the bearer token from FILE (default: $SCHEMAGATE_ADMIN_TOKEN);\n"
    "                     there is no --token flag, so that tokens stay out of shell history\n"
    "  --ca-file FILE     https: verify the admin API's certificate against FILE (default: system store)\n"
    "STATUS: pending, approved, denied, expired, withdrawn, executed, failed.\n"
    "Exit codes: 0 success, 1 refused by the API, 2 usage error or the API unreachable.\n";

struct Options {
  std::string command;  // list | show | approve | deny
  std::string id;
  std::optional<std::string> status, reason;
  std::string format = "text";
  std::string admin_url, token_file, ca_file;
};

int usage_error(const std::string& msg) {
  std::cerr << "schemagate requests: " << msg << "\n" << kUsage;
  return 2;
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

/// Parses argv (after "requests"); returns an error message or "".
std::string parse_options(const std::vector<std::string>& args, Options& o) {
  o.command = args.front();
  if (o.command != "list" && o.command != "show" && o.command != "approve" && o.command != "deny")
    return "unknown subcommand '" + o.command + "'";
  std::vector<std::string> positional;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a.rfind("--", 0) != 0 || a == "--") {
      positional.push_back(a);
      continue;
    }
    std::string flag = a, value;
    if (const auto eq = a.find('='); eq != std::string::npos) {
      flag = a.substr(0, eq);
      value = a.substr(eq + 1);
    } else if (flag != "--token") {
      if (i + 1 >= args.size()) return a + " needs a value";
      value = args[++i];
    }
    if (flag == "--token")
      return "--token is not supported (it would land in shell history): set SCHEMAGATE_ADMIN_TOKEN or use "
             "--token-file FILE";
    if (flag == "--admin-url") o.admin_url = value;
    else if (flag == "--token-file") o.token_file = value;
    else if (flag == "--ca-file") o.ca_file = value;
    else if (flag == "--format" && (o.command == "list" || o.command == "show")) {
      if (value != "text" && value != "json") return "--format: expected text or json, got '" + value + "'";
      o.format = value;
    } else if (flag == "--status" && o.command == "list") {
      if (!approvals::parse_request_status(value))
        return "--status: expected pending, approved, denied, expired, withdrawn, executed or failed, got '" + value + "'";
      o.status = value;
    } else if (flag == "--reason" && (o.command == "approve" || o.command == "deny")) {
      o.reason = value;
    } else {
      return "unknown option " + flag + " for '" + o.command + "'";
    }
  }
  if (o.command == "list") {
    if (!positional.empty()) return "unexpected argument '" + positional[0] + "'";
  } else {
    if (positional.size() != 1) return o.command + " needs exactly one request ID";
    o.id = positional[0];
    if (!approvals::valid_request_id(o.id)) return "'" + o.id + "' is not a request ID (16 lower-case hex characters)";
  }
  if (o.command == "deny" && (!o.reason || trim(*o.reason).empty())) return "deny needs --reason TEXT";
  if (o.admin_url.empty()) o.admin_url = env_or("SCHEMAGATE_ADMIN_URL", kDefaultAdminUrl);
  while (!o.admin_url.empty() && o.admin_url.back() == '/') o.admin_url.pop_back();
  return "";
}

/// The bearer token: --token-file, else $SCHEMAGATE_ADMIN_TOKEN. "" with `error` set if neither.
std::string load_token(const Options& o, std::string& error) {
  if (!o.token_file.empty()) {
    std::ifstream in(o.token_file, std::ios::binary);
    if (!in) {
      error = "cannot read the token file '" + o.token_file + "'";
      return "";
    }
    std::ostringstream text;
    text << in.rdbuf();
    std::string token = trim(text.str());
    if (token.empty()) error = "the token file '" + o.token_file + "' is empty";
    return token;
  }
  std::string token = trim(env_or("SCHEMAGATE_ADMIN_TOKEN", ""));
  if (token.empty()) error = "no admin token: set SCHEMAGATE_ADMIN_TOKEN or use --token-file FILE";
  return token;
}

std::string format_time(std::int64_t ms) { return utc_time_text(ms); }

std::string text_of(const Json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::int64_t ms_of(const Json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

/// One line, at most `width` characters (whitespace runs collapsed), "…"-free ASCII ellipsis.
std::string one_line(const std::string& s, std::size_t width) {
  std::string out;
  bool space = false;
  for (const char c : s) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  if (out.size() > width) out = out.substr(0, width - 3) + "...";
  return out;
}

/// A response's request object: the body itself or its "request" member.
const Json* request_of(const Json& body) {
  if (body.is_object() && body.contains("request") && body["request"].is_object()) return &body["request"];
  if (body.is_object() && body.contains("id")) return &body;
  return nullptr;
}

void print_table(const Json& requests) {
  const std::vector<std::string> header{"ID", "STATUS", "CREATED", "USER", "DATABASE", "RULE", "STATEMENT"};
  std::vector<std::vector<std::string>> rows{header};
  for (const auto& r : requests)
    rows.push_back({text_of(r, "id"), text_of(r, "status"), format_time(ms_of(r, "created_ms")), text_of(r, "user"),
                    text_of(r, "database"), text_of(r, "rule_id"), one_line(text_of(r, "statement"), kStatementWidth)});
  std::vector<std::size_t> width(header.size(), 0);
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
  if (requests.empty()) std::cout << "(no requests)\n";
}

void print_request(const Json& r) {
  const auto line = [](const char* key, const std::string& value) {
    if (!value.empty()) std::cout << key << ": " << value << "\n";
  };
  line("id", text_of(r, "id"));
  line("status", text_of(r, "status"));
  line("statement", text_of(r, "statement"));
  line("command", text_of(r, "command_tag"));
  line("user", text_of(r, "user"));
  line("database", text_of(r, "database"));
  line("client", text_of(r, "client_addr"));
  line("application", text_of(r, "application_name"));
  line("rule", text_of(r, "rule_id"));
  if (const auto it = r.find("rules"); it != r.end() && it->is_array())
    for (const auto& rule : *it) std::cout << "  - " << text_of(rule, "id") << ": " << text_of(rule, "message") << "\n";
  line("in transaction", r.value("in_transaction", false) ? "yes (its locks are held while it waits)" : "");
  line("proxy", text_of(r, "proxy_instance"));
  line("created", format_time(ms_of(r, "created_ms")));
  line("expires", format_time(ms_of(r, "expires_ms")));
  if (ms_of(r, "decided_ms") > 0) line("decided", format_time(ms_of(r, "decided_ms")));
  if (ms_of(r, "valid_until_ms") > 0) line("valid until", format_time(ms_of(r, "valid_until_ms")));
  if (ms_of(r, "finished_ms") > 0) line("finished", format_time(ms_of(r, "finished_ms")));
  line("approvals required", text_of(r, "approvals_required"));
  line("decided by", text_of(r, "decided_by"));
  line("reason", text_of(r, "reason"));
  line("outcome", text_of(r, "outcome"));
  if (const auto it = r.find("votes"); it != r.end() && it->is_array() && !it->empty()) {
    std::cout << "votes:\n";
    for (const auto& v : *it) {
      std::cout << "  - " << text_of(v, "approver") << " " << (v.value("approve", false) ? "approved" : "denied")
                << " at " << format_time(ms_of(v, "at_ms"));
      if (const auto reason = text_of(v, "reason"); !reason.empty()) std::cout << ": " << reason;
      std::cout << "\n";
    }
  }
  if (const auto it = r.find("plan"); it != r.end() && !it->is_null()) line("plan", it->dump());
  if (const auto it = r.find("evidence"); it != r.end() && it->is_object() && !it->empty())
    line("evidence", it->dump());
}

/// The API's {"error": …} or the raw body, for a refusal.
std::string api_error(const HttpResult& r) {
  const auto j = Json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) return j["error"].get<std::string>();
  return r.body.empty() ? "(no message)" : one_line(r.body, 200);
}

}  // namespace

int requests_command(int argc, char** argv) {
  const std::vector<std::string> args(argv, argv + std::max(argc, 0));
  if (args.empty()) return usage_error("a subcommand is needed: list, show, approve or deny");
  for (const auto& a : args)
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    }
  Options o;
  if (const auto err = parse_options(args, o); !err.empty()) return usage_error(err);
  std::string error;
  const std::string token = load_token(o, error);
  if (token.empty()) {
    std::cerr << "schemagate requests: " << error << "\n";
    return 2;
  }

  HttpCall call;
  call.timeout_ms = kTimeoutMs;
  call.ca_file = o.ca_file;
  call.headers = {{"Authorization", "Bearer " + token}, {"Accept", "application/json"}};
  call.url = o.admin_url + "/v1/requests";
  if (o.command == "list") {
    if (o.status) call.url += "?status=" + *o.status;
  } else {
    call.url += "/" + o.id;
  }
  if (o.command == "approve" || o.command == "deny") {
    call.method = "POST";
    call.url += "/" + o.command;
    Json body = Json::object();
    if (o.reason) body["reason"] = *o.reason;
    call.body = body.dump();
  }
  const HttpResult r = approvals::http_call(call);
  if (!r.ok) {
    std::cerr << "schemagate requests: cannot reach the admin API at " << o.admin_url << ": " << r.error << "\n";
    return 2;
  }
  if (r.status < 200 || r.status >= 300) {
    std::cerr << "schemagate requests: " << api_error(r) << " (HTTP " << r.status << ")\n";
    return 1;
  }
  const auto body = Json::parse(r.body, nullptr, false);
  if (body.is_discarded()) {
    std::cerr << "schemagate requests: the admin API answered HTTP " << r.status << " with a body that is not JSON\n";
    return 2;
  }
  if (o.format == "json" && (o.command == "list" || o.command == "show")) {
    std::cout << body.dump(2) << "\n";
    return 0;
  }
  if (o.command == "list") {
    const Json* list = body.is_array() ? &body : (body.contains("requests") ? &body["requests"] : nullptr);
    if (!list || !list->is_array()) {
      std::cerr << "schemagate requests: unexpected answer from the admin API: " << one_line(r.body, 200) << "\n";
      return 2;
    }
    print_table(*list);
    return 0;
  }
  const Json* request = request_of(body);
  if (!request) {
    std::cerr << "schemagate requests: unexpected answer from the admin API: " << one_line(r.body, 200) << "\n";
    return 2;
  }
  if (o.command == "show") {
    print_request(*request);
    return 0;
  }
  // approve / deny: the resulting status (an approval may still wait for more approvers).
  std::cout << "request " << text_of(*request, "id") << ": " << text_of(*request, "status");
  if (const auto result = text_of(body, "result"); !result.empty()) std::cout << " (" << result << ")";
  if (text_of(*request, "status") == "pending") {
    int approvals = 0;
    for (const auto& v : request->value("votes", Json::array())) approvals += v.value("approve", false) ? 1 : 0;
    std::cout << ", " << approvals << " of " << text_of(*request, "approvals_required") << " approvals";
  }
  std::cout << "\n";
  return 0;
}

}  // namespace schemagate::proxy
