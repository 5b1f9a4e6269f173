#include "policy/client_text.h"

#include <iconv.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <memory>

namespace schemagate::policy {

namespace {

struct EncodingInfo {
  ClientEncoding id;
  const char* pg_name;
  // glibc iconv names to try, best first (PostgreSQL's SJIS table is Microsoft's CP932, …).
  std::array<const char*, 3> iconv_names;
};

constexpr std::array<EncodingInfo, 7> kClientOnly = {{
    {ClientEncoding::sjis, "SJIS", {"CP932", "SHIFT_JIS", nullptr}},
    {ClientEncoding::shift_jis_2004, "SHIFT_JIS_2004", {"SHIFT_JISX0213", "CP932", nullptr}},
    {ClientEncoding::big5, "BIG5", {"CP950", "BIG5", nullptr}},
    {ClientEncoding::gbk, "GBK", {"GBK", "CP936", nullptr}},
    {ClientEncoding::uhc, "UHC", {"CP949", "UHC", nullptr}},
    {ClientEncoding::gb18030, "GB18030", {"GB18030", nullptr, nullptr}},
    {ClientEncoding::johab, "JOHAB", {"JOHAB", nullptr, nullptr}},
}};

const EncodingInfo* info(ClientEncoding e) {
  for (const auto& i : kClientOnly)
    if (i.id == e) return &i;
  return nullptr;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

bool high(unsigned char c) { return c >= 0x80; }

// Length of the character at s (n bytes left), by PostgreSQL's pg_*_verifychar for the
// encoding; -1 for an invalid sequence. Only called on a byte with the high bit set.
int char_length(ClientEncoding e, const unsigned char* s, std::size_t n) {
  auto in = [](unsigned char c, unsigned lo, unsigned hi) { return c >= lo && c <= hi; };
  switch (e) {
    case ClientEncoding::sjis:
    case ClientEncoding::shift_jis_2004:
      if (in(s[0], 0xa1, 0xdf)) return 1;  // half-width katakana
      if (n < 2) return -1;
      if (!(in(s[0], 0x81, 0x9f) || in(s[0], 0xe0, 0xfc))) return -1;
      if (!(in(s[1], 0x40, 0x7e) || in(s[1], 0x80, 0xfc))) return -1;
      return 2;
    case ClientEncoding::big5:
    case ClientEncoding::gbk:
    case ClientEncoding::uhc:
      // PostgreSQL checks only that the second byte is not NUL: any other byte, 0x5c too.
      if (n < 2 || s[1] == 0) return -1;
      return 2;
    case ClientEncoding::gb18030:
      if (n >= 4 && in(s[1], 0x30, 0x39))
        return in(s[0], 0x81, 0xfe) && in(s[2], 0x81, 0xfe) && in(s[3], 0x30, 0x39) ? 4 : -1;
      if (n >= 2 && in(s[0], 0x81, 0xfe) && (in(s[1], 0x40, 0x7e) || in(s[1], 0x80, 0xfe))) return 2;
      return -1;
    case ClientEncoding::johab: {
      const std::size_t l = s[0] == 0x8f ? 3 : 2;  // pg_euc_mblen: SS3 → 3, else 2
      if (n < l) return -1;
      for (std::size_t i = 1; i < l; ++i)
        if (!in(s[i], 0xa1, 0xfe)) return -1;
      return static_cast<int>(l);
    }
    case ClientEncoding::ascii_safe: return 1;
  }
  return -1;
}

// An iconv descriptor for one encoding (descriptors are not thread-safe: one per thread).
class Converter {
 public:
  explicit Converter(ClientEncoding e) {
    if (const auto* i = info(e))
      for (const char* name : i->iconv_names) {
        if (name == nullptr) break;
        cd_ = iconv_open("UTF-8", name);
        if (cd_ != reinterpret_cast<iconv_t>(-1)) break;
      }
  }
  ~Converter() {
    if (ok()) iconv_close(cd_);
  }
  Converter(const Converter&) = delete;
  Converter& operator=(const Converter&) = delete;
  bool ok() const { return cd_ != reinterpret_cast<iconv_t>(-1); }

  // Appends the UTF-8 form of one character; false when iconv has no mapping for it.
  bool append(const unsigned char* s, std::size_t n, std::string& out) {
    if (!ok()) return false;
    char buf[16];
    char* in = const_cast<char*>(reinterpret_cast<const char*>(s));
    std::size_t in_left = n;
    char* o = buf;
    std::size_t o_left = sizeof buf;
    const std::size_t r = iconv(cd_, &in, &in_left, &o, &o_left);
    if (r == static_cast<std::size_t>(-1) || in_left != 0) {
      iconv(cd_, nullptr, nullptr, nullptr, nullptr);  // reset the shift state
      return false;
    }
    out.append(buf, sizeof buf - o_left);
    return true;
  }

 private:
  iconv_t cd_ = reinterpret_cast<iconv_t>(-1);
};

}  // namespace

ClientEncoding client_encoding_named(std::string_view name) {
  for (const auto& i : kClientOnly)
    if (iequals(name, i.pg_name)) return i.id;
  // PostgreSQL's aliases for the same encodings (pg_char_to_encoding), should a client spell them.
  if (iequals(name, "SHIFTJIS") || iequals(name, "MSKANJI") || iequals(name, "WIN932") || iequals(name, "WINDOWS932"))
    return ClientEncoding::sjis;
  if (iequals(name, "WIN950") || iequals(name, "WINDOWS950")) return ClientEncoding::big5;
  if (iequals(name, "WIN936") || iequals(name, "WINDOWS936")) return ClientEncoding::gbk;
  if (iequals(name, "WIN949") || iequals(name, "WINDOWS949")) return ClientEncoding::uhc;
  return ClientEncoding::ascii_safe;
}

const char* encoding_name(ClientEncoding e) {
  const auto* i = info(e);
  return i ? i->pg_name : "UTF8";
}

const std::vector<ClientEncoding>& client_only_encodings() {
  static const std::vector<ClientEncoding> all = [] {
    std::vector<ClientEncoding> v;
    for (const auto& i : kClientOnly) v.push_back(i.id);
    return v;
  }();
  return all;
}

std::size_t ServerText::to_client(std::size_t offset) const {
  if (anchors.empty()) return offset;
  // The last anchor at or before offset: a character start maps every offset inside the
  // character to that start; after a character, offsets run in step (ASCII is not converted).
  auto it = std::upper_bound(anchors.begin(), anchors.end(), offset,
                             [](std::size_t o, const std::pair<std::size_t, std::size_t>& a) { return o < a.first; });
  if (it == anchors.begin()) return offset;
  --it;
  const bool character_start = (it - anchors.begin()) % 2 == 0;  // anchors alternate: start, end
  return character_start ? it->second : it->second + (offset - it->first);
}

StatementSpan ServerText::to_client(StatementSpan span) const {
  const std::size_t b = to_client(span.offset);
  const std::size_t e = to_client(span.offset + span.length);
  return {b, e >= b ? e - b : 0};
}

ServerText to_server_text(std::string_view client_bytes, ClientEncoding encoding) {
  ServerText out;
  const auto* s = reinterpret_cast<const unsigned char*>(client_bytes.data());
  const std::size_t n = client_bytes.size();
  if (encoding == ClientEncoding::ascii_safe || std::none_of(s, s + n, high)) {
    out.text.assign(client_bytes);
    return out;
  }
  out.converted = true;
  out.text.reserve(n + n / 2);
  // Opening a descriptor loads glibc's gconv module: keep one per thread and encoding.
  thread_local std::array<std::unique_ptr<Converter>, kClientOnly.size() + 1> converters;
  auto& slot = converters[static_cast<std::size_t>(encoding)];
  if (!slot) slot = std::make_unique<Converter>(encoding);
  Converter& conv = *slot;
  std::size_t i = 0;
  while (i < n) {
    if (!high(s[i])) {
      out.text.push_back(static_cast<char>(s[i++]));
      continue;
    }
    const int l = char_length(encoding, s + i, n - i);
    if (l < 0) {
      std::string bytes;
      static const char* kHex = "0123456789abcdef";
      for (std::size_t k = i; k < std::min(n, i + 2); ++k) {
        if (!bytes.empty()) bytes += ' ';
        bytes += "0x";
        bytes += kHex[s[k] >> 4];
        bytes += kHex[s[k] & 15];
      }
      out.error = std::string("invalid byte sequence for encoding \"") + encoding_name(encoding) + "\": " + bytes;
      return out;
    }
    out.anchors.emplace_back(out.text.size(), i);
    if (!conv.append(s + i, static_cast<std::size_t>(l), out.text)) {
      out.text += "\xEF\xBF\xBD";  // U+FFFD: boundaries stay right, the name is unknown
      out.lossy = true;
    }
    i += static_cast<std::size_t>(l);
    out.anchors.emplace_back(out.text.size(), i);
  }
  return out;
}

}  // namespace schemagate::policy
