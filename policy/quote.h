#pragma once
#include <string>
#include <string_view>

namespace schemagate::policy {

/// Quotes an identifier the way PostgreSQL's quote_ident() does: bare only when it is a lower-case
/// name that is not a keyword, otherwise in double quotes with embedded quotes doubled.
std::string quote_ident(std::string_view ident);

/// Quotes a string literal ('...' with '' doubling; E'...' when it contains backslashes, so the
/// text is the same under any standard_conforming_strings setting).
std::string quote_literal(std::string_view text);

/// "schema"."name", or just the quoted name when `schema` is empty.
std::string quote_qualified(std::string_view schema, std::string_view name);

}  // namespace schemagate::policy
