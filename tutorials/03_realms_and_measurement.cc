// Tutorial 03: realms and measurement.
//
// On Arm CCA a party's code runs in a realm: a VM whose memory the host
// cannot read. When the host loads a realm, the Realm Management Monitor
// (RMM) hashes everything that defines it, the realm parameters and every
// loaded page, into the Realm Initial Measurement (RIM). The RIM is what
// attestation reports, so it is the realm's identity: change one byte of the
// code and it is another realm. This tutorial runs on the "sim" backend, a
// model of the RMM (docs/tee_sim.md).
//
// What you learn: creating a realm from image bytes, reading its RIM,
// computing the reference RIM a verifier expects, what changes the RIM and
// what does not, and the extensible measurements (REMs) a running realm adds.
#include <cstdio>
#include <string>
#include <vector>

#include "confml/core/tee_backend.h"
#include "confml/tee_sim/sim_backend.h"
#include "tutorial.h"

using namespace confml;
using namespace confml::tutorials;

namespace {

// A stand-in for a role's deployable image: its code modules and versions.
// In confml every module carries a code digest fixed at build time, so the
// image bytes, and hence the RIM, follow from what code the role runs.
Bytes ProgramImage(const std::string& modules) {
  std::string text = "confml program image v1\nmodules: " + modules + "\n";
  Bytes image(text.begin(), text.end());
  image.resize(3 * kTeeGranuleSize + 100, 0x5a);  // four 4 KiB granules, the last one padded
  return image;
}

}  // namespace

int main() {
  Banner("Tutorial 03: realms and measurement");
  Must(tee_sim::RegisterSimTeeBackend(), "registering the sim backend");
  std::unique_ptr<TeeBackend> tee = Must(NewTeeBackend("sim"), "creating the sim backend");
  TeeCapabilities caps = tee->capabilities();
  Say("Backend '" + std::string(tee->name()) + "'. What it offers:");
  for (const auto& [feature, cap] : caps.features) {
    std::printf("  %-20s %-3s %s\n", std::string(TeeFeatureName(feature)).c_str(),
                cap.supported ? "yes" : "no", cap.note.c_str());
  }

  Section("1. Load an image into a realm");
  Say("The host creates the realm, delegates one 4 KiB DATA granule per image page (measured), "
      "creates the RECs (virtual CPUs, measured) and activates it. After activation nothing can "
      "be added to the RIM.");
  const Bytes image = ProgramImage("device/train=1.0");
  RealmParams params;  // SHA-256, one REC, default RPV
  std::unique_ptr<TeeRealm> realm = Must(tee->CreateRealm(image, params), "creating the realm");
  const Bytes rim = Must(realm->ReadMeasurement(0), "reading the RIM");
  std::printf("  image %zu bytes, realm memory %zu bytes\n", image.size(), realm->memory_size());
  std::printf("  RIM  %s\n", ToHex(rim).c_str());

  Section("2. The verifier computes the same RIM without running anything");
  Say("The RIM depends only on the image and the parameters, so whoever writes the policy can "
      "compute it from the open-source image (Islet's measurement tool, `confml measure`).");
  const Bytes reference = Must(tee_sim::ComputeReferenceRim(image, params), "reference RIM");
  Expect(reference == rim, "the reference RIM equals the realm's RIM");

  Section("3. One changed byte is another realm");
  Bytes patched = image;
  patched[2 * kTeeGranuleSize + 7] ^= 0x01;
  auto patched_realm = Must(tee->CreateRealm(patched, params), "patched realm");
  const Bytes patched_rim = Must(patched_realm->ReadMeasurement(0), "patched RIM");
  std::printf("  one bit flipped in page 3: RIM %s\n", ShortHex(patched_rim).c_str());
  Expect(patched_rim != rim, "flipping one bit of the image changes the RIM");
  const Bytes attack = ProgramImage("device/train=1.0 attack/inference=0.3");
  const Bytes attack_rim =
      Must(tee->CreateRealm(attack, params), "attack realm")->ReadMeasurement(0).value();
  Expect(attack_rim != rim, "adding an attack module changes the RIM");

  Section("4. Parameters are measured too");
  RealmParams two_cpus = params;
  two_cpus.num_recs = 2;
  Expect(Must(tee_sim::ComputeReferenceRim(image, two_cpus), "2 RECs") != rim,
         "a second REC (vCPU) changes the RIM");
  RealmParams sha512 = params;
  sha512.hash_algorithm = RealmHashAlgorithm::kSha512;
  const Bytes rim512 = Must(tee_sim::ComputeReferenceRim(image, sha512), "SHA-512");
  Expect(rim512.size() == 64, "a SHA-512 realm has a 64-byte RIM");
  RealmParams personalized = params;
  personalized.rpv[0] = 0x42;
  Expect(Must(tee_sim::ComputeReferenceRim(image, personalized), "RPV") == rim,
         "the Realm Personalization Value is NOT in the RIM (it is reported separately)");

  Section("5. Extensible measurements");
  Say("A running realm can extend four REMs with whatever it loads later (a model file, a "
      "config): REM[i] = H(REM[i] || data). They start at zero and are reported next to the "
      "RIM, which never changes after activation.");
  const std::string model = "model weights v7";
  Must(realm->ExtendMeasurement(1, Bytes(model.begin(), model.end())), "extending REM 1");
  const Bytes rem1 = Must(realm->ReadMeasurement(1), "REM 1");
  std::printf("  REM1 %s\n", ShortHex(rem1).c_str());
  Expect(rem1 != Bytes(rem1.size(), 0), "REM 1 now records the model");
  Expect(Must(realm->ReadMeasurement(0), "RIM again") == rim, "the RIM did not change");
  Expect(!realm->ExtendMeasurement(0, Bytes{1}).ok(), "the RIM (index 0) cannot be extended");

  Section("What comes next");
  Say("A measurement is only useful if someone checks it. Tutorial 04 has the realm sign its "
      "measurements in an attestation token and a verifier compare them to a signed policy.");
  return 0;
}
