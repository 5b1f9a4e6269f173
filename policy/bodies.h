#pragma once
// Bodies that execute later: the code inside DO blocks and CREATE FUNCTION / CREATE PROCEDURE.
// The engine judges every statement such a body would run with the same rules as a client's
// statement (docs/security.md, "Bodies that execute later"). This file only finds the SQL; it
// decides nothing.
#include <optional>
#include <string>
#include <vector>

struct PgQuery__Node;

namespace schemagate::policy {

/// One SQL statement text a body runs, ready to be parsed and judged like a client's.
struct BodySql {
  enum class Source {
    statement,         // a statement of the body (PL/pgSQL statement, SQL body statement, PERFORM, FOR … IN query)
    constant_execute,  // EXECUTE 'literal': the literal's value
  };
  std::string text;
  int line = 0;  // 1-based line inside the body where it starts, 0 when unknown
  Source source = Source::statement;
};

/// A statement whose text is computed at run time: EXECUTE expr, FOR … IN EXECUTE expr,
/// OPEN … FOR EXECUTE expr, RETURN QUERY EXECUTE expr.
struct DynamicSql {
  std::string construct;   // "EXECUTE", "FOR … IN EXECUTE", …
  std::string expression;  // the string expression, as PL/pgSQL stored it
  int line = 0;
};

/// What a DO block or a function/procedure definition would execute.
struct Body {
  enum class Kind { do_block, function, procedure };
  Kind kind = Kind::do_block;
  std::string name;      // function/procedure name as written (schema.name); empty for DO
  std::string language;  // as PostgreSQL will look it up ("plpgsql", "sql", "plpython3u", …)
  /// The language is sql or plpgsql and the body was read. False for other languages and for
  /// functions without a body text (LANGUAGE c / internal): nothing inside can be seen.
  bool inspectable = false;
  /// Set when the body should be inspectable but could not be parsed (the reason). Such a body
  /// must be treated as opaque: the server may still accept it (e.g. check_function_bodies=off).
  std::optional<std::string> error;
  std::vector<BodySql> statements;
  std::vector<DynamicSql> dynamic;

  /// "DO block", "function public.f", "procedure p" — for messages.
  std::string describe() const;
};

/// The body of a DoStmt or CreateFunctionStmt node (PL/pgSQL through pg_query_parse_plpgsql,
/// SQL-language string bodies through the grammar, BEGIN ATOMIC bodies from the tree itself);
/// nullopt for any other node. Never throws.
std::optional<Body> extract_body(const PgQuery__Node* node);

/// Whether a PL/pgSQL expression (as PL/pgSQL stores it, without SELECT) is a single string
/// constant; its value goes to `value`. 'a' || 'b', format(…), variables, casts: false.
bool constant_string(const std::string& expression, std::string* value);

}  // namespace schemagate::policy
