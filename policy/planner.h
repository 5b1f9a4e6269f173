#pragma once
#include <optional>
#include <string>
#include <vector>

#include "config/policy_model.h"
#include "policy/decision.h"
#include "policy/facts.h"
#include "policy/plan.h"
#include "policy/statement.h"

namespace schemagate::policy {

/// What a planner may use besides the statement.
struct PlanContext {
  const config::PolicyThresholds* thresholds = nullptr;
  int server_version_num = 150000;
  const CatalogFacts* facts = nullptr;  // optional: lets plans avoid what the live schema rules out
};

/// Turns a statement that a rule wants rewritten into a phased plan. Implementations are pure.
class Planner {
 public:
  virtual ~Planner() = default;
  /// A plan replacing `s` that satisfies the rewrite-action findings in `rewrite`, or nullopt with
  /// `why_not` explaining why no safe plan exists (the engine then rejects).
  virtual std::optional<Plan> plan(const Statement& s, const std::vector<Finding>& rewrite, const PlanContext& ctx,
                                   std::string& why_not) const = 0;
};

/// The built-in planner: CREATE INDEX / DROP INDEX / REINDEX / REFRESH → CONCURRENTLY; ADD
/// FOREIGN KEY / CHECK → NOT VALID + VALIDATE; ADD UNIQUE / PRIMARY KEY → unique index
/// CONCURRENTLY + USING INDEX; SET NOT NULL → validated CHECK + SET NOT NULL (PG 12+); ADD
/// COLUMN with a volatile default → nullable column, default, batched backfill, NOT NULL via CHECK.
class DefaultPlanner final : public Planner {
 public:
  std::optional<Plan> plan(const Statement& s, const std::vector<Finding>& rewrite, const PlanContext& ctx,
                           std::string& why_not) const override;
};

}  // namespace schemagate::policy
