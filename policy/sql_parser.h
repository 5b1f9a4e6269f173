#pragma once
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct PgQuery__ParseResult;
struct PgQuery__Node;

namespace schemagate::policy {

/// A 1-based line and column (in bytes) inside a SQL text.
struct SourcePos {
  int line = 1;
  int column = 1;
};

/// Converts a 0-based byte offset into a 1-based line/column.
SourcePos position_at(std::string_view text, std::size_t offset);

/// A syntax error reported by PostgreSQL's grammar.
struct SyntaxError {
  std::string message;
  std::size_t offset = 0;  // 0-based byte offset of the error in the parsed text
  SourcePos pos;
};

/// One statement of a multi-statement text, by byte range.
struct StatementSpan {
  std::size_t offset = 0;
  std::size_t length = 0;
};

/// Copies a statement's text without the blanks and comments before it and the blanks and
/// semicolons after it into `out`; returns the offset of its first character.
std::size_t trim_statement(std::string_view text, StatementSpan span, std::string& out);

/// The statements of a text; `used_scanner` when the grammar failed and the scanner split instead.
struct SplitResult {
  std::vector<StatementSpan> spans;
  bool used_scanner = false;
  std::optional<SyntaxError> error;  // the grammar's error when used_scanner, or the scanner's own
};

/// Splits `sql` into statements with pg_query_split_with_parser, falling back to the scanner on
/// syntax errors (the scanner tolerates them).
SplitResult split_statements(std::string_view sql);

/// Makes PostgreSQL's lexer (inside libpg_query) on this thread read plain '…' strings as the
/// server does under `standard_conforming_strings`: with it off, a backslash in a plain string
/// escapes the next character, so `'a\''` ends where the server ends it. Every parse, split,
/// fingerprint, normalize and deparse on this thread while the scope lives uses the setting
/// (the parse cache keys on it). Scopes nest; the destructor restores the previous setting.
class StringSyntaxScope {
 public:
  explicit StringSyntaxScope(bool standard_conforming_strings);
  ~StringSyntaxScope();
  StringSyntaxScope(const StringSyntaxScope&) = delete;
  StringSyntaxScope& operator=(const StringSyntaxScope&) = delete;

 private:
  bool saved_;
};

/// The standard_conforming_strings the lexer uses on this thread (on unless a scope says otherwise).
bool standard_conforming_strings_in_effect();

/// An owned, immutable parse tree of a whole text (the unpacked protobuf-c tree).
/// Frees both the protobuf buffer and the unpacked tree in its destructor.
class ParsedBatch {
 public:
  /// Parses `sql`; on a syntax error returns nullptr and fills `error`.
  static std::shared_ptr<const ParsedBatch> parse(std::string_view sql, SyntaxError* error);
  ~ParsedBatch();
  ParsedBatch(const ParsedBatch&) = delete;
  ParsedBatch& operator=(const ParsedBatch&) = delete;

  /// The tree: tree()->n_stmts RawStmts with byte locations into text().
  const PgQuery__ParseResult* tree() const { return tree_; }
  /// The text that was parsed (owned copy; statement locations index into it).
  const std::string& text() const { return text_; }
  /// Byte range of statement `i` (RawStmt locations, with a zero length meaning "to the end").
  StatementSpan span(std::size_t i) const;

 private:
  ParsedBatch() = default;
  std::string text_;
  PgQuery__ParseResult* tree_ = nullptr;
};

/// The result of SqlParser::parse: a tree or a syntax error.
struct ParseOutcome {
  std::shared_ptr<const ParsedBatch> batch;  // null on error
  std::optional<SyntaxError> error;
  bool cache_hit = false;
};

/// Parses with a bounded LRU cache keyed by the exact text. Thread-safe.
class SqlParser {
 public:
  /// `capacity` entries at most (0 disables caching). Texts longer than `max_cached_bytes` are not cached.
  explicit SqlParser(std::size_t capacity = 1024, std::size_t max_cached_bytes = 64 * 1024);
  SqlParser(const SqlParser&) = delete;
  SqlParser& operator=(const SqlParser&) = delete;

  /// Parses `sql` (or returns the cached tree). Errors are cached too: the same text fails the same way.
  ParseOutcome parse(std::string_view sql) const;

  /// Cache statistics, for metrics and tests.
  struct Stats {
    std::uint64_t hits = 0, misses = 0;
    std::size_t size = 0;
  };
  Stats stats() const;

 private:
  struct Entry {
    std::shared_ptr<const ParsedBatch> batch;
    std::optional<SyntaxError> error;
    std::list<std::string>::iterator lru_pos;
  };
  std::size_t capacity_;
  std::size_t max_cached_bytes_;
  mutable std::mutex mu_;
  mutable std::list<std::string> lru_;  // front = most recently used
  mutable std::unordered_map<std::string, Entry> entries_;
  mutable Stats stats_;
};

/// Fingerprint of a statement's shape (constants ignored), or nullopt on a syntax error.
std::optional<std::uint64_t> fingerprint(std::string_view sql);

/// The text with literals replaced by $n placeholders (safe to log), or nullopt on a syntax error.
std::optional<std::string> normalize(std::string_view sql);

/// One statement in a canonical spelling, for matching a resend to an approval: the statement
/// deparsed from its parse tree, so whitespace, comments, keyword case and unquoted identifier
/// case do not matter, while every constant, name and clause does (unlike normalize(), which
/// would let an approved `SET DEFAULT 5` match `SET DEFAULT 6`). The trimmed text itself when it
/// is not exactly one statement that parses and deparses, or has a backslash (whose reading
/// depends on standard_conforming_strings).
std::string canonical_statement(std::string_view sql);

/// SQL text for one statement node (packs a one-statement tree and deparses it). The node is only
/// read, so callers may pass shallow copies of cached nodes with a field changed.
std::optional<std::string> deparse_statement(const PgQuery__Node* stmt);

/// SQL text of one expression node (deparsed as the target of a SELECT).
std::optional<std::string> deparse_expression(const PgQuery__Node* expr);

}  // namespace schemagate::policy
