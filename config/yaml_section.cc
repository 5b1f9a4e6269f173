#include "config/yaml_section.h"

#include <algorithm>
#include <charconv>

namespace schemagate::config {

std::string ConfigError::to_string() const {
  std::string s = key.empty() ? std::string("<document>") : key;
  if (line > 0) s += " (line " + std::to_string(line) + ")";
  return s + ": " + message;
}

int line_of(const YAML::Node& n) {
  if (!n.IsDefined()) return 0;
  const auto m = n.Mark();
  return m.line >= 0 ? m.line + 1 : 0;
}

void ErrorSink::add(std::string key, const YAML::Node& at, std::string message) {
  add(std::move(key), line_of(at), std::move(message));
}

void ErrorSink::add(std::string key, int line, std::string message) {
  errors_.push_back(ConfigError{std::move(key), line, std::move(message)});
}

namespace {
// yaml-cpp nodes are references, and a missing key yields a "zombie" node on which most
// operations throw: sections always hold a real node, an empty map when the key is absent.
YAML::Node mapping_or_empty(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return YAML::Node(YAML::NodeType::Map);
  return n;
}
}  // namespace

Section::Section(const YAML::Node& node, std::string path, ErrorSink& errors,
                 std::initializer_list<std::string_view> allowed_keys)
    : node_(mapping_or_empty(node)), path_(std::move(path)), errors_(errors) {
  if (!node_.IsMap()) {
    errors_.add(path_, node_, "expected a mapping of keys to values");
    valid_ = false;
    node_.reset(YAML::Node(YAML::NodeType::Map));
    return;
  }
  for (const auto& kv : node_) {
    const auto k = kv.first.as<std::string>("");
    if (std::find(allowed_keys.begin(), allowed_keys.end(), k) == allowed_keys.end()) {
      std::string known;
      for (auto a : allowed_keys) known += (known.empty() ? "" : ", ") + std::string(a);
      errors_.add(key_path(k), kv.first, "unknown key (known keys: " + known + ")");
    }
  }
}

bool Section::has(std::string_view key) const {
  const YAML::Node& n = node_;
  return n[std::string(key)].IsDefined();
}

YAML::Node Section::node(std::string_view key) const {
  const YAML::Node& n = node_;
  if (const auto v = n[std::string(key)]) return v;
  return YAML::Node();
}

std::string Section::key_path(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

void Section::get(std::string_view key, std::string& out) const {
  const auto n = node(key);
  if (!n.IsDefined() || n.IsNull()) return;
  if (!n.IsScalar()) {
    errors_.add(key_path(key), n, "expected a string");
    return;
  }
  out = n.Scalar();
}

void Section::get(std::string_view key, bool& out) const {
  const auto n = node(key);
  if (!n.IsDefined() || n.IsNull()) return;
  const auto& s = n.IsScalar() ? n.Scalar() : std::string();
  if (s == "true" || s == "yes" || s == "on") out = true;
  else if (s == "false" || s == "no" || s == "off") out = false;
  else errors_.add(key_path(key), n, "expected true or false, got '" + s + "'");
}

void Section::get(std::string_view key, std::uint32_t& out, std::uint32_t min, std::uint32_t max) const {
  const auto n = node(key);
  if (!n.IsDefined() || n.IsNull()) return;
  const auto& s = n.IsScalar() ? n.Scalar() : std::string();
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || v < min || v > max) {
    errors_.add(key_path(key), n,
                "expected an integer from " + std::to_string(min) + " to " + std::to_string(max) + ", got '" + s + "'");
    return;
  }
  out = static_cast<std::uint32_t>(v);
}

void Section::get(std::string_view key, std::uint16_t& out, std::uint16_t min, std::uint16_t max) const {
  std::uint32_t v = out;
  get(key, v, min, max);
  out = static_cast<std::uint16_t>(v);
}

void Section::get(std::string_view key, unsigned& out, unsigned min, unsigned max, bool) const {
  std::uint32_t v = out;
  get(key, v, min, max);
  out = v;
}

int Section::choice(std::string_view key, std::initializer_list<std::string_view> choices) const {
  const auto n = node(key);
  if (!n.IsDefined() || n.IsNull()) return -1;
  const auto& s = n.IsScalar() ? n.Scalar() : std::string();
  int i = 0;
  for (auto c : choices) {
    if (c == s) return i;
    ++i;
  }
  std::string list;
  for (auto c : choices) list += (list.empty() ? "" : " | ") + std::string(c);
  errors_.add(key_path(key), n, "expected one of " + list + ", got '" + s + "'");
  return -1;
}

}  // namespace schemagate::config
