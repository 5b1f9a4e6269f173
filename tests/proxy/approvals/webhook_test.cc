// Webhook signatures: what schemagate sends and what a receiver must accept or refuse.
#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

#include "proxy/approvals/webhook.h"

namespace schemagate::proxy::approvals {
namespace {

constexpr const char* kSecret = "a-shared-secret-0123456789";
constexpr const char* kBody = R"({"type":"approval_request.created"})";
constexpr std::int64_t kT = 1700000000;

// Computed independently of this code, with both
//   printf '%s' '1700000000.{"type":"approval_request.created"}' | openssl dgst -sha256 -hmac 'a-shared-secret-0123456789'
//   python3 -c 'import hmac,hashlib; print(hmac.new(b"a-shared-secret-0123456789",
//     b"1700000000.{\"type\":\"approval_request.created\"}", hashlib.sha256).hexdigest())'
constexpr const char* kKnownHmac = "f993c90ed6a7a5f39a09d529f433fb0da1d9b9703054718314df1cc0fab8b8a0";

TEST(WebhookSignature, MatchesAnIndependentlyComputedVector) {
  EXPECT_EQ(sign_payload(kSecret, kT, kBody), std::string("t=1700000000,v1=") + kKnownHmac);
}

TEST(WebhookSignature, VerifiesItsOwnSignatureWithinTheTolerance) {
  const auto header = sign_payload(kSecret, kT, kBody);
  EXPECT_TRUE(verify_signature(kSecret, header, kBody, kT));
  EXPECT_TRUE(verify_signature(kSecret, header, kBody, kT + kSignatureToleranceS));
  EXPECT_TRUE(verify_signature(kSecret, header, kBody, kT - kSignatureToleranceS));
  // Upper-case hex and spaces after the comma are still the same signature.
  std::string upper = "t=1700000000, v1=";
  for (const char c : std::string(kKnownHmac)) upper.push_back(static_cast<char>(std::toupper(c)));
  EXPECT_TRUE(verify_signature(kSecret, upper, kBody, kT));
}

TEST(WebhookSignature, RejectsATamperedBody) {
  const auto header = sign_payload(kSecret, kT, kBody);
  EXPECT_FALSE(verify_signature(kSecret, header, R"({"type":"approval_request.created" })", kT));
  EXPECT_FALSE(verify_signature(kSecret, header, "", kT));
}

TEST(WebhookSignature, RejectsAWrongSecret) {
  const auto header = sign_payload(kSecret, kT, kBody);
  EXPECT_FALSE(verify_signature("another-secret-0123456789", header, kBody, kT));
}

TEST(WebhookSignature, RejectsAnOldOrFutureTimestamp) {
  const auto header = sign_payload(kSecret, kT, kBody);
  EXPECT_FALSE(verify_signature(kSecret, header, kBody, kT + kSignatureToleranceS + 1));  // replayed later
  EXPECT_FALSE(verify_signature(kSecret, header, kBody, kT - kSignatureToleranceS - 1));  // from the future
  EXPECT_FALSE(verify_signature(kSecret, header, kBody, kT + 11, 10));
  EXPECT_TRUE(verify_signature(kSecret, header, kBody, kT + 10, 10));
}

TEST(WebhookSignature, RejectsATimestampChangedWithoutResigning) {
  // The timestamp is signed: moving it into the window does not make an old signature valid.
  const std::string moved = std::string("t=1700000100,v1=") + kKnownHmac;
  EXPECT_FALSE(verify_signature(kSecret, moved, kBody, 1700000100));
}

TEST(WebhookSignature, RejectsGarbledHeaders) {
  const std::string v1 = std::string("v1=") + kKnownHmac;
  const std::string hex = kKnownHmac;
  const std::vector<std::string> garbled{"",
                                         "garbage",
                                         v1,  // no timestamp
                                         "t=1700000000",  // no signature
                                         "t=,",
                                         "t=abc," + v1,
                                         "t=-1700000000," + v1,
                                         "t=1700000000,t=1700000000," + v1,
                                         "t=1700000000,v1=",
                                         "t=1700000000,v1=zz",
                                         "t=1700000000,v1=" + hex.substr(1),
                                         "t=1700000000,v1=" + hex + "0",
                                         "t=1700000000,v1=" + hex.substr(0, 63) + "g",
                                         "t=1700000000," + v1 + ",oops",
                                         "t=1700000000;" + v1,
                                         "t=99999999999999999999," + v1};
  for (const auto& header : garbled)
    EXPECT_FALSE(verify_signature(kSecret, header, kBody, kT)) << header;
}

TEST(WebhookSignature, AcceptsAnyMatchingV1WhileSecretsRotate) {
  const std::string other = sign_payload("old-secret-0123456789", kT, kBody).substr(std::string("t=1700000000,").size());
  const std::string header = "t=1700000000," + other + ",v1=" + kKnownHmac;
  EXPECT_TRUE(verify_signature(kSecret, header, kBody, kT));
  EXPECT_FALSE(verify_signature("unrelated-secret-0123456789", header, kBody, kT));
}

}  // namespace
}  // namespace schemagate::proxy::approvals
