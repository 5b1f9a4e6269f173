#include "policy/sql_parser.h"

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include <algorithm>
#include <cctype>
#include <vector>

// PostgreSQL's scanner reads this GUC; libpg_query keeps it per thread and exports it.
extern "C" {
extern __thread bool standard_conforming_strings;
}

namespace schemagate::policy {

namespace {

inline bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// PostgreSQL reports cursor positions in characters, 1-based; we keep byte offsets.
std::size_t char_pos_to_offset(std::string_view text, int cursorpos) {
  if (cursorpos <= 1) return 0;
  int chars = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;  // UTF-8 continuation byte
    if (++chars == cursorpos) return i;
  }
  return text.size();
}

SyntaxError make_error(std::string_view text, const PgQueryError* e) {
  SyntaxError err;
  err.message = e->message ? e->message : "syntax error";
  err.offset = char_pos_to_offset(text, e->cursorpos);
  err.pos = position_at(text, err.offset);
  return err;
}

// Wraps a borrowed statement node into a one-statement ParseResult and packs it. Only reads `stmt`.
std::vector<std::uint8_t> pack_single(const PgQuery__Node* stmt) {
  PgQuery__RawStmt raw = PG_QUERY__RAW_STMT__INIT;
  raw.stmt = const_cast<PgQuery__Node*>(stmt);  // pack() does not modify; the API is not const-correct
  PgQuery__RawStmt* raws[1] = {&raw};
  PgQuery__ParseResult result = PG_QUERY__PARSE_RESULT__INIT;
  result.version = PG_VERSION_NUM;
  result.n_stmts = 1;
  result.stmts = raws;
  std::vector<std::uint8_t> buf(pg_query__parse_result__get_packed_size(&result));
  pg_query__parse_result__pack(&result, buf.data());
  return buf;
}

}  // namespace

StringSyntaxScope::StringSyntaxScope(bool on) : saved_(standard_conforming_strings) {
  standard_conforming_strings = on;
}

StringSyntaxScope::~StringSyntaxScope() { standard_conforming_strings = saved_; }

bool standard_conforming_strings_in_effect() { return standard_conforming_strings; }

std::size_t trim_statement(std::string_view text, StatementSpan span, std::string& out) {
  std::size_t b = span.offset, e = span.offset + span.length;
  // Leading blanks and comments belong to no statement: positions point at its first keyword.
  for (;;) {
    while (b < e && is_blank(text[b])) ++b;
    if (b + 1 < e && text[b] == '-' && text[b + 1] == '-') {
      while (b < e && text[b] != '\n') ++b;
    } else if (b + 1 < e && text[b] == '/' && text[b + 1] == '*') {
      int depth = 0;
      std::size_t p = b;
      do {
        if (p + 1 < e && text[p] == '/' && text[p + 1] == '*') {
          ++depth;
          p += 2;
        } else if (p + 1 < e && text[p] == '*' && text[p + 1] == '/') {
          --depth;
          p += 2;
        } else {
          ++p;
        }
      } while (p < e && depth > 0);
      if (depth > 0) break;  // unterminated: keep it, the parser reported it
      b = p;
    } else {
      break;
    }
  }
  while (e > b && (is_blank(text[e - 1]) || text[e - 1] == ';')) --e;
  out.assign(text.substr(b, e - b));
  return b;
}

SourcePos position_at(std::string_view text, std::size_t offset) {
  SourcePos p;
  if (offset > text.size()) offset = text.size();
  for (std::size_t i = 0; i < offset; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++p.line;
      p.column = 1;
    } else if ((c & 0xC0) != 0x80) {
      ++p.column;
    }
  }
  return p;
}

