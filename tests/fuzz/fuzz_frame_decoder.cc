// Feeds arbitrary bytes to FrameDecoder in arbitrary chunkings, with arbitrary choices of
// which tags are wanted whole, and checks the decoder's contract:
//   - it never consumes more than it was given, and never reports a frame it has not seen whole;
//   - a whole frame's wire_size equals 5 + body size and respects the cap;
//   - passthrough bytes plus whole frames add up to exactly the bytes consumed;
//   - the typed message parsers (Query, Parse with its parameter types, Bind, Describe, Close,
//     Execute, ErrorResponse, ...) never read out of bounds (ASan checks that).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "protocol/backend.h"
#include "protocol/frame_decoder.h"
#include "protocol/frontend.h"

using namespace schemagate::protocol;

static void check(bool ok) {
  if (!ok) std::abort();
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t whole_mask = data[0];   // which tag classes are wanted whole
  const std::size_t chunk = 1 + data[1] % 64;  // how the stream is cut into reads
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data + 2), size - 2);
  constexpr std::uint32_t kCap = 4096;
  FrameDecoder decoder(kCap);
  auto wants = [whole_mask](char t) { return ((whole_mask >> (static_cast<unsigned char>(t) % 8)) & 1) != 0; };

  std::size_t available = 0, pos = 0;
  while (pos < input.size()) {
    available = std::min(input.size(), available + chunk);
    for (;;) {
      const auto view = input.subspan(pos, available - pos);
      const auto r = decoder.next(view, wants);
      if (r.status == DecodeStatus::error) return 0;
      if (r.status == DecodeStatus::need_more) {
        check(r.needed > view.size());
        break;
      }
      check(r.consumed > 0 && r.consumed <= view.size());
      if (r.status == DecodeStatus::frame) {
        check(r.frame.wire_size == r.consumed && r.frame.body.size() + 5 == r.frame.wire_size);
        check(r.frame.body.size() <= kCap);
        Query q;
        Parse p;
        ErrorFields e;
        ParameterStatus ps;
        BackendKeyData k;
        (void)parse_query(r.frame, q);
        if (!parse_parse(r.frame, p))
          for (std::size_t i = 0; i < p.param_count; ++i) (void)p.param_type(i);
        Bind b;
        DescribeTarget d;
        Execute x;
        (void)parse_bind(r.frame, b);
        (void)parse_describe(r.frame, d);
        (void)parse_close(r.frame, d);
        (void)parse_execute(r.frame, x);
        (void)parse_error_fields(r.frame, e);
        (void)parse_parameter_status(r.frame, ps);
        (void)parse_backend_key_data(r.frame, k);
        (void)ready_for_query_status(r.frame);
        (void)statement_sql(r.frame);
        std::vector<std::byte> out;
        (void)write_sasl_without_mechanism(r.frame, "SCRAM-SHA-256-PLUS", out);
      }
      pos += r.consumed;
      if (pos == available) break;
    }
    if (available == input.size()) break;
  }
  return 0;
}
