#include "proxy/cli.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "config/endpoint.h"
#include "config/loader.h"
#include "policy/commands/check.h"
#include "policy/commands/explain.h"
#include "policy/engine.h"
#include "proxy/migrations_command.h"
#include "proxy/plan_command.h"
#include "proxy/policy_interceptor.h"
#include "proxy/requests_command.h"
#include "proxy/serve_config.h"
#include "proxy/server.h"

#ifndef SG_VERSION
#define SG_VERSION "0.0.0"
#endif

namespace schemagate::proxy {
namespace {

constexpr const char* kUsage = R"(schemagate — a PostgreSQL proxy that makes schema changes safe

Usage:
  schemagate serve [--config FILE] [--listen HOST:PORT] [--upstream HOST:PORT] [--unix-socket-dir DIR]
                   [--policy FILE] [--mode observe|enforce] [--workers N] [--busy-poll-us N]
                   [--log-level LEVEL] [--state PATH] [--approvals-store PATH] [--admin HOST:PORT]
  schemagate config check FILE
  schemagate check [--config FILE | --policy FILE] [--format text|json|github] [--pg-version N] FILE.sql...
  schemagate explain [--policy FILE] [--format text|json] [--pg-version N] [--in-transaction] [--table-rows N] "SQL"
  schemagate plan [--config FILE | --policy FILE] [--dsn CONNINFO] [--format text|json] FILE.sql...
  schemagate migrations list [--state PATH | --config FILE] [--format text|json] [--limit N]
  schemagate migrations show ID [--state PATH | --config FILE] [--format text|json]
  schemagate migrations resume ID [--state PATH | --config FILE] [--dsn CONNINFO]
  schemagate requests list [--status S] [--format text|json] | show ID [--format text|json]
  schemagate requests approve ID [--reason TEXT] | deny ID --reason TEXT
                   [--admin-url URL] [--token-file FILE] [--ca-file FILE]   (token: $SCHEMAGATE_ADMIN_TOKEN)
  schemagate --version
  schemagate --help

serve      run the proxy. The config file is optional; flags override it.
config     validate a configuration file and the policy it uses (exit 0 valid, 2 invalid).
check      lint migration files offline with the same policy engine (exit 0 clean, 1 findings, 2 error).
explain    show the decision, rules and plan for each statement of one client message.
plan       print the phased plan the proxy would run for each statement of migration files (live
           facts from --dsn when given).
migrations list the rewrite plans in the plan journal (state.path), or show one in full.
requests   list, show, approve or deny held statements through the admin API
           (--admin-url, default $SCHEMAGATE_ADMIN_URL, else http://127.0.0.1:6433).

Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
)";

/// `schemagate COMMAND --help`: the usage lines of that command from kUsage, and its paragraph.
int command_help(const std::string& cmd) {
  const std::string_view usage(kUsage);
  std::string lines, about;
  std::size_t at = 0;
  bool in_entry = false;
  while (at < usage.size()) {
    const auto end = std::min(usage.find('\n', at), usage.size());
    const auto line = usage.substr(at, end - at);
    at = end + 1;
    const bool usage_line = line.rfind("  schemagate " + cmd + " ", 0) == 0 || line == "  schemagate " + cmd;
    const bool continuation = line.rfind("                   ", 0) == 0;
    if (usage_line || (continuation && in_entry && about.empty())) {
      lines += std::string(line) + "\n";
      in_entry = true;
      continue;
    }
    if (!continuation) in_entry = false;
    if (line.rfind(cmd + " ", 0) == 0) {
      about = std::string(line) + "\n";
      in_entry = true;
    } else if (!about.empty() && in_entry && line.rfind("           ", 0) == 0) {
      about += std::string(line) + "\n";
    } else if (!about.empty()) {
      in_entry = false;
    }
  }
  if (lines.empty()) return -1;
  std::cout << "Usage:\n" << lines << "\n" << about;
  return 0;
}

int usage_error(const std::string& msg) {
  std::cerr << "schemagate: " << msg << "\n\nRun 'schemagate --help' for usage.\n";
  return 2;
}

/// spdlog flag %* : the message as a JSON string body (quotes, backslashes and control
/// characters escaped), so that log.format json gives one valid object per line.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    static constexpr char kHex[] = "0123456789abcdef";
    for (const char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        dest.push_back('\\');
        dest.push_back(c);
      } else if (u < 0x20) {
        const char esc[] = {'\\', 'u', '0', '0', kHex[u >> 4], kHex[u & 15]};
        dest.append(esc, esc + sizeof esc);
      } else {
        dest.push_back(c);
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessageFlag>(); }
};

void setup_logging(const config::Logging& log) {
  auto logger = spdlog::stderr_color_mt("schemagate");
  if (log.json) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","message":"%*"})");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  }
  logger->set_level(spdlog::level::from_str(log.level));
  spdlog::set_default_logger(logger);
}