SplitResult split_statements(std::string_view sql) {
  SplitResult out;
  const std::string text(sql);  // libpg_query needs a NUL-terminated string
  PgQuerySplitResult r = pg_query_split_with_parser(text.c_str());
  if (r.error) {
    out.error = make_error(text, r.error);
    pg_query_free_split_result(r);
    out.used_scanner = true;
    r = pg_query_split_with_scanner(text.c_str());
    if (r.error) {  // the scanner failed too (e.g. unterminated quote): one span, the whole text
      pg_query_free_split_result(r);
      out.spans.push_back({0, text.size()});
      return out;
    }
  }
  for (int i = 0; i < r.n_stmts; ++i) {
    const auto* s = r.stmts[i];
    std::size_t off = static_cast<std::size_t>(s->stmt_location);
    std::size_t len = static_cast<std::size_t>(s->stmt_len);
    if (off > text.size()) off = text.size();
    if (len == 0 || off + len > text.size()) len = text.size() - off;
    out.spans.push_back({off, len});
  }
  pg_query_free_split_result(r);
  if (out.used_scanner) {
    // The scanner split silently drops statements that do not start with a keyword it knows
    // ("SELEC 1; …", or a command newer than PostgreSQL 15). Nothing may go unjudged, so every
    // non-blank gap between spans becomes a span of its own.
    std::vector<StatementSpan> all;
    std::size_t pos = 0;
    auto add_gap = [&](std::size_t from, std::size_t to) {
      std::size_t b = from;
      while (b < to && (text[b] == ' ' || text[b] == '\t' || text[b] == '\n' || text[b] == '\r' || text[b] == ';')) ++b;
      if (b < to) all.push_back({b, to - b});
    };
    for (const auto& sp : out.spans) {
      if (sp.offset > pos) add_gap(pos, sp.offset);
      all.push_back(sp);
      pos = std::max(pos, sp.offset + sp.length);
    }
    if (pos < text.size()) add_gap(pos, text.size());
    out.spans = std::move(all);
  }
  return out;
}

std::shared_ptr<const ParsedBatch> ParsedBatch::parse(std::string_view sql, SyntaxError* error) {
  std::shared_ptr<ParsedBatch> b(new ParsedBatch());
  b->text_.assign(sql);
  PgQueryProtobufParseResult r = pg_query_parse_protobuf(b->text_.c_str());
  if (r.error) {
    if (error) *error = make_error(b->text_, r.error);
    pg_query_free_protobuf_parse_result(r);
    return nullptr;
  }
  b->tree_ = pg_query__parse_result__unpack(nullptr, r.parse_tree.len,
                                            reinterpret_cast<const std::uint8_t*>(r.parse_tree.data));
  pg_query_free_protobuf_parse_result(r);  // the unpacked tree owns copies of everything it needs
  if (!b->tree_) {
    if (error) *error = SyntaxError{"could not decode the parse tree", 0, {}};
    return nullptr;
  }
  return b;
}

ParsedBatch::~ParsedBatch() {
  if (tree_) pg_query__parse_result__free_unpacked(tree_, nullptr);
}

StatementSpan ParsedBatch::span(std::size_t i) const {
  const auto* raw = tree_->stmts[i];
  std::size_t off = static_cast<std::size_t>(raw->stmt_location);
  std::size_t len = static_cast<std::size_t>(raw->stmt_len);
  if (off > text_.size()) off = text_.size();
  if (len == 0 || off + len > text_.size()) len = text_.size() - off;
  return {off, len};
}

SqlParser::SqlParser(std::size_t capacity, std::size_t max_cached_bytes)
    : capacity_(capacity), max_cached_bytes_(max_cached_bytes) {}

