#include "policy/quote.h"

#include <algorithm>
#include <array>

namespace schemagate::policy {

namespace {

// Reserved and type/function-name keywords of PostgreSQL 15 that cannot be used bare as a column
// or table name. Unreserved keywords are safe bare, so quoting them is harmless but not required;
// to stay safe without the full keyword list we quote every keyword we know of here.
constexpr std::array<std::string_view, 98> kKeywords = {
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "authorization", "between",
    "bigint", "binary", "bit", "boolean", "both", "case", "cast", "char", "character", "check", "coalesce",
    "collate", "collation", "column", "concurrently", "constraint", "create", "cross", "current_catalog",
    "current_date", "current_role", "current_schema", "current_time", "current_timestamp", "current_user",
    "dec", "decimal", "default", "deferrable", "desc", "distinct", "do", "else", "end", "except", "exists",
    "extract", "false", "fetch", "float", "for", "foreign", "freeze", "from", "full", "grant", "greatest",
    "group", "having", "ilike", "in", "initially", "inner", "int", "integer", "intersect", "interval", "into",
    "is", "isnull", "join", "lateral", "leading", "least", "left", "like", "limit", "localtime",
    "localtimestamp", "natural", "not", "notnull", "null", "nullif", "numeric", "offset", "on", "only", "or",
    "order", "outer", "overlaps", "primary", "references", "returning", "right", "select"};
constexpr std::array<std::string_view, 22> kKeywords2 = {
    "session_user", "setof",  "similar", "smallint", "some",     "symmetric", "table", "tablesample",
    "then",         "time",   "timestamp", "to",     "trailing", "treat",     "trim",  "true",
    "union",        "unique", "user",    "using",    "values",   "variadic"};
constexpr std::array<std::string_view, 10> kKeywords3 = {"varchar", "verbose", "when",   "where",   "window",
                                                         "with",    "xmlattributes", "xmlconcat", "xmlelement",
                                                         "xmlforest"};

bool is_keyword(std::string_view s) {
  auto in = [s](const auto& list) { return std::find(list.begin(), list.end(), s) != list.end(); };
  return in(kKeywords) || in(kKeywords2) || in(kKeywords3);
}

}  // namespace

std::string quote_ident(std::string_view ident) {
  bool safe = !ident.empty() && ((ident[0] >= 'a' && ident[0] <= 'z') || ident[0] == '_');
  for (char c : ident)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) safe = false;
  if (safe && !is_keyword(ident)) return std::string(ident);
  std::string out = "\"";
  for (char c : ident) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string quote_literal(std::string_view text) {
  const bool backslash = text.find('\\') != std::string_view::npos;
  std::string out = backslash ? "E'" : "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    if (c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string quote_qualified(std::string_view schema, std::string_view name) {
  if (schema.empty()) return quote_ident(name);
  return quote_ident(schema) + "." + quote_ident(name);
}

}  // namespace schemagate::policy
