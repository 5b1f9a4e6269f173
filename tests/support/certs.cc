#include "tests/support/certs.h"

#include <stdexcept>

#include "tests/support/process.h"

namespace schemagate::testing {
namespace {

void openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto r = run_command(argv, std::chrono::seconds(60));
  if (r.exit_code != 0) throw std::runtime_error("openssl " + args.front() + " failed:\n" + r.output);
}

CertPair signed_cert(const std::string& dir, const std::string& name, const std::string& cn, const std::string& san,
                     const std::string& ca_cert, const std::string& ca_key) {
  CertPair p{dir + "/" + name + ".crt", dir + "/" + name + ".key"};
  const std::string csr = dir + "/" + name + ".csr", ext = dir + "/" + name + ".ext";
  openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
           p.key_file, "-out", csr, "-subj", "/CN=" + cn});
  write_file(ext, "subjectAltName=" + san + "\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                  "extendedKeyUsage=serverAuth\n");
  openssl({"x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial", "-out", p.cert_file, "-days",
           "3", "-sha256", "-extfile", ext});
  return p;
}

}  // namespace

TestCerts make_test_certs(const std::string& dir) {
  TestCerts c;
  c.ca_file = dir + "/ca.crt";
  const std::string ca_key = dir + "/ca.key";
  openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", ca_key,
           "-out", c.ca_file, "-days", "3", "-sha256", "-subj", "/CN=schemagate test CA", "-addext",
           "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
  c.server = signed_cert(dir, "server", "localhost", "DNS:localhost,IP:127.0.0.1", c.ca_file, ca_key);
  c.wrong_name = signed_cert(dir, "wrong", "wrong.example.com", "DNS:wrong.example.com", c.ca_file, ca_key);
  return c;
}

}  // namespace schemagate::testing
