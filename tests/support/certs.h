#pragma once
// Test certificates made with the openssl CLI: a CA and server certificates signed by it.
#include <string>
#include <vector>

namespace schemagate::testing {

struct CertPair {
  std::string cert_file;
  std::string key_file;
};

struct TestCerts {
  std::string ca_file;  // the CA certificate (sslrootcert / upstream.tls.ca_file)
  CertPair server;      // CN=localhost, SAN DNS:localhost, IP:127.0.0.1
  CertPair wrong_name;  // CN=wrong.example.com, SAN DNS:wrong.example.com (fails verify-full)
};

/// Creates the CA and both server certificates in `dir`. Throws with openssl's output on failure.
TestCerts make_test_certs(const std::string& dir);

}  // namespace schemagate::testing
