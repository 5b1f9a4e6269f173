#include "proxy/cli.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
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

struct ServeFlags {
  std::string config_file;
  std::vector<std::pair<std::string, std::string>> overrides;  // flag, value, applied in order
};

int usage_error(const std::string& msg) {
  std::cerr << "schemagate: " << msg << "\n\nRun 'schemagate --help' for usage.\n";
  return 2;
}

/// Parses a non-negative integer flag value of at most `max` into `out`; returns an error or "".
template <class T>
std::string parse_count(const std::string& flag, const std::string& value, unsigned long max, T& out) {
  std::size_t used = 0;
  unsigned long n = 0;
  try {
    n = std::stoul(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size() || value.front() == '-' || n > max)
    return flag + ": expected an integer from 0 to " + std::to_string(max) + ", got '" + value + "'";
  out = static_cast<T>(n);
  return "";
}

/// Applies one command-line override; returns an error message or "".
std::string apply_override(config::Config& c, const std::string& flag, const std::string& value) {
  if (flag == "--listen" || flag == "--upstream") {
    const auto ep = config::parse_endpoint(value);
    if (!ep) return flag + ": expected HOST:PORT with a port from 1 to 65535, got '" + value + "'";
    if (flag == "--listen") {
      c.listen.address = ep->host;
      c.listen.port = ep->port;
    } else {
      c.upstream.host = ep->host;
      c.upstream.port = ep->port;
    }
    return "";
  }
  if (flag == "--unix-socket-dir") {
    c.listen.unix_socket_dir = value;
    return "";
  }
  if (flag == "--state") {
    c.state.path = value;
    return "";
  }
  if (flag == "--approvals-store") {  // the SQLite file (approvals.store.path); the backend stays as configured
    c.approvals.store.path = value;
    return "";
  }
  if (flag == "--admin") {
    const auto ep = config::parse_endpoint(value, true);
    if (!ep) return flag + ": expected HOST:PORT (port 0: any free port), got '" + value + "'";
    c.admin.address = ep->host;
    c.admin.port = ep->port;
    return "";
  }
  if (flag == "--policy") {
    c.policy.file = value;
    c.policy.inline_policy.reset();
    return "";
  }
  if (flag == "--mode") {
    if (value == "observe") c.policy.mode = config::PolicyMode::observe;
    else if (value == "enforce") c.policy.mode = config::PolicyMode::enforce;
    else return "--mode: expected observe or enforce, got '" + value + "'";
    return "";
  }
  if (flag == "--workers") return parse_count(flag, value, 256, c.workers);
  if (flag == "--busy-poll-us") return parse_count(flag, value, 100000, c.io.busy_poll_us);
  if (flag == "--log-level") {
    for (auto l : {"trace", "debug", "info", "warn", "error", "critical", "off"})
      if (value == l) {
        c.log.level = value;
        return "";
      }
    return "--log-level: expected trace|debug|info|warn|error|critical|off, got '" + value + "'";
  }
  return "unknown option " + flag;
}

/// The policy a config points at: its file, its inline section, or the built-in defaults,
/// with the mode override applied. Prints errors (key and line) and returns nullopt if invalid.
std::optional<config::Policy> resolve_policy(const config::PolicyRef& ref, const std::string& config_source) {
  config::Policy policy;
  std::string source = config_source;
  std::vector<config::ConfigError> errors;
  if (!ref.file.empty()) {
    auto loaded = policy::load_policy_file(ref.file);
    if (!loaded.ok()) {
      std::cerr << loaded.error_text(ref.file);
      return std::nullopt;
    }
    policy = std::move(loaded.policy);
  } else if (ref.inline_policy) {
    policy = *ref.inline_policy;
    errors = policy::validate_policy(policy);
  }
  if (!errors.empty()) {
    for (const auto& e : errors) std::cerr << source << ": " << e.to_string() << "\n";
    return std::nullopt;
  }
  if (ref.mode) policy.mode = *ref.mode;
  return policy;
}

/// A relative policy.file in a config file is relative to that file, not to the working directory.
void anchor_policy_file(config::Config& c, const std::string& config_file) {
  auto& f = c.policy.file;
  if (f.empty() || f.front() == '/' || config_file.empty()) return;
  const auto slash = config_file.rfind('/');
  if (slash != std::string::npos) f = config_file.substr(0, slash + 1) + f;
}

void setup_logging(const config::Logging& log) {
  auto logger = spdlog::stderr_color_mt("schemagate");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(log.level));
  spdlog::set_default_logger(logger);
}

int serve(const std::vector<std::string>& args) {
  ServeFlags flags;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    }
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
  config::LoadResult loaded;
  if (!flags.config_file.empty()) {
    loaded = config::load_config_file(flags.config_file);
    if (!loaded.ok()) {
      std::cerr << loaded.error_text(flags.config_file);
      return 2;
    }
  }
  auto cfg = std::make_shared<config::Config>(loaded.config);
  anchor_policy_file(*cfg, flags.config_file);
  for (const auto& [flag, value] : flags.overrides)
    if (auto err = apply_override(*cfg, flag, value); !err.empty()) return usage_error(err);
  std::vector<config::ConfigError> errors;
  config::validate(*cfg, errors);
  if (!errors.empty()) {
    for (const auto& e : errors) std::cerr << "schemagate: " << e.to_string() << "\n";
    return 2;
  }
  auto policy = resolve_policy(cfg->policy, flags.config_file.empty() ? "policy" : flags.config_file);
  if (!policy) return 2;
  setup_logging(cfg->log);
  auto engine = std::make_shared<const policy::PolicyEngine>(std::move(*policy));
  auto interceptor = std::make_shared<PolicyInterceptor>(engine);
  Server server(cfg, interceptor);
  std::string error;
  if (!server.start(error)) {
    spdlog::critical("{}", error);
    return 1;
  }
  spdlog::info("schemagate {} listening on {}:{}, upstream {} (tls {}), policy mode {}", SG_VERSION,
               cfg->listen.address, server.port(), cfg->upstream.describe(),
               config::to_string(cfg->upstream.tls.mode),
               config::to_string(engine->policy().mode));
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
  if (!resolve_policy(cfg.policy, args[0])) return 2;
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
