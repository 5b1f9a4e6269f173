#pragma once
// The configuration `schemagate serve` runs with: the config file, the command-line flags
// applied over it, and the policy it points at — built the same way at start and at every
// reload, so a reload sees exactly what a restart would.
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "config/model.h"
#include "proxy/interceptor.h"

namespace schemagate::proxy {

struct ServeFlags {
  std::string config_file;
  std::vector<std::pair<std::string, std::string>> overrides;  // flag, value, applied in order
};

/// Applies one command-line override; returns an error message or "".
std::string apply_override(config::Config& c, const std::string& flag, const std::string& value);

/// The policy a config points at: its file, its inline section, or the built-in defaults,
/// with the mode override applied. Writes errors (key and line) to `err`; nullopt if invalid.
std::optional<config::Policy> resolve_policy(const config::PolicyRef& ref, const std::string& config_source,
                                             std::ostream& err);

/// A relative policy.file in a config file is relative to that file, not to the working directory.
void anchor_policy_file(config::Config& c, const std::string& config_file);

struct RunningConfig {
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const Interceptor> interceptor;
  std::string policy_mode;  // "observe" / "enforce", for the log
};
/// Loads and validates everything; false with the errors in `err` (one per line).
/// `usage` is set when a flag, not the file, was wrong.
bool build_running_config(const ServeFlags& flags, RunningConfig& out, std::ostream& err, bool& usage);

}  // namespace schemagate::proxy
