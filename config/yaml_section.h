#pragma once
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace schemagate::config {

/// One configuration problem, located: "upstream.port (line 4): expected ...".
struct ConfigError {
  std::string key;  // dotted path, e.g. "policy.rules[2].action"
  int line = 0;     // 1-based; 0 when unknown
  std::string message;
  std::string to_string() const;
};

/// Collects errors while reading a YAML tree.
class ErrorSink {
 public:
  void add(std::string key, const YAML::Node& at, std::string message);
  void add(std::string key, int line, std::string message);
  const std::vector<ConfigError>& errors() const { return errors_; }
  bool empty() const { return errors_.empty(); }

 private:
  std::vector<ConfigError> errors_;
};

/// A YAML mapping whose keys are checked against an allowed list, with typed getters
/// that report wrong types against the key and line instead of throwing.
class Section {
 public:
  /// `path` is this mapping's dotted key ("" for the document root).
  Section(const YAML::Node& node, std::string path, ErrorSink& errors,
          std::initializer_list<std::string_view> allowed_keys);

  bool valid() const { return valid_; }
  bool has(std::string_view key) const;
  YAML::Node node(std::string_view key) const;
  std::string key_path(std::string_view key) const;

  void get(std::string_view key, std::string& out) const;
  void get(std::string_view key, bool& out) const;
  void get(std::string_view key, std::uint32_t& out, std::uint32_t min, std::uint32_t max) const;
  void get(std::string_view key, std::uint16_t& out, std::uint16_t min, std::uint16_t max) const;
  void get(std::string_view key, unsigned& out, unsigned min, unsigned max, bool) const;
  /// Reads a string that must be one of `choices`; returns its index or -1 (error reported).
  int choice(std::string_view key, std::initializer_list<std::string_view> choices) const;

  ErrorSink& errors() const { return errors_; }

 private:
  YAML::Node node_;
  std::string path_;
  ErrorSink& errors_;
  bool valid_ = true;
};

/// 1-based line of a node (yaml-cpp marks are 0-based), 0 if unknown.
int line_of(const YAML::Node& n);

}  // namespace schemagate::config
