#pragma once
#include <string_view>

namespace schemagate::policy {

/// The hot-path filter, called for every Query/Parse message. Returns false only when no statement
/// in `sql` can be anything but ordinary DML (SELECT without INTO, INSERT, UPDATE, DELETE, MERGE,
/// VALUES, TABLE, WITH … of those), transaction control (BEGIN/COMMIT/ROLLBACK/SAVEPOINT/…) or SHOW.
/// Anything else, or anything it cannot lex with certainty, returns true (send to the full parser).
///
/// The lexer knows PostgreSQL's quoting: '…' with '' escapes, E'…' with backslash escapes, "…"
/// identifiers, $tag$…$tag$ bodies, -- comments and nested /* */ comments. Its answer holds under
/// every session setting: it returns true for a plain '…' string containing a backslash (with
/// standard_conforming_strings off that text lexes differently) and for a backslash in E'…'
/// right after a byte above 0x7f (a client-only encoding may make the two one character).
bool might_change_schema(std::string_view sql);

}  // namespace schemagate::policy
