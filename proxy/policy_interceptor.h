#pragma once
#include <memory>

#include "proxy/interceptor.h"

namespace schemagate::policy {
class PolicyEngine;
}

namespace schemagate::proxy {

/// Consults the statement policy for every request that carries SQL.
///
/// Ordinary DML is recognised by the pre-classifier (nanoseconds, no allocation) and forwarded
/// without building anything. Everything else goes to PolicyEngine::evaluate: pass → Forward;
/// warn → Forward with a NOTICE; reject → Respond with the rule's ERROR (SQLSTATE SG001/SG005);
/// rewrite → RunPlan; hold → Hold. In observe mode every decision is logged and the request is
/// forwarded unchanged. Statements that name existing tables first ask for live facts (size,
/// primary key, partitioning, schema) so that size-aware rules judge the real table.
class PolicyInterceptor final : public Interceptor {
 public:
  explicit PolicyInterceptor(std::shared_ptr<const policy::PolicyEngine> engine);
  Verdict on_request(const RequestView& request, const SessionState& session,
                     const policy::CatalogFacts* facts, Judged& judged) const override;
  InterceptorStats stats() const override;

 private:
  std::shared_ptr<const policy::PolicyEngine> engine_;
};

/// "15.20" or "16beta1 (Debian ...)" → 150020 / 160000; 0 when unknown.
int server_version_num(const std::string& server_version);

}  // namespace schemagate::proxy
