#pragma once
#include <string>
#include <vector>

#include "config/model.h"
#include "config/yaml_section.h"

namespace schemagate::config {

/// A loaded configuration, or the list of everything wrong with it.
struct LoadResult {
  Config config;
  std::vector<ConfigError> errors;  // empty means `config` is valid
  bool ok() const { return errors.empty(); }
  /// All errors, one per line, prefixed with the file name.
  std::string error_text(const std::string& source) const;
};

/// Parses and validates YAML text. Never throws.
LoadResult load_config_text(const std::string& yaml_text);
/// Reads a file and calls load_config_text; an unreadable file is one error.
LoadResult load_config_file(const std::string& path);
/// Cross-field checks (TLS key without cert, ...); used after command-line overrides too.
void validate(const Config& c, std::vector<ConfigError>& errors);

}  // namespace schemagate::config
