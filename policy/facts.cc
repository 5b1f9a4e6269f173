#include "policy/facts.h"

#include <charconv>
#include <limits>

namespace schemagate::policy {

std::optional<TableSize> OfflineFacts::table_size(const QualifiedName&) const {
  if (options_.table_rows) return TableSize{*options_.table_rows, 0};
  if (options_.assume_large_tables) return TableSize{std::numeric_limits<std::int32_t>::max(), 0};
  return std::nullopt;
}

int parse_pg_version(std::string_view text) {
  int major = 0, minor = 0;
  const char* b = text.data();
  const char* e = b + text.size();
  auto [p, ec] = std::from_chars(b, e, major);
  if (ec != std::errc{} || p == b) return 0;
  if (p < e && *p == '.') {
    const char* m = p + 1;
    auto [p2, ec2] = std::from_chars(m, e, minor);
    if (ec2 != std::errc{} || p2 == m) return 0;
    p = p2;
  }
  if (p != e) return 0;
  if (major >= 10000) return major;                    // already server_version_num
  if (major >= 10 && major < 100) return major * 10000 + minor;  // 15 → 150000, 12.4 → 120004
  if (major == 9) return 90000 + minor * 100;          // 9.6 → 90600
  return 0;
}

}  // namespace schemagate::policy
