#include "proxy/serve_config.h"

#include <exception>
#include <sstream>

#include "config/endpoint.h"
#include "config/loader.h"
#include "policy/engine.h"
#include "proxy/policy_interceptor.h"

namespace schemagate::proxy {
namespace {

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

}  // namespace

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
  if (flag == "--busy-poll-adaptive") {
    if (value == "on") c.io.busy_poll_adaptive = true;
    else if (value == "off") c.io.busy_poll_adaptive = false;
    else return "--busy-poll-adaptive: expected on or off, got '" + value + "'";
    return "";
  }
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
std::optional<config::Policy> resolve_policy(const config::PolicyRef& ref, const std::string& config_source,
                                             std::ostream& err) {
  config::Policy policy;
  std::string source = config_source;
  std::vector<config::ConfigError> errors;
  if (!ref.file.empty()) {
    auto loaded = policy::load_policy_file(ref.file);
    if (!loaded.ok()) {
      err << loaded.error_text(ref.file);
      return std::nullopt;
    }
    policy = std::move(loaded.policy);
  } else if (ref.inline_policy) {
    policy = *ref.inline_policy;
    errors = policy::validate_policy(policy);
  }
  if (!errors.empty()) {
    for (const auto& e : errors) err << source << ": " << e.to_string() << "\n";
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

bool build_running_config(const ServeFlags& flags, RunningConfig& out, std::ostream& err, bool& usage) {
  usage = false;
  config::LoadResult loaded;
  if (!flags.config_file.empty()) {
    loaded = config::load_config_file(flags.config_file);
    if (!loaded.ok()) {
      err << loaded.error_text(flags.config_file);
      return false;
    }
  }
  auto cfg = std::make_shared<config::Config>(loaded.config);
  anchor_policy_file(*cfg, flags.config_file);
  for (const auto& [flag, value] : flags.overrides)
    if (auto e = apply_override(*cfg, flag, value); !e.empty()) {
      err << e << "\n";
      usage = true;
      return false;
    }
  std::vector<config::ConfigError> errors;
  config::validate(*cfg, errors);
  if (!errors.empty()) {
    for (const auto& e : errors) err << "schemagate: " << e.to_string() << "\n";
    return false;
  }
  auto policy = resolve_policy(cfg->policy, flags.config_file.empty() ? "policy" : flags.config_file, err);
  if (!policy) return false;
  out.policy_mode = config::to_string(policy->mode);
  auto engine = std::make_shared<const policy::PolicyEngine>(std::move(*policy));
  out.interceptor = std::make_shared<PolicyInterceptor>(engine);
  out.config = std::move(cfg);
  return true;
}

}  // namespace schemagate::proxy
