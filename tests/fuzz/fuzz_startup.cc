// Arbitrary bytes as the first thing a client sends: framing and parsing of startup packets
// must reject or accept without reading out of bounds, and accepted packets must be consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "protocol/frame_decoder.h"
#include "protocol/startup.h"

using namespace schemagate::protocol;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  const auto d = decode_startup(input);
  if (d.status != DecodeStatus::frame) return 0;
  if (d.size > input.size() || d.size > kMaxStartupPacket || d.size < 8) std::abort();
  StartupPacket p;
  if (!parse_startup(input.first(d.size), p) && p.kind == StartupKind::startup_message) {
    if (p.major != 3) std::abort();
    for (const auto& [k, v] : p.params)
      if (k.empty() || k.data() < reinterpret_cast<const char*>(data) ||
          v.data() + v.size() > reinterpret_cast<const char*>(data) + d.size)
        std::abort();
  }
  return 0;
}
