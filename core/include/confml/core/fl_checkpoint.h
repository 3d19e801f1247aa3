// confml/core/fl_checkpoint.h: the federated engine's checkpoint file (no
// LibTorch).
//
//   FlCheckpoint c{.config_hash = h, .seed = 42, .round = 7, .global = state};
//   Status s = WriteFlCheckpoint("run/fl.ckpt", c);   // atomic
//   StatusOr<FlCheckpoint> back = ReadFlCheckpoint("run/fl.ckpt");
//
// Layout (little-endian, as written by the host; confml runs on x86-64 and
// aarch64, both little-endian):
//   magic "CONFMLFL" (8 bytes) | version u32 | payload size u64 | payload |
//   FNV-1a 64 of the payload u64
// payload: config_hash u64, seed u64, round i64, global (u64 count, floats),
//   metrics (u64 count, each 7 i64 + 5 f64 + 1 i64: round,
//   clients_sampled, clients_admitted, clients_refused, updates_rejected,
//   bytes_down, bytes_up, test_accuracy, test_loss, mean_train_loss, seconds,
//   train_seconds, clients_dropped),
//   aggregator state (u64 count, bytes).
// Version 2 files (no clients_dropped) are still read, with 0 dropouts.
// A file that is not a checkpoint, truncated or altered is DataLoss; an
// unknown version is FailedPrecondition.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "confml/core/fl_hooks.h"
#include "confml/core/status.h"

namespace confml {

inline constexpr char kFlCheckpointMagic[8] = {'C', 'O', 'N', 'F', 'M', 'L', 'F', 'L'};
inline constexpr uint32_t kFlCheckpointVersion = 3;

struct FlCheckpoint {
  uint64_t config_hash = 0;  // Of everything that shapes the trajectory (FederatedEngine).
  uint64_t seed = 0;
  int64_t round = 0;  // Rounds completed.
  std::vector<float> global;
  std::vector<RoundMetrics> metrics;
  std::vector<uint8_t> aggregator_state;
};

std::vector<uint8_t> EncodeFlCheckpoint(const FlCheckpoint& checkpoint);
StatusOr<FlCheckpoint> DecodeFlCheckpoint(const std::vector<uint8_t>& bytes,
                                          const std::string& what = "checkpoint");
// Writes through WriteFileAtomically. Unavailable / PermissionDenied on I/O.
Status WriteFlCheckpoint(const std::string& path, const FlCheckpoint& checkpoint);
// NotFound when absent, DataLoss / FailedPrecondition as above.
StatusOr<FlCheckpoint> ReadFlCheckpoint(const std::string& path);

// FNV-1a 64 over bytes, continuing from `h` (start with kFnvOffset). Used for
// the checksum and the engine's config hash.
inline constexpr uint64_t kFnvOffset = 14695981039346656037ULL;
uint64_t Fnv1a64(const void* data, size_t size, uint64_t h = kFnvOffset);

}  // namespace confml
