// libFuzzer target: the CCA token decoder and verifier, the CBOR decoder
// and the signed-policy loader on arbitrary bytes. Seed corpus: the token
// recorded on Arm's FVP (../shared/cca-tokens). Oracles besides "no crash,
// no sanitizer report":
//   - the verifier never accepts (the fuzzer cannot forge ES384);
//   - whatever the strict CBOR decoder accepts re-encodes to the same bytes
//     (preferred serialization and definite lengths make it canonical);
//   - a decoded token's claims re-encode and decode to equal claims.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "confml/core/cbor.h"
#include "confml/core/cca_token.h"
#include "confml/core/file_util.h"
#include "confml/defenses/policy.h"
#include "confml/defenses/verifier.h"

namespace {

using namespace confml;

struct Fixture {
  defenses::VerifierInputs inputs;
  EcKey policy_key;
  CcaToken recorded;
};

const Fixture& GetFixture() {
  static const Fixture* fixture = [] {
    const std::string dir = std::string(CONFML_SHARED_DIR) + "/cca-tokens/";
    auto pem = ReadFileText(dir + "tf-rmm-fvp-cpak.pub.pem");
    auto cpak = pem.ok() ? EcKey::FromPublicPem(*pem) : StatusOr<EcKey>(pem.status());
    auto policy_key = EcKey::FromSeed(Bytes(32, 0x70), "fuzz-policy");
    auto token_bytes = ReadFileBytes(dir + "tf-rmm-fvp-token.cbor");
    auto recorded =
        token_bytes.ok() ? DecodeCcaToken(*token_bytes) : StatusOr<CcaToken>(token_bytes.status());
    if (!cpak.ok() || !policy_key.ok() || !recorded.ok()) {
      std::fprintf(stderr, "token_fuzz: cannot load the recorded token and CPAK\n");
      std::abort();
    }
    auto* f = new Fixture{defenses::VerifierInputs{}, policy_key->PublicOnly(), *recorded};
    f->inputs.trust_anchors.push_back(*cpak);
    f->inputs.expected_nonce = Bytes(64, 0xab);
    return f;
  }();
  return *fixture;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixture& fx = GetFixture();
  const ByteSpan in(data, size);

  auto value = cbor::Decode(in);
  if (value.ok() && cbor::Encode(*value) != Bytes(in.begin(), in.end())) {
    std::fprintf(stderr, "CBOR round trip changed the bytes\n");
    std::abort();
  }

  defenses::Verdict verdict = defenses::Verify(in, fx.inputs);
  // Only the recorded signed content can pass. (COSE leaves the tag and the
  // unprotected header unsigned, so the bytes around it may differ.)
  if (verdict.ok()) {
    const CcaToken& t = *verdict.token();
    const CcaToken& r = fx.recorded;
    if (t.platform_cose.payload != r.platform_cose.payload ||
        t.realm_cose.payload != r.realm_cose.payload ||
        t.platform_cose.protected_header != r.platform_cose.protected_header ||
        t.realm_cose.protected_header != r.realm_cose.protected_header) {
      std::fprintf(stderr, "verifier accepted signed content other than the recorded token's\n");
      std::abort();
    }
  }
  if (verdict.token()) {
    const CcaToken& t = *verdict.token();
    auto p = EncodePlatformClaims(t.platform);
    auto r = EncodeRealmClaims(t.realm);
    if (!p.ok() || !r.ok() || !(*DecodePlatformClaims(*p) == t.platform) ||
        !(*DecodeRealmClaims(*r) == t.realm)) {
      std::fprintf(stderr, "decoded claims do not re-encode\n");
      std::abort();
    }
    (void)CcaTokenClaimsToJson(t);
  }
  (void)verdict.ToJson();

  auto policy = defenses::LoadSignedPolicy(in, fx.policy_key);
  if (policy.ok()) {
    std::fprintf(stderr, "policy loader accepted an unsigned input\n");
    std::abort();
  }
  (void)defenses::DecodePolicy(in);
  return 0;
}
