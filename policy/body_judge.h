#pragma once
// Bodies that execute later (docs/security.md): the statements of a DO block or of a sql/plpgsql
// function or procedure body, judged by the engine's own decider one level deeper.
#include <functional>
#include <string>

#include "policy/decision.h"
#include "policy/rules.h"

namespace schemagate::policy {

/// Decides one statement of a body (Decider::decide at `depth`).
using BodyStatementJudge = std::function<StatementDecision(Statement, const RuleContext&, int depth)>;
/// The policy's action for a rule in the outer statement's scope.
using ActionForRule = std::function<Outcome(const std::string& rule_id)>;

/// Adds the findings of `d`'s body (when its node is a DO or CREATE FUNCTION/PROCEDURE) to `d`.
void judge_body(StatementDecision& d, const RuleContext& outer, int depth, const BodyStatementJudge& judge,
                const ActionForRule& action);

}  // namespace schemagate::policy
