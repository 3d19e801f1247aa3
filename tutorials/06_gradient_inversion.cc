// Tutorial 06: gradient inversion.
//
// Federated learning keeps the images on the devices, but the update a device
// sends is a function of its images. Deep Leakage from Gradients (DLG, Zhu et
// al. 2019) starts from random "dummy" images and labels and optimises them
// until their gradient matches the observed one; on a small network and a
// batch of one image it recovers the image almost exactly.
//
// What you learn: who can run this attack (the runtime that receives the
// updates, a host on the path that reads them in the clear), how the testbed
// scores it (PSNR of the best-matching reconstruction against the victim's
// true image, next to the blind guess: the PSNR of the mean test image), and
// what the realms plus an attestation policy change: the attack code is part
// of the runtime's Program, the devices' policy does not list it, so they
// refuse to send anything and the attacker is left with its blind guess.
//
//   06_gradient_inversion [CONFIG.yaml] [key.sub=value ...]
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "confml/experiments/config.h"
#include "confml/experiments/runner.h"
#include "tutorial.h"

using namespace confml;
using namespace confml::tutorials;

namespace {

std::string g_path = CONFML_TUTORIAL_DIR "/06_gradient_inversion.yaml";
std::vector<std::string> g_overrides;

experiments::RunResult Run(const std::string& what, const std::vector<std::string>& extra) {
  experiments::RunResult r = RunQuietly(g_path, g_overrides, extra, what);
  std::printf("  %-34s received input: %-3s  PSNR %6.2f dB  (blind guess %5.2f dB)\n", what.c_str(),
              r.outcome["attack.received_input"] > 0 ? "yes" : "no", r.outcome["attack.success"],
              r.outcome["attack.blind_guess"]);
  return r;
}

int64_t Refused(const experiments::RunResult& r) {
  int64_t n = 0;
  for (const auto& a : r.admissions) n += a.admitted ? 0 : 1;
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  ParseConfigArgs(argc, argv, &g_path, &g_overrides);

  Banner("Tutorial 06: gradient inversion");
  Say("Each device holds one Fashion-MNIST image and takes one SGD step, so its update is "
      "-lr times the gradient of the loss on that image. DLG optimises a dummy image and a "
      "soft label with L-BFGS until the dummy's gradient matches the update. The score is the "
      "PSNR between the reconstruction and the victim's true image (higher is better for the "
      "attacker); the blind guess is what an attacker who received nothing would submit: the "
      "mean test image.");

  Section("1. The runtime inverts the updates it receives (no TEE)");
  experiments::RunResult plain = Run("runtime, no TEE", {});
  const double gain = plain.outcome["attack.success"] - plain.outcome["attack.blind_guess"];
  Expect(plain.outcome["attack.received_input"] > 0, "the runtime received the victims' updates");
  Expect(gain > 5.0, "the reconstructions beat the blind guess by more than 5 dB (by " +
                         std::to_string(gain) + " dB)");
  Say("More iterations bring the reconstruction closer: try attack.iterations=300 (the DLG "
      "paper's setting) and watch the PSNR grow.");

  Section("2. A host on the path reads the same updates in the clear");
  experiments::RunResult host = Run("host on the path, no TEE", {"attack.position=host"});
  Expect(host.outcome["attack.received_input"] > 0,
         "without an attested channel the host sees the plaintext updates");
  Expect(host.outcome["attack.success"] > host.outcome["attack.blind_guess"] + 5.0,
         "and inverts them as well as the runtime does");

  Section("3. Realms and an attestation policy");
  Say("Now every party runs in a realm (backend sim) and each device checks the runtime's "
      "attestation token against a signed policy that lists the audited runtime Program. The "
      "DLG module is code in the runtime's Program, so the runtime's RIM is not the audited "
      "one: every device refuses to send its update.");
  experiments::RunResult guarded =
      Run("runtime, realms + policy", {"tee.name=sim", "attestation.mode=policy"});
  Expect(guarded.outcome["attack.received_input"] == 0, "the attacker received no update");
  Expect(Refused(guarded) > 0,
         "the devices refused the runtime (" + std::to_string(Refused(guarded)) + " refusals)");
  Expect(
      std::fabs(guarded.outcome["attack.success"] - guarded.outcome["attack.blind_guess"]) < 1e-9,
      "the attacker's score is exactly its blind guess");

  Section("4. The host, when the runtime is honest");
  Say("With an honest runtime the devices admit it and send their updates over a channel "
      "keyed by the attestation (ECDH bound to the token), so the host on the path sees only "
      "ciphertext.");
  experiments::RunResult channel =
      Run("host on the path, realms + policy",
          {"tee.name=sim", "attestation.mode=policy", "attack.position=host"});
  Expect(channel.outcome["attack.received_input"] == 0, "the host received no plaintext update");

  Section("What to take away");
  Say("Federated learning alone does not keep training images private from whoever handles "
      "the updates. Realms keep the host out; attestation with a policy keeps attack code out "
      "of the runtime. `confml plot RUN_DIR` on a run folder of this config draws the "
      "originals beside the reconstructions (notebook 03 shows the figure).");
  return 0;
}