int serve(const std::vector<std::string>& args) {
  ServeFlags flags;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a.rfind("--", 0) != 0) return usage_error("unexpected argument '" + a + "'");
    std::string flag = a, value;
    if (const auto eq = a.find('='); eq != std::string::npos) {
      flag = a.substr(0, eq);
      value = a.substr(eq + 1);
    } else {
      if (i + 1 >= args.size()) return usage_error(a + " needs a value");
      value = args[++i];
    }
    if (flag == "--config") flags.config_file = value;
    else flags.overrides.emplace_back(flag, value);
  }
  RunningConfig running;
  bool usage = false;
  std::ostringstream errors;
  if (!build_running_config(flags, running, errors, usage)) {
    if (usage) return usage_error(errors.str().substr(0, errors.str().size() - 1));
    std::cerr << errors.str();
    return 2;
  }
  const auto cfg = running.config;
  setup_logging(cfg->log);
  Server server(cfg, running.interceptor);
  // SIGHUP, POST /v1/reload and the console's RELOAD read the same file and flags again.
  server.set_reloader([flags](Server::Reloaded& next, std::string& error) {
    RunningConfig r;
    bool bad_flag = false;
    std::ostringstream why;
    if (!build_running_config(flags, r, why, bad_flag)) {
      error = why.str();
      while (!error.empty() && error.back() == '\n') error.pop_back();
      return false;
    }
    next.config = r.config;
    next.interceptor = r.interceptor;
    return true;
  });
  std::string error;
  if (!server.start(error)) {
    spdlog::critical("{}", error);
    return 1;
  }
  spdlog::info("schemagate {} listening on {}:{}, upstream {} (tls {}), policy mode {}", SG_VERSION,
               cfg->listen.address, server.port(), cfg->upstream.describe(),
               config::to_string(cfg->upstream.tls.mode), running.policy_mode);
  if (!server.unix_socket_path().empty()) spdlog::info("also listening on {}", server.unix_socket_path());
  if (!server.admin_url().empty()) spdlog::info("admin API listening on {}", server.admin_url());
  if (!cfg->policy.file.empty()) spdlog::info("policy file {}", cfg->policy.file);
  server.run();
  spdlog::info("schemagate stopped");
  return 0;
}

int config_check(const std::vector<std::string>& args) {
  if (args.size() != 1) return usage_error("usage: schemagate config check FILE");
  const auto loaded = config::load_config_file(args[0]);
  if (!loaded.ok()) {
    std::cerr << loaded.error_text(args[0]);
    return 2;
  }
  auto cfg = loaded.config;
  anchor_policy_file(cfg, args[0]);
  if (!resolve_policy(cfg.policy, args[0], std::cerr)) return 2;
  std::cout << args[0] << ": OK\n";
  return 0;
}

}  // namespace

int run_cli(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string cmd = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  // plan, migrations and requests answer --help themselves (their own usage text).
  const bool own_help = cmd == "plan" || cmd == "migrations" || cmd == "requests";
  for (const auto& a : rest)
    if (!own_help && (a == "--help" || a == "-h"))
      if (const int rc = command_help(cmd); rc >= 0) return rc;
  if (cmd == "check") return policy::run_check(rest, std::cout, std::cerr);
  if (cmd == "explain") return policy::run_explain(rest, std::cout, std::cerr);
  if (cmd == "--version" || cmd == "version") {
    std::cout << "schemagate " << SG_VERSION << "\n";
    return 0;
  }
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (cmd == "serve") return serve(rest);
  if (cmd == "migrations") return run_migrations(rest, std::cout, std::cerr);
  if (cmd == "requests") return requests_command(argc - 2, argv + 2);
  if (cmd == "plan") return run_plan_command(rest, std::cout, std::cerr);
  if (cmd == "config") {
    if (rest.empty() || rest[0] != "check") return usage_error("usage: schemagate config check FILE");
    return config_check({rest.begin() + 1, rest.end()});
  }
  return usage_error("unknown command '" + cmd + "'");
}

}  // namespace schemagate::proxy
