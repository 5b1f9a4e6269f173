#pragma once
// Wall-clock times as people read them in the CLI and the admin console.
#include <cstdint>
#include <ctime>
#include <string>

namespace schemagate::proxy {

/// Milliseconds since the Unix epoch as UTC to the second: "2026-12-03 07:06:53Z", or with
/// `separator` 'T' the ISO 8601 form. `none` for a time that is not set (≤ 0).
inline std::string utc_time_text(std::int64_t ms, char separator = ' ', const char* none = "-") {
  if (ms <= 0) return none;
  const auto t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  const char* format = separator == 'T' ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M:%SZ";
  char buf[32];
  return std::strftime(buf, sizeof buf, format, &tm) ? std::string(buf) : std::string(none);
}

}  // namespace schemagate::proxy
