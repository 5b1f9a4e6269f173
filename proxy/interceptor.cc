#include "proxy/interceptor.h"

#include "protocol/frontend.h"
#include "protocol/tags.h"

namespace schemagate::proxy {

namespace tag = protocol::tag;

bool synthesize_plan_replies(const RequestView& request, const std::string& command_tag, std::vector<std::byte>& out,
                             std::string& why_not) {
  out.clear();
  int statements = 0;
  for (std::size_t i = 0; i < request.frame_count(); ++i) {
    const auto f = request.frame(i);
    switch (f.tag) {
      case tag::kQuery:
        ++statements;
        protocol::write_command_complete(out, command_tag);
        break;
      case tag::kParse: {
        protocol::Parse p;
        if (protocol::parse_parse(f, p)) {
          why_not = "its Parse message is malformed";
          return false;
        }
        if (!p.statement.empty()) {
          why_not = "it was prepared as a named statement (\"" + std::string(p.statement) +
                    "\"), which later Bind messages would look for on the server";
          return false;
        }
        ++statements;
        protocol::write_empty_message(out, tag::kParseComplete);
        break;
      }
      case tag::kBind:
        protocol::write_empty_message(out, tag::kBindComplete);
        break;
      case tag::kDescribe: {
        protocol::DescribeTarget d;
        if (protocol::parse_describe(f, d)) {
          why_not = "its Describe message is malformed";
          return false;
        }
        if (d.kind == 'S') {
          // The statement as the server would describe it: its declared parameters, no rows.
          protocol::Parse p;
          std::vector<std::uint32_t> oids;
          for (std::size_t k = 0; k < request.frame_count(); ++k)
            if (request.frame(k).tag == tag::kParse && !protocol::parse_parse(request.frame(k), p))
              for (std::size_t j = 0; j < p.param_count; ++j) oids.push_back(p.param_type(j));
          protocol::write_parameter_description(out, oids);
        }
        protocol::write_empty_message(out, tag::kNoData);
        break;
      }
      case tag::kExecute:
        protocol::write_command_complete(out, command_tag);
        break;
      case tag::kClose:
        protocol::write_empty_message(out, tag::kCloseComplete);
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
  bool parse = false, execute = false;
  for (std::size_t i = 0; i < request.frame_count(); ++i) {
    parse |= request.frame(i).tag == tag::kParse;
    execute |= request.frame(i).tag == tag::kExecute;
  }
  if (parse && !execute) {
    // Prepared now, executed by a later message: the plan would run at the wrong moment, and
    // the later Bind would find no statement on the server.
    why_not = "it was prepared without being executed in the same message (prepare and execute it together)";
    return false;
  }
  return true;
}

Respond respond_error(std::string sqlstate, std::string message, std::string detail, std::string hint) {
  Respond r;
  protocol::write_error_response(
      r.messages, protocol::ErrorFields{"ERROR", std::move(sqlstate), std::move(message), std::move(detail), std::move(hint)});
  return r;
}

}  // namespace schemagate::proxy
