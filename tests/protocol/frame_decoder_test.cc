#include "protocol/frame_decoder.h"

#include <gtest/gtest.h>

#include "protocol/byte_order.h"
#include "protocol/tags.h"
#include "test_bytes.h"

namespace schemagate::protocol {
namespace {

using testing::append;
using testing::Bytes;
using testing::msg;
using testing::span;
using testing::str;

auto all_whole = [](char) { return true; };

struct Seen {
  char tag;
  std::string body;
};

// Decodes `stream` fed in two reads split at `cut`, the way a socket might deliver it.
std::vector<Seen> decode_split(const Bytes& stream, std::size_t cut) {
  FrameDecoder d(1 << 20);
  std::vector<Seen> out;
  std::size_t pos = 0;
  for (std::size_t available : {cut, stream.size()}) {
    for (;;) {
      auto r = d.next(std::span(stream).subspan(pos, available - pos), all_whole);
      if (r.status != DecodeStatus::frame) {
        EXPECT_EQ(r.status, DecodeStatus::need_more);
        break;
      }
      out.push_back({r.frame.tag, str(r.frame.body)});
      pos += r.consumed;
    }
  }
  EXPECT_EQ(pos, stream.size());
  return out;
}

// A pipeline as libpq sends it: every split point must give the same frames.
TEST(FrameDecoder, SameFramesWhereverTheStreamIsCut) {
  Bytes stream;
  append(stream, msg('P', testing::lit("s1\0SELECT $1\0\0\0")));
  append(stream, msg('B', testing::lit("\0s1\0\0\0\0\1\0\0\0\1" "7\0\0")));
  append(stream, msg('E', testing::lit("\0\0\0\0\0")));
  append(stream, msg('S', ""));
  append(stream, msg('Q', testing::lit("SELECT 1;\0")));
  const auto expected = decode_split(stream, stream.size());
  ASSERT_EQ(expected.size(), 5u);
  EXPECT_EQ(expected[0].tag, 'P');
  EXPECT_EQ(expected[3].tag, 'S');
  EXPECT_EQ(expected[3].body, "");
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    const auto got = decode_split(stream, cut);
    ASSERT_EQ(got.size(), expected.size()) << "cut at " << cut;
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].tag, expected[i].tag);
      EXPECT_EQ(got[i].body, expected[i].body);
    }
  }
}

TEST(FrameDecoder, NeedsFiveBytesForAHeader) {
  FrameDecoder d(100);
  const Bytes partial = {std::byte{'Q'}, std::byte{0}, std::byte{0}};
  const auto r = d.next(span(partial), all_whole);
  EXPECT_EQ(r.status, DecodeStatus::need_more);
  EXPECT_EQ(r.needed, 5u);
  EXPECT_EQ(r.consumed, 0u);
}

TEST(FrameDecoder, ReportsTheWholeFrameSizeItNeeds) {
  FrameDecoder d(100);
  auto m = msg('Q', testing::lit("SELECT 1\0"));
  m.resize(8);
  const auto r = d.next(span(m), all_whole);
  EXPECT_EQ(r.status, DecodeStatus::need_more);
  EXPECT_EQ(r.needed, 1u + 4u + 9u);
}

TEST(FrameDecoder, RejectsLengthBelowFour) {
  FrameDecoder d(100);
  Bytes m = {std::byte{'Q'}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{3}};
  const auto r = d.next(span(m), all_whole);
  EXPECT_EQ(r.status, DecodeStatus::error);
  EXPECT_EQ(r.error, ProtocolErrc::bad_length);
}

// The cap is checked from the header alone: no waiting for (or buffering of) a huge body.
TEST(FrameDecoder, RejectsOversizedFrameFromItsHeader) {
  FrameDecoder d(1000);
  Bytes header(5);
  header[0] = std::byte{'Q'};
  store_be32(header.data() + 1, 4 + 1001);
  const auto r = d.next(span(header), all_whole);
  EXPECT_EQ(r.status, DecodeStatus::error);
  EXPECT_EQ(r.error, ProtocolErrc::message_too_large);
}

// CopyData the caller does not need whole streams through in pieces, whatever its size,
// and the frame after it is decoded normally.
TEST(FrameDecoder, PassesThroughLargeFramesInPieces) {
  FrameDecoder d(16);  // far smaller than the CopyData body
  const std::string payload(100000, 'x');
  Bytes stream = msg('d', payload);
  append(stream, msg('c', ""));
  auto not_copydata = [](char t) { return t != 'd'; };
  std::size_t pos = 0, passed = 0, chunks = 0;
  while (pos < stream.size()) {
    const std::size_t avail = std::min(stream.size(), pos + 4096);
    auto r = d.next(std::span(stream).subspan(pos, avail - pos), not_copydata);
    if (r.status == DecodeStatus::passthrough) {
      EXPECT_EQ(r.tag, 'd');
      EXPECT_EQ(r.frame_start, chunks == 0);
      passed += r.consumed;
      ++chunks;
      pos += r.consumed;
      continue;
    }
    ASSERT_EQ(r.status, DecodeStatus::frame);
    EXPECT_EQ(r.frame.tag, 'c');
    EXPECT_TRUE(d.at_boundary());
    pos += r.consumed;
  }
  EXPECT_EQ(passed, 5 + payload.size());
  EXPECT_GT(chunks, 20u);
}

TEST(StartupDecode, FramesAndCaps) {
  Bytes ssl(8);
  store_be32(ssl.data(), 8);
  store_be32(ssl.data() + 4, kSslRequestCode);
  auto r = decode_startup(span(ssl));
  EXPECT_EQ(r.status, DecodeStatus::frame);
  EXPECT_EQ(r.size, 8u);

  r = decode_startup(std::span(ssl).first(3));
  EXPECT_EQ(r.status, DecodeStatus::need_more);

  Bytes huge(8);
  store_be32(huge.data(), kMaxStartupPacket + 1);
  r = decode_startup(span(huge));
  EXPECT_EQ(r.status, DecodeStatus::error);
  EXPECT_EQ(r.error, ProtocolErrc::startup_too_large);

  Bytes tiny(8);
  store_be32(tiny.data(), 7);
  r = decode_startup(span(tiny));
  EXPECT_EQ(r.status, DecodeStatus::error);
  EXPECT_EQ(r.error, ProtocolErrc::bad_length);
}

}  // namespace
}  // namespace schemagate::protocol