ParseOutcome SqlParser::parse(std::string_view sql) const {
  const bool cacheable = capacity_ > 0 && sql.size() <= max_cached_bytes_;
  // The same text is a different tree under the other string syntax: the key says which.
  const auto key_of = [&] {
    std::string key;
    if (cacheable) {
      key.reserve(sql.size() + 1);
      key += standard_conforming_strings_in_effect() ? 'S' : 'B';
      key += sql;
    }
    return key;
  };
  std::string key = key_of();
  if (cacheable) {
    std::lock_guard lock(mu_);
    if (auto it = entries_.find(key); it != entries_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.lru_pos);
      ++stats_.hits;
      return ParseOutcome{it->second.batch, it->second.error, true};
    }
    ++stats_.misses;
  }
  // Parse outside the lock: libpg_query keeps its memory contexts per thread.
  ParseOutcome out;
  SyntaxError err;
  out.batch = ParsedBatch::parse(sql, &err);
  if (!out.batch) out.error = err;
  if (cacheable) {
    std::lock_guard lock(mu_);
    if (entries_.find(key) == entries_.end()) {
      lru_.push_front(key);
      entries_.emplace(std::move(key), Entry{out.batch, out.error, lru_.begin()});
      while (entries_.size() > capacity_) {
        entries_.erase(lru_.back());
        lru_.pop_back();
      }
    }
    stats_.size = entries_.size();
  }
  return out;
}

SqlParser::Stats SqlParser::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

std::optional<std::uint64_t> fingerprint(std::string_view sql) {
  const std::string text(sql);
  PgQueryFingerprintResult r = pg_query_fingerprint(text.c_str());
  std::optional<std::uint64_t> out;
  if (!r.error) out = r.fingerprint;
  pg_query_free_fingerprint_result(r);
  return out;
}

std::optional<std::string> normalize(std::string_view sql) {
  const std::string text(sql);
  PgQueryNormalizeResult r = pg_query_normalize(text.c_str());
  std::optional<std::string> out;
  if (!r.error && r.normalized_query) out = std::string(r.normalized_query);
  pg_query_free_normalize_result(r);
  return out;
}

std::string canonical_statement(std::string_view sql) {
  std::size_t b = 0, e = sql.size();
  while (b < e && std::isspace(static_cast<unsigned char>(sql[b]))) ++b;
  while (e > b && (std::isspace(static_cast<unsigned char>(sql[e - 1])) || sql[e - 1] == ';')) --e;
  const std::string_view trimmed = sql.substr(b, e - b);
  if (trimmed.find('\\') != std::string_view::npos) return std::string(trimmed);
  const auto batch = ParsedBatch::parse(trimmed, nullptr);
  if (!batch || batch->tree()->n_stmts != 1) return std::string(trimmed);
  auto text = deparse_statement(batch->tree()->stmts[0]->stmt);
  return text ? *text : std::string(trimmed);
}

std::optional<std::string> deparse_statement(const PgQuery__Node* stmt) {
  if (!stmt) return std::nullopt;
  auto buf = pack_single(stmt);
  PgQueryProtobuf pb;
  pb.len = buf.size();
  pb.data = reinterpret_cast<char*>(buf.data());
  PgQueryDeparseResult r = pg_query_deparse_protobuf(pb);
  std::optional<std::string> out;
  if (!r.error && r.query) out = std::string(r.query);
  pg_query_free_deparse_result(r);
  return out;
}

std::optional<std::string> deparse_expression(const PgQuery__Node* expr) {
  if (!expr) return std::nullopt;
  PgQuery__ResTarget target = PG_QUERY__RES_TARGET__INIT;
  target.val = const_cast<PgQuery__Node*>(expr);
  PgQuery__Node target_node = PG_QUERY__NODE__INIT;
  target_node.node_case = PG_QUERY__NODE__NODE_RES_TARGET;
  target_node.res_target = &target;
  PgQuery__Node* targets[1] = {&target_node};
  PgQuery__SelectStmt select = PG_QUERY__SELECT_STMT__INIT;
  select.n_target_list = 1;
  select.target_list = targets;
  PgQuery__Node stmt = PG_QUERY__NODE__INIT;
  stmt.node_case = PG_QUERY__NODE__NODE_SELECT_STMT;
  stmt.select_stmt = &select;
  auto text = deparse_statement(&stmt);
  constexpr std::string_view kPrefix = "SELECT ";
  if (!text || text->compare(0, kPrefix.size(), kPrefix) != 0) return std::nullopt;
  return text->substr(kPrefix.size());
}

}  // namespace schemagate::policy
