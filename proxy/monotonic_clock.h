#pragma once
// The clock plans are timed with: durations, backoffs and journal throttling, never dates.
#include <chrono>
#include <cstdint>

namespace schemagate::proxy {

/// Milliseconds of std::chrono::steady_clock: unaffected by clock changes, and only
/// meaningful as a difference of two readings of this same function.
inline std::int64_t monotonic_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace schemagate::proxy
