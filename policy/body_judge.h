#pragma once
// Bodies that execute later (docs/security.md): the statements of a DO block or of a sql/plpgsql
// function or procedure body, judged by the engine's own decider one level deeper.
#include <functional>
#include <string>

#include "policy/decision.h"
#include "policy/rules.h"

namespace schemagate::policy {

struct SessionInfo;

/// Decides one statement of a body (Decider::decide at `depth`), as the role `as` describes.
using BodyStatementJudge =
    std::function<StatementDecision(Statement, const RuleContext&, int depth, const SessionInfo& as)>;
/// The policy's action for a rule in the outer statement's scope.
using ActionForRule = std::function<Outcome(const std::string& rule_id)>;

/// Adds the findings of `d`'s body (when its node is a DO or CREATE FUNCTION/PROCEDURE) to `d`.
/// `caller` is who sends the outer statement; a SET ROLE / RESET ROLE / SET SESSION
/// AUTHORIZATION inside the body changes the scope its later statements are judged in.
void judge_body(StatementDecision& d, const RuleContext& outer, int depth, const BodyStatementJudge& judge,
                const ActionForRule& action, const SessionInfo& caller);

}  // namespace schemagate::policy
