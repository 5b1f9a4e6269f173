#include "proxy/interceptor.h"

#include "protocol/frontend.h"
#include "protocol/tags.h"

namespace schemagate::proxy {

namespace tag = protocol::tag;

bool synthesize_plan_replies(const RequestView& request, const std::string& command_tag, std::vector<std::byte>& out,
                             std::string& why_not, PlanRequestShape* shape, std::size_t first_frame) {
  out.clear();
  PlanRequestShape seen;
  int statements = 0;
  bool bind = false;
  for (std::size_t i = 0; i < request.frame_count(); ++i) {
    const auto f = request.frame(i);
    const bool answer = i >= first_frame;
    switch (f.tag) {
      case tag::kQuery:
        ++statements;
        seen.executes = true;
        if (answer) protocol::write_command_complete(out, command_tag);
        break;
      case tag::kParse: {
        protocol::Parse p;
        if (protocol::parse_parse(f, p)) {
          why_not = "its Parse message is malformed";
          return false;
        }
        ++statements;
        seen.prepared = std::string(p.statement);
        seen.statement.sql = std::string(p.sql);
        seen.statement.param_types.clear();
        for (std::size_t j = 0; j < p.param_count; ++j) seen.statement.param_types.push_back(p.param_type(j));
        if (answer) protocol::write_empty_message(out, tag::kParseComplete);
        break;
      }
      case tag::kBind:
        bind = true;
        if (answer) protocol::write_empty_message(out, tag::kBindComplete);
        break;
      case tag::kDescribe: {
        protocol::DescribeTarget d;
        if (protocol::parse_describe(f, d)) {
          why_not = "its Describe message is malformed";
          return false;
        }
        if (!answer) break;
        // The statement as the server would describe it: its declared parameters, no rows.
        if (d.kind == 'S') protocol::write_parameter_description(out, seen.statement.param_types);
        protocol::write_empty_message(out, tag::kNoData);
        break;
      }
      case tag::kExecute:
        seen.executes = true;
        if (answer) protocol::write_command_complete(out, command_tag);
        break;
      case tag::kClose:
        if (answer) protocol::write_empty_message(out, tag::kCloseComplete);
        break;
      case tag::kSync:
      case tag::kFlush:
        break;  // the session adds ReadyForQuery for Sync
      default:
        why_not = std::string("it arrived with a '") + f.tag + "' message the proxy cannot answer for";
        return false;
    }
  }
  if (statements != 1) {
    why_not = "it shares its message with other statements";
    return false;
  }
  if (bind && !seen.executes) {
    // Bound now, executed by a later message: the plan would run at the wrong moment.
    why_not = "it was bound to a portal without being executed in the same message";
    return false;
  }
  if (shape) *shape = std::move(seen);
  return true;
}

Respond respond_error(std::string sqlstate, std::string message, std::string detail, std::string hint) {
  Respond r;
  protocol::write_error_response(
      r.messages, protocol::ErrorFields{"ERROR", std::move(sqlstate), std::move(message), std::move(detail), std::move(hint)});
  return r;
}

}  // namespace schemagate::proxy
