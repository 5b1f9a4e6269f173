#pragma once
#include <string>
#include <vector>

#include "config/policy_model.h"
#include "config/yaml_section.h"

namespace schemagate::config {

/// Reads the `policy:` section of the proxy config: `file` and `mode`, or inline policy keys.
void load_policy_section(const YAML::Node& node, ErrorSink& errors, PolicyRef& out);

/// Reads a policy document (the mapping at `path`, "" for a whole file) into `out`.
void load_policy_body(const YAML::Node& node, const std::string& path, ErrorSink& errors, Policy& out);

/// A loaded policy, or everything wrong with it. Rule ids are not checked here (config knows no
/// rules); `schemagate::policy::load_policy_file` adds that check.
struct PolicyLoadResult {
  Policy policy;
  std::vector<ConfigError> errors;
  bool ok() const { return errors.empty(); }
  /// All errors, one per line, prefixed with `source`.
  std::string error_text(const std::string& source) const;
};

/// Parses a policy YAML document. Never throws.
PolicyLoadResult load_policy_text(const std::string& yaml_text);
/// Reads a policy file; an unreadable file is one error.
PolicyLoadResult load_policy_file(const std::string& path);

/// Parses "2s", "500ms", "1min", "1500" (milliseconds) into milliseconds; false if malformed.
bool parse_duration_ms(const std::string& text, std::uint32_t& out_ms);
/// Parses "0", "512kB", "64MB", "1GB" (PostgreSQL's units, powers of 1024; bare numbers are
/// bytes) into bytes; false if malformed or out of range.
bool parse_size_bytes(const std::string& text, std::uint64_t& out_bytes);

}  // namespace schemagate::config
