// Tutorial 05: sealing.
//
// A realm often needs to keep a secret across restarts (a model it received
// after attestation, a device's training data) on storage the host controls.
// Sealing encrypts it under a key the platform derives from its hardware key
// and the realm's identity (RIM, RPV, seal policy flags), with authenticated
// encryption: the host sees ciphertext, and another realm, even on the same
// platform, derives another key and cannot open it.
//
// What you learn: seal and unseal, who can and cannot unseal, tamper
// detection, and that the host cannot simply read the secret from realm
// memory instead.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "confml/core/tee_backend.h"
#include "confml/tee_sim/sim_backend.h"
#include "tutorial.h"

using namespace confml;
using namespace confml::tutorials;

namespace {

Bytes ProgramImage(const std::string& modules) {
  std::string text = "confml program image v1\nmodules: " + modules + "\n";
  Bytes image(text.begin(), text.end());
  image.resize(kTeeGranuleSize, 0x5a);
  return image;
}

}  // namespace

int main() {
  Banner("Tutorial 05: sealing");
  Must(tee_sim::RegisterSimTeeBackend(), "registering the sim backend");
  std::unique_ptr<TeeBackend> tee = Must(NewTeeBackend("sim"), "sim backend");
  const Bytes image = ProgramImage("model-provider/serve=1.0");
  RealmParams params;
  const std::string secret_text = "the provider's model weights";
  const Bytes secret(secret_text.begin(), secret_text.end());

  Section("1. Seal inside the realm");
  auto realm = Must(tee->CreateRealm(image, params), "realm");
  const Bytes blob = Must(realm->Seal(secret), "sealing");
  std::printf("  %zu plaintext bytes -> %zu sealed bytes: %s\n", secret.size(), blob.size(),
              ShortHex(blob).c_str());
  Expect(std::search(blob.begin(), blob.end(), secret.begin(), secret.end()) == blob.end(),
         "the plaintext does not appear in the sealed blob");
  Expect(Must(realm->Unseal(blob), "unsealing") == secret, "the realm unseals its own blob");

  Section("2. The same code after a restart");
  Say("A new realm from the same image with the same parameters has the same RIM, so it "
      "derives the same sealing key: the secret survives a restart of the honest code.");
  realm.reset();
  auto restarted = Must(tee->CreateRealm(image, params), "restarted realm");
  Expect(Must(restarted->Unseal(blob), "unsealing after restart") == secret,
         "a restarted realm with the same RIM unseals");

  Section("3. Anyone else");
  auto other =
      Must(tee->CreateRealm(ProgramImage("model-provider/serve=1.0 attack/leak=0.1"), params),
           "other realm");
  StatusOr<Bytes> by_other = other->Unseal(blob);
  std::printf("  a realm with attack code: %s\n", by_other.status().ToString().c_str());
  Expect(!by_other.ok() && by_other.status().code() == StatusCode::kDataLoss,
         "a realm with another RIM cannot unseal (DataLoss)");
  RealmParams personalized = params;
  personalized.rpv[0] = 1;
  auto other_rpv = Must(tee->CreateRealm(image, personalized), "realm with another RPV");
  Expect(!other_rpv->Unseal(blob).ok(), "the same image with another RPV cannot unseal");
  tee_sim::SimOptions elsewhere;
  elsewhere.rmm.platform_seed = Bytes(32, 0x33);
  auto other_tee = Must(tee_sim::NewSimTeeBackend(elsewhere), "another platform");
  {
    auto copy = Must(other_tee->CreateRealm(image, params), "same image, other platform");
    Expect(!copy->Unseal(blob).ok(), "the same image on another platform cannot unseal");
  }
  Bytes tampered = blob;
  tampered.back() ^= 0x01;
  StatusOr<Bytes> t = restarted->Unseal(tampered);
  Expect(!t.ok() && t.status().code() == StatusCode::kDataLoss,
         "one flipped bit is detected (authenticated encryption)");

  Section("4. The host reads memory instead");
  Say("If the host cannot open the blob, could it read the secret from the realm's memory "
      "while the realm uses it? The realm writes it to its private memory, then the host "
      "tries to read the same address.");
  const uint64_t ipa = params.load_ipa + restarted->memory_size() - kTeeGranuleSize;
  Must(restarted->Run([&](RealmContext& ctx) { return ctx.WriteMemory(ipa, secret); }),
       "realm write");
  StatusOr<Bytes> host = restarted->HostRead(ipa, secret.size());
  std::printf("  host read: %s\n", host.status().ToString().c_str());
  Expect(!host.ok() && host.status().code() == StatusCode::kPermissionDenied,
         "the host's read faults (PermissionDenied), as a granule protection fault would");
  auto plain = Must(NewTeeBackend("none"), "backend none");
  auto exposed = Must(plain->CreateRealm(image, params), "plain process");
  Must(exposed->Run([&](RealmContext& ctx) { return ctx.WriteMemory(ipa, secret); }), "write");
  Expect(Must(exposed->HostRead(ipa, secret.size()), "host read on none") == secret,
         "without a TEE (backend none) the host reads the secret");
  Say("Sealing and isolation protect data at rest and in use; attestation (tutorial 04) decides "
      "who gets it in the first place.");
  return 0;
}
