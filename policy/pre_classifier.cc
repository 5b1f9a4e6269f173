#include "policy/pre_classifier.h"

#include <cstddef>
#include <cstring>

namespace schemagate::policy {

namespace {

inline bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
inline bool ident_start(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z' ? true : c == '_' || c >= 0x80; }
inline bool ident_cont(unsigned char c) { return ident_start(c) || (c >= '0' && c <= '9') || c == '$'; }

// Case-insensitive comparison of a token with a lower-case keyword.
inline bool kw_eq(const char* p, std::size_t n, const char* kw, std::size_t kn) {
  if (n != kn) return false;
  for (std::size_t i = 0; i < n; ++i)
    if ((static_cast<unsigned char>(p[i]) | 0x20) != static_cast<unsigned char>(kw[i])) return false;
  return true;
}
#define KW(p, n, lit) kw_eq((p), (n), lit, sizeof(lit) - 1)

// First keywords of statements that can never change the schema.
bool ordinary_first_keyword(const char* p, std::size_t n) {
  switch (p[0] | 0x20) {
    case 's': return KW(p, n, "select") || KW(p, n, "savepoint") || KW(p, n, "show") || KW(p, n, "start");
    case 'i': return KW(p, n, "insert");
    case 'u': return KW(p, n, "update");
    case 'd': return KW(p, n, "delete");
    case 'm': return KW(p, n, "merge");
    case 'v': return KW(p, n, "values");
    case 't': return KW(p, n, "table");
    case 'w': return KW(p, n, "with");
    case 'b': return KW(p, n, "begin");
    case 'c': return KW(p, n, "commit");
    case 'e': return KW(p, n, "end");
    case 'r': return KW(p, n, "rollback") || KW(p, n, "release");
    case 'a': return KW(p, n, "abort");
    default: return false;
  }
}

// Lexer state per statement: the first keyword decides, INTO not after INSERT/MERGE is suspicious
// (SELECT … INTO creates a table), and a few follow-up words of the ordinary statements are too.
struct StatementState {
  bool seen_first = false;
  const char* prev = nullptr;  // previous significant word, for INTO / START TRANSACTION checks
  std::size_t prev_n = 0;
  int words = 0;
};

}  // namespace

bool might_change_schema(std::string_view sql) {
  const char* p = sql.data();
  const char* const end = p + sql.size();
  StatementState st;
  while (p < end) {
    const unsigned char c = static_cast<unsigned char>(*p);
    if (is_space(c)) {
      ++p;
      continue;
    }
    if (c == '-' && p + 1 < end && p[1] == '-') {  // -- comment to end of line
      while (p < end && *p != '\n' && *p != '\r') ++p;
      continue;
    }
    if (c == '/' && p + 1 < end && p[1] == '*') {  // nested /* */ comments
      int depth = 1;
      p += 2;
      while (p < end && depth > 0) {
        if (*p == '/' && p + 1 < end && p[1] == '*') {
          ++depth;
          p += 2;
        } else if (*p == '*' && p + 1 < end && p[1] == '/') {
          --depth;
          p += 2;
        } else {
          ++p;
        }
      }
      if (depth > 0) return true;  // unterminated: let the parser judge
      continue;
    }
    if (c == ';') {
      st = StatementState{};
      ++p;
      continue;
    }
    if (c == '\'') {  // standard string; a backslash could mean something else without scs
      ++p;
      for (;;) {
        if (p >= end) return true;
        if (*p == '\\') return true;
        if (*p == '\'') {
          if (p + 1 < end && p[1] == '\'') {
            p += 2;
            continue;
          }
          ++p;
          break;
        }
        ++p;
      }
      if (!st.seen_first) return true;  // a statement cannot start with a string
      continue;
    }
    if (c == '"') {  // quoted identifier, "" escapes
      ++p;
      for (;;) {
        if (p >= end) return true;
        if (*p == '"') {
          if (p + 1 < end && p[1] == '"') {
            p += 2;
            continue;
          }
          ++p;
          break;
        }
        ++p;
      }
      if (!st.seen_first) return true;
      st.prev = nullptr;
      st.prev_n = 0;
      ++st.words;
      continue;
    }
    if (c == '$') {
      const char* q = p + 1;
      if (q < end && *q >= '0' && *q <= '9') {  // $1 parameter
        while (q < end && *q >= '0' && *q <= '9') ++q;
        p = q;
        if (!st.seen_first) return true;
        continue;
      }
      // $tag$ … $tag$ where tag is empty or an identifier without '$'.
      while (q < end && *q != '$' && ident_cont(static_cast<unsigned char>(*q))) ++q;
      if (q >= end || *q != '$' || (q > p + 1 && !ident_start(static_cast<unsigned char>(p[1])))) return true;
      const std::string_view tag(p, static_cast<std::size_t>(q - p + 1));
      const std::string_view rest(q + 1, static_cast<std::size_t>(end - (q + 1)));
      const auto close = rest.find(tag);
      if (close == std::string_view::npos) return true;
      p = rest.data() + close + tag.size();
      if (!st.seen_first) return true;
      continue;
    }
    if (ident_start(c)) {
      const char* w = p;
      while (p < end && ident_cont(static_cast<unsigned char>(*p))) ++p;
      const std::size_t n = static_cast<std::size_t>(p - w);
      // String prefixes: E'…' (backslash escapes), and B'…', X'…', N'…', U&'…' (plain quoting).
      if (p < end && *p == '\'' && n == 1) {
        const char pre = static_cast<char>(w[0] | 0x20);
        if (pre == 'e') {
          ++p;
          for (;;) {
            if (p >= end) return true;
            if (*p == '\\') {
              // In SJIS, BIG5, GBK, GB18030 a byte above 0x7f and this backslash can be one
              // character to the server: then it escapes nothing. Only the full reader knows.
              if (static_cast<unsigned char>(p[-1]) >= 0x80) return true;
              p += 2;
              continue;
            }
            if (*p == '\'') {
              if (p + 1 < end && p[1] == '\'') {
                p += 2;
                continue;
              }
              ++p;
              break;
            }
            ++p;
          }
          if (!st.seen_first) return true;
          continue;
        }
        if (pre == 'b' || pre == 'x' || pre == 'n') {
          if (!st.seen_first) return true;
          continue;  // the quote itself is lexed by the '\'' branch on the next iteration
        }
      }
      if (n == 1 && (w[0] | 0x20) == 'u' && p < end && *p == '&') return true;  // U&'…' / U&"…": rare, be safe
      if (!st.seen_first) {
        if (!ordinary_first_keyword(w, n)) return true;
        st.seen_first = true;
      } else if (KW(w, n, "into")) {
        // INSERT INTO and MERGE INTO are DML; SELECT … INTO and anything else creates or is odd.
        if (!(st.prev && (KW(st.prev, st.prev_n, "insert") || KW(st.prev, st.prev_n, "merge")))) return true;
      }
      st.prev = w;
      st.prev_n = n;
      ++st.words;
      continue;
    }
    if (c >= '0' && c <= '9') {
      while (p < end && (ident_cont(static_cast<unsigned char>(*p)) || *p == '.')) ++p;
      if (!st.seen_first) return true;
      continue;
    }
    if (c == '(' && !st.seen_first) {  // (SELECT …) UNION …: look through leading parentheses
      ++p;
      continue;
    }
    if (!st.seen_first) return true;  // any other character cannot start an ordinary statement
    // Operators and punctuation: a lone character each; "--" and "/*" were handled above.
    ++p;
  }
  return false;
}

}  // namespace schemagate::policy
