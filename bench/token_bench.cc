// CCA token issue and verify throughput beside raw OpenSSL P-384 in the same
// run. The verify path (strict decode + platform signature + RAK import +
// realm signature + binding + nonce + lifecycle) should cost no more than
// 1.15x two raw ES384 verifies of the same messages; the ratio is printed at
// the end. Run: build/NAME/bench/confml_token_bench

#include <benchmark/benchmark.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdio>
#include <map>
#include <string>

#include "confml/core/cca_token.h"
#include "confml/core/file_util.h"
#include "confml/defenses/verifier.h"

namespace {

using namespace confml;

const std::string kDir = std::string(CONFML_SHARED_DIR) + "/cca-tokens/";

struct Recorded {
  Bytes token;
  EcKey cpak;
  CcaToken decoded;
};

const Recorded& GetRecorded() {
  static const Recorded* r = [] {
    Bytes token = *ReadFileBytes(kDir + "tf-rmm-fvp-token.cbor");
    EcKey cpak = *EcKey::FromPublicPem(*ReadFileText(kDir + "tf-rmm-fvp-cpak.pub.pem"));
    return new Recorded{token, cpak, *DecodeCcaToken(token)};
  }();
  return *r;
}

void BM_TokenVerify(benchmark::State& state) {
  const Recorded& r = GetRecorded();
  defenses::VerifierInputs in;
  in.trust_anchors.push_back(r.cpak);
  in.expected_nonce = Bytes(64, 0xab);
  for (auto _ : state) {
    defenses::Verdict v = defenses::Verify(r.token, in);
    if (!v.ok()) state.SkipWithError("recorded token did not verify");
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_TokenVerify)->Unit(benchmark::kMicrosecond);

// What a user would otherwise run: OpenSSL EVP verifies of the two
// Sig_structures, with the keys already parsed and the DER signatures
// prepared outside the timed loop.
struct RawVerify {
  EVP_PKEY* cpak = nullptr;
  EVP_PKEY* rak = nullptr;
  Bytes tbs_platform, tbs_realm, der_platform, der_realm;
};

EVP_PKEY* PemPublic(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* k = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return k;
}

Bytes ToDer(const Bytes& raw) {
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(raw.data(), 48, nullptr), BN_bin2bn(raw.data() + 48, 48, nullptr));
  uint8_t* der = nullptr;
  int len = i2d_ECDSA_SIG(sig, &der);
  Bytes out(der, der + len);
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return out;
}

const RawVerify& GetRaw() {
  static const RawVerify* raw = [] {
    const Recorded& r = GetRecorded();
    auto* v = new RawVerify;
    v->cpak = PemPublic(r.cpak.PublicKeyPem());
    v->rak = PemPublic(RealmPublicKey(r.decoded.realm)->PublicKeyPem());
    v->tbs_platform = r.decoded.platform_cose.ToBeSigned();
    v->tbs_realm = r.decoded.realm_cose.ToBeSigned();
    v->der_platform = ToDer(r.decoded.platform_cose.signature);
    v->der_realm = ToDer(r.decoded.realm_cose.signature);
    return v;
  }();
  return *raw;
}

bool OneRawVerify(EVP_PKEY* key, const Bytes& tbs, const Bytes& der) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha384(), nullptr, key) == 1 &&
            EVP_DigestVerify(ctx, der.data(), der.size(), tbs.data(), tbs.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

void BM_RawOpenSslTwoP384Verifies(benchmark::State& state) {
  const RawVerify& raw = GetRaw();
  for (auto _ : state) {
    bool ok = OneRawVerify(raw.cpak, raw.tbs_platform, raw.der_platform) &&
              OneRawVerify(raw.rak, raw.tbs_realm, raw.der_realm);
    if (!ok) state.SkipWithError("raw verify failed");
    benchmark::DoNotOptimize(ok);
  }
}
BENCHMARK(BM_RawOpenSslTwoP384Verifies)->Unit(benchmark::kMicrosecond);

void BM_TokenIssue(benchmark::State& state) {
  const Recorded& r = GetRecorded();
  EcKey cpak = *EcKey::FromSeed(Bytes(32, 1), "bench-cpak");
  EcKey rak = *EcKey::FromSeed(Bytes(32, 1), "bench-rak");
  RealmClaims realm = r.decoded.realm;
  realm.public_key = rak.PublicPoint();
  PlatformClaims platform = r.decoded.platform;
  platform.challenge = *RakBinding(realm);
  for (auto _ : state) {
    auto rt = SignRealmToken(realm, rak);
    auto pt = SignPlatformToken(platform, cpak);
    auto token = EncodeCcaToken(*pt, *rt);
    if (!token.ok()) state.SkipWithError("issue failed");
    benchmark::DoNotOptimize(token);
  }
}
BENCHMARK(BM_TokenIssue)->Unit(benchmark::kMicrosecond);

void BM_RawOpenSslTwoP384Signs(benchmark::State& state) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  const RawVerify& raw = GetRaw();
  uint8_t sig[128];
  for (auto _ : state) {
    for (const Bytes* tbs : {&raw.tbs_platform, &raw.tbs_realm}) {
      EVP_MD_CTX* ctx = EVP_MD_CTX_new();
      size_t len = sizeof(sig);
      bool ok = EVP_DigestSignInit(ctx, nullptr, EVP_sha384(), nullptr, key) == 1 &&
                EVP_DigestSign(ctx, sig, &len, tbs->data(), tbs->size()) == 1;
      EVP_MD_CTX_free(ctx);
      if (!ok) state.SkipWithError("raw sign failed");
    }
    benchmark::DoNotOptimize(sig);
  }
  EVP_PKEY_free(key);
}
BENCHMARK(BM_RawOpenSslTwoP384Signs)->Unit(benchmark::kMicrosecond);

void BM_TokenDecodeOnly(benchmark::State& state) {
  const Recorded& r = GetRecorded();
  for (auto _ : state) {
    auto t = DecodeCcaToken(r.token);
    benchmark::DoNotOptimize(t);
  }
}
BENCHMARK(BM_TokenDecodeOnly)->Unit(benchmark::kMicrosecond);

// Collects per-benchmark CPU time so main can print the ratios.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    // With --benchmark_repetitions the mean aggregate is used; otherwise
    // the single iteration run.
    for (const Run& run : runs) {
      const bool mean = run.run_type == Run::RT_Aggregate && run.aggregate_name == "mean";
      if ((run.run_type == Run::RT_Iteration && run.iterations > 0) || mean) {
        cpu_[run.run_name.function_name] = run.GetAdjustedCPUTime();
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  double Get(const std::string& name) const {
    auto it = cpu_.find(name);
    return it == cpu_.end() ? 0.0 : it->second;
  }

 private:
  std::map<std::string, double> cpu_;  // in each run's time unit (all us)
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  const double verify = reporter.Get("BM_TokenVerify");
  const double raw_verify = reporter.Get("BM_RawOpenSslTwoP384Verifies");
  const double issue = reporter.Get("BM_TokenIssue");
  const double raw_sign = reporter.Get("BM_RawOpenSslTwoP384Signs");
  if (verify > 0 && raw_verify > 0) {
    std::printf("verify ratio: confml Verify / two raw P-384 verifies = %.3f (target <= 1.15)\n",
                verify / raw_verify);
  }
  if (issue > 0 && raw_sign > 0) {
    std::printf("issue ratio:  confml issue / two raw P-384 signs   = %.3f\n", issue / raw_sign);
  }
  benchmark::Shutdown();
  return 0;
}
