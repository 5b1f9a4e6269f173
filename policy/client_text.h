#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/sql_parser.h"

namespace schemagate::policy {

/// The client encodings whose multibyte characters may contain ASCII bytes (a second byte of
/// 0x40–0x7e, 0x5c among them), so a backslash in the bytes need not be a backslash to the
/// server. PostgreSQL accepts them only as client encodings and converts the message to the
/// server encoding before its lexer sees it. Every other encoding (UTF8, LATIN*, EUC_*, …)
/// keeps ASCII bytes ASCII, and the lexer finds the same tokens in the client's bytes.
enum class ClientEncoding { ascii_safe, sjis, shift_jis_2004, big5, gbk, uhc, gb18030, johab };

/// The encoding named by ParameterStatus client_encoding ("SJIS", "BIG5", …; case-insensitive).
/// Anything not client-only (or unknown) is ascii_safe.
ClientEncoding client_encoding_named(std::string_view name);
/// PostgreSQL's name of the encoding ("SJIS"); "UTF8" for ascii_safe.
const char* encoding_name(ClientEncoding e);
/// Every client-only encoding, for judging a text under each when the setting may be changing.
const std::vector<ClientEncoding>& client_only_encodings();

/// The session settings that change how the server reads a message's text (ParameterStatus).
/// backslash_quote only decides whether \' is refused, and escape_string_warning only warns:
/// neither moves a token boundary, so they are not tracked.
struct LexicalSettings {
  bool standard_conforming_strings = true;
  ClientEncoding encoding = ClientEncoding::ascii_safe;
  bool operator==(const LexicalSettings&) const = default;
};

/// Whether some settings could make the server read `text` differently from others. Both
/// settings act only through backslashes: standard_conforming_strings decides what a backslash
/// in a plain '…' string does, and a client-only encoding can swallow a backslash into the
/// character before it. A text without one reads the same way under every setting.
inline bool reading_depends_on_settings(std::string_view text) {
  return text.find('\\') != std::string_view::npos;
}

/// A message's text as the server's lexer will see it: converted from the client encoding to
/// UTF-8 (libpg_query's encoding), with a map from offsets in `text` back to the client's bytes.
struct ServerText {
  std::string text;             // UTF-8
  bool converted = false;       // text differs from the client's bytes
  bool lossy = false;           // some character has no UTF-8 equivalent in iconv (U+FFFD stands in)
  std::optional<std::string> error;  // an invalid byte sequence: the server refuses the message

  /// The client-byte offset of `offset` in text (offsets inside a converted character map to its start).
  std::size_t to_client(std::size_t offset) const;
  /// A span of text as a span of the client's bytes.
  StatementSpan to_client(StatementSpan span) const;

  // Internal: (offset in text, offset in client bytes) at the start of every converted character.
  std::vector<std::pair<std::size_t, std::size_t>> anchors;
};

/// Converts `client_bytes` for the lexer. For an ascii_safe encoding, or a text without a byte
/// above 0x7f, the text is returned as is (`converted` false). Character boundaries follow
/// PostgreSQL's own verification rules for each encoding (src/common/wchar.c); glibc iconv
/// maps each character.
ServerText to_server_text(std::string_view client_bytes, ClientEncoding encoding);

}  // namespace schemagate::policy
