// confml token verify TOKEN --cpak KEY.pem [--cpak KEY2.pem ...] [--nonce HEX]
//                    [--policy POLICY --policy-key KEY.pem --role ROLE]
//
// Prints {"claims": ..., "verdict": ...} as JSON on stdout. Exit 0 when every
// check passes, 1 when any fails, 2 on a usage error or an unreadable input
// file. An undecodable token is reported through the verdict's "decode"
// finding (claims null) and exits 2, since it is input that is not a token.

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"
#include "confml/core/cca_token.h"
#include "confml/core/crypto.h"
#include "confml/core/file_util.h"
#include "confml/defenses/policy.h"
#include "confml/defenses/verifier.h"

namespace confml::cli {
namespace {

constexpr const char* kTokenUsage =
    "usage: confml token verify TOKEN --cpak KEY.pem [--cpak KEY.pem ...] [--nonce HEX]\n"
    "                           [--policy POLICY --policy-key KEY.pem --role ROLE]\n"
    "  TOKEN         CCA attestation token (CBOR, tag 399)\n"
    "  --cpak        trusted platform attestation public key (PEM, P-384); repeatable\n"
    "  --nonce       the 64-byte challenge the verifier sent, as 128 hex digits\n"
    "                (without it the freshness check fails)\n"
    "  --policy      signed attestation policy (COSE_Sign1), checked with --policy-key\n"
    "  --role        role the attester claims (required with --policy)\n";

int Usage(const std::string& message) {
  std::fprintf(stderr, "confml token: %s\n%s", message.c_str(), kTokenUsage);
  return kExitUsage;
}

int InputError(const std::string& message) {
  std::fprintf(stderr, "confml token: %s\n", message.c_str());
  return kExitUsage;
}

int VerifyTokenCommand(int argc, char** argv) {
  std::optional<std::string> token_path, nonce_hex, policy_path, policy_key_path, role;
  std::vector<std::string> cpak_paths;
  for (int i = 0; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&](std::optional<std::string>& out) -> bool {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(kTokenUsage, stdout);
      return kExitOk;
    } else if (arg == "--cpak") {
      std::optional<std::string> v;
      if (!value(v)) return Usage("--cpak needs a file");
      cpak_paths.push_back(*v);
    } else if (arg == "--nonce") {
      if (!value(nonce_hex)) return Usage("--nonce needs a hex value");
    } else if (arg == "--policy") {
      if (!value(policy_path)) return Usage("--policy needs a file");
    } else if (arg == "--policy-key") {
      if (!value(policy_key_path)) return Usage("--policy-key needs a file");
    } else if (arg == "--role") {
      if (!value(role)) return Usage("--role needs a name");
    } else if (!arg.empty() && arg[0] == '-') {
      return Usage("unknown option '" + std::string(arg) + "'");
    } else if (token_path) {
      return Usage("more than one TOKEN given");
    } else {
      token_path = std::string(arg);
    }
  }
  if (!token_path) return Usage("missing TOKEN");
  if (cpak_paths.empty() && !policy_path)
    return Usage("give at least one --cpak (or a --policy with trust anchors)");
  if (policy_path && (!policy_key_path || !role))
    return Usage("--policy needs --policy-key and --role");
  if (!policy_path && (policy_key_path || role))
    return Usage("--policy-key and --role need --policy");

  defenses::VerifierInputs in;
  for (const std::string& path : cpak_paths) {
    auto pem = ReadFileText(path);
    if (!pem.ok()) return InputError(path + ": " + pem.status().ToString());
    auto key = EcKey::FromPublicPem(*pem);
    if (!key.ok()) return InputError(path + ": " + key.status().ToString());
    in.trust_anchors.push_back(*key);
  }
  if (nonce_hex) {
    auto nonce = FromHex(*nonce_hex);
    if (!nonce.ok()) return Usage("--nonce: " + nonce.status().message());
    if (nonce->size() != kRealmChallengeSize) {
      return Usage("--nonce must be 64 bytes (128 hex digits), got " +
                   std::to_string(nonce->size()) + " bytes");
    }
    in.expected_nonce = *nonce;
  }
  std::optional<defenses::Policy> policy;
  if (policy_path) {
    auto loaded = defenses::LoadSignedPolicyFile(*policy_path, *policy_key_path);
    if (!loaded.ok()) {
      // An unauthenticated policy is not something to verify against.
      return InputError("policy rejected: " + loaded.status().ToString());
    }
    policy = *std::move(loaded);
    in.policy = &*policy;
    in.claimed_role = *role;
  }

  auto token = ReadFileBytes(*token_path);
  if (!token.ok()) return InputError(*token_path + ": " + token.status().ToString());

  defenses::Verdict verdict = defenses::Verify(*token, in);
  const std::string claims = verdict.token() ? CcaTokenClaimsToJson(*verdict.token()) : "null";
  std::printf("{\"claims\":%s,\"verdict\":%s}\n", claims.c_str(), verdict.ToJson().c_str());
  if (!verdict.token()) {
    // The verdict on stdout says so too; stderr names the file for a reader
    // of the log who sees only the exit code.
    const defenses::Finding* decode = verdict.Find("decode");
    return InputError(*token_path + ": not a CCA attestation token" +
                      (decode ? ": " + decode->detail : std::string()));
  }
  return verdict.ok() ? kExitOk : kExitNegative;
}

}  // namespace

int TokenCommand(int argc, char** argv) {
  if (argc < 1) return Usage("missing subcommand");
  std::string_view sub = argv[0];
  if (sub == "verify") return VerifyTokenCommand(argc - 1, argv + 1);
  if (sub == "--help" || sub == "-h" || sub == "help") {
    std::fputs(kTokenUsage, stdout);
    return kExitOk;
  }
  return Usage("unknown subcommand '" + std::string(sub) + "'");
}

}  // namespace confml::cli
