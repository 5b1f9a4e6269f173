// libFuzzer target: the pre-classifier must never call schema-changing text ordinary, and the
// whole statement engine must survive any input (run under ASan/UBSan).
//   build: CXX=clang++ cmake -DSG_BUILD_FUZZERS=ON …; run: ./fuzz_classifier -max_len=4096
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string_view>

#include "policy/engine.h"
#include "policy/pre_classifier.h"
#include "tests/policy/ddl_oracle.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace schemagate::policy;
  const std::string_view sql(reinterpret_cast<const char*>(data), size);
  if (sql.find('\0') != std::string_view::npos) return 0;  // protocol text never contains NUL
  // Under every session setting (standard_conforming_strings off, client-only encodings).
  if (!might_change_schema(sql) && !testing_oracle::ordinary_under_every_setting(sql)) {
    std::fprintf(stderr, "pre-classifier called schema-changing text ordinary: %.*s\n", static_cast<int>(size),
                 reinterpret_cast<const char*>(data));
    std::abort();
  }
  static const PolicyEngine engine{schemagate::config::Policy{}, nullptr, 0};  // no cache: exercise parsing
  static const OfflineFacts facts;
  SessionInfo session;
  (void)engine.evaluate(sql, session, &facts);
  session.tx_status = 'T';
  (void)engine.evaluate_script(sql, session, &facts);
  // The readers for the other settings, and the in-flight path that compares all readings.
  session.lexical = {false, size > 0 ? client_only_encodings()[data[0] % client_only_encodings().size()]
                                     : ClientEncoding::sjis};
  session.replies_pending = true;
  (void)engine.evaluate(sql, session, &facts);
  return 0;
}
