#pragma once
// How the session's state shapes a judgement: the settings it reads text under, the role it runs
// as, its transaction. Helpers of PolicyEngine (policy/engine.cc); see docs/security.md.
#include <string>
#include <string_view>
#include <vector>

#include "policy/client_text.h"
#include "policy/decision.h"
#include "policy/engine.h"

struct PgQuery__ParseResult;

namespace schemagate::policy {

/// A statement with characters outside ASCII in a client-only encoding cannot run as a plan (its
/// SQL is deparsed in UTF-8): a rewrite becomes a reject with the reason, a hold loses its plan.
void keep_runnable_as_written(StatementDecision& d, ClientEncoding encoding);

/// Whether two readings of one text come to the same thing: same statements, same verdicts.
bool same_reading(const BatchDecision& a, const BatchDecision& b);
/// "standard_conforming_strings = off, client_encoding = SJIS".
std::string describe(const LexicalSettings& l);
/// Every setting the server could apply to `sql` once the requests in flight have run; the first
/// is `current`.
std::vector<LexicalSettings> possible_readings(std::string_view sql, const LexicalSettings& current);

/// Whether the first statement is one PostgreSQL accepts in a failed transaction block.
bool leaves_failed_transaction(const PgQuery__ParseResult* tree);

/// Whether no statement before `index` in the message may change TimeZone: only BEGIN,
/// SAVEPOINT, RELEASE and SET / RESET of other settings come before it. (COMMIT and ROLLBACK
/// undo SET LOCAL or a rolled-back SET; a function may call set_config.)
bool time_zone_unchanged_before(const PgQuery__ParseResult* tree, std::size_t index);

/// The session with the live identity (CatalogFacts::identity) when the proxy read it.
SessionInfo with_live_identity(const SessionInfo& s, const CatalogFacts* facts);
/// Follows SET [LOCAL] ROLE, RESET ROLE and SET SESSION AUTHORIZATION in `st` into `who`. Back
/// at the role `start` runs as, `who` is `start` again (its memberships known once more).
void follow_role_change(const Statement& st, SessionInfo& who, std::string& session_user, const SessionInfo& start);

}  // namespace schemagate::policy
