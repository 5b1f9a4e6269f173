#include "proxy/interceptor.h"

namespace schemagate::proxy {

Respond respond_error(std::string sqlstate, std::string message, std::string detail, std::string hint) {
  Respond r;
  protocol::write_error_response(
      r.messages, protocol::ErrorFields{"ERROR", std::move(sqlstate), std::move(message), std::move(detail), std::move(hint)});
  return r;
}

}  // namespace schemagate::proxy
