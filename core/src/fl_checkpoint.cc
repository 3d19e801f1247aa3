// The federated engine's checkpoint encoding.
#include "confml/core/fl_checkpoint.h"

#include <cstring>
#include <string>
#include <vector>

#include "confml/core/file_util.h"

namespace confml {

namespace {

class Writer {
 public:
  template <typename T>
  void Put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    out_.insert(out_.end(), p, p + sizeof(T));
  }
  void PutBytes(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    out_.insert(out_.end(), p, p + n);
  }
  std::vector<uint8_t>& bytes() { return out_; }

 private:
  std::vector<uint8_t> out_;
};

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  template <typename T>
  bool Get(T* v) {
    if (static_cast<size_t>(end_ - p_) < sizeof(T)) return false;
    std::memcpy(v, p_, sizeof(T));
    p_ += sizeof(T);
    return true;
  }
  bool GetBytes(void* dst, size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) return false;
    std::memcpy(dst, p_, n);
    p_ += n;
    return true;
  }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

constexpr size_t kHeaderSize = sizeof(kFlCheckpointMagic) + sizeof(uint32_t) + sizeof(uint64_t);
// Version 2 has no clients_dropped; its files still resume (as 0 dropouts).
constexpr uint32_t kFlCheckpointVersionWithoutDropouts = 2;
size_t MetricBytes(uint32_t version) {
  return (version == kFlCheckpointVersionWithoutDropouts ? 7 : 8) * sizeof(int64_t) +
         5 * sizeof(double);
}

}  // namespace

uint64_t Fnv1a64(const void* data, size_t size, uint64_t h) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

std::vector<uint8_t> EncodeFlCheckpoint(const FlCheckpoint& c) {
  Writer payload;
  payload.Put<uint64_t>(c.config_hash);
  payload.Put<uint64_t>(c.seed);
  payload.Put<int64_t>(c.round);
  payload.Put<uint64_t>(c.global.size());
  payload.PutBytes(c.global.data(), c.global.size() * sizeof(float));
  payload.Put<uint64_t>(c.metrics.size());
  for (const RoundMetrics& m : c.metrics) {
    payload.Put<int64_t>(m.round);
    payload.Put<int64_t>(m.clients_sampled);
    payload.Put<int64_t>(m.clients_admitted);
    payload.Put<int64_t>(m.clients_refused);
    payload.Put<int64_t>(m.updates_rejected);
    payload.Put<int64_t>(m.bytes_down);
    payload.Put<int64_t>(m.bytes_up);
    payload.Put<double>(m.test_accuracy);
    payload.Put<double>(m.test_loss);
    payload.Put<double>(m.mean_train_loss);
    payload.Put<double>(m.seconds);
    payload.Put<double>(m.train_seconds);
    payload.Put<int64_t>(m.clients_dropped);
  }
  payload.Put<uint64_t>(c.aggregator_state.size());
  payload.PutBytes(c.aggregator_state.data(), c.aggregator_state.size());

  Writer file;
  file.PutBytes(kFlCheckpointMagic, sizeof(kFlCheckpointMagic));
  file.Put<uint32_t>(kFlCheckpointVersion);
  file.Put<uint64_t>(payload.bytes().size());
  file.PutBytes(payload.bytes().data(), payload.bytes().size());
  file.Put<uint64_t>(Fnv1a64(payload.bytes().data(), payload.bytes().size()));
  return std::move(file.bytes());
}

StatusOr<FlCheckpoint> DecodeFlCheckpoint(const std::vector<uint8_t>& bytes,
                                          const std::string& what) {
  if (bytes.size() < kHeaderSize ||
      std::memcmp(bytes.data(), kFlCheckpointMagic, sizeof(kFlCheckpointMagic)) != 0) {
    return DataLossError(what + " is not a confml federated checkpoint (bad magic or too short: " +
                         std::to_string(bytes.size()) + " bytes)");
  }
  Reader header(bytes.data() + sizeof(kFlCheckpointMagic),
                bytes.size() - sizeof(kFlCheckpointMagic));
  uint32_t version = 0;
  uint64_t payload_size = 0;
  header.Get(&version);
  header.Get(&payload_size);
  if (version != kFlCheckpointVersion && version != kFlCheckpointVersionWithoutDropouts) {
    return FailedPreconditionError(what + " has format version " + std::to_string(version) +
                                   "; this build reads versions " +
                                   std::to_string(kFlCheckpointVersionWithoutDropouts) + " and " +
                                   std::to_string(kFlCheckpointVersion));
  }
  if (payload_size > bytes.size() ||
      bytes.size() - kHeaderSize != payload_size + sizeof(uint64_t)) {
    return DataLossError(what + " is truncated or padded: header says " +
                         std::to_string(payload_size) + " payload bytes, file has " +
                         std::to_string(bytes.size()) + " bytes in all");
  }
  const uint8_t* payload = bytes.data() + kHeaderSize;
  uint64_t stored_sum = 0;
  std::memcpy(&stored_sum, payload + payload_size, sizeof(stored_sum));
  if (Fnv1a64(payload, payload_size) != stored_sum) {
    return DataLossError(what + " is corrupt: payload checksum mismatch");
  }

  Reader r(payload, payload_size);
  FlCheckpoint c;
  const Status truncated = DataLossError(what + " payload ends early");
  uint64_t n = 0;
  if (!r.Get(&c.config_hash) || !r.Get(&c.seed) || !r.Get(&c.round) || !r.Get(&n)) return truncated;
  if (n > r.remaining() / sizeof(float)) return truncated;
  c.global.resize(n);
  if (!r.GetBytes(c.global.data(), n * sizeof(float))) return truncated;
  if (!r.Get(&n) || n > r.remaining() / MetricBytes(version)) return truncated;
  c.metrics.resize(n);
  for (RoundMetrics& m : c.metrics) {
    bool ok = r.Get(&m.round) && r.Get(&m.clients_sampled) && r.Get(&m.clients_admitted) &&
              r.Get(&m.clients_refused) && r.Get(&m.updates_rejected) && r.Get(&m.bytes_down) &&
              r.Get(&m.bytes_up) && r.Get(&m.test_accuracy) && r.Get(&m.test_loss) &&
              r.Get(&m.mean_train_loss) && r.Get(&m.seconds) && r.Get(&m.train_seconds) &&
              (version == kFlCheckpointVersionWithoutDropouts || r.Get(&m.clients_dropped));
    if (!ok) return truncated;
  }
  if (!r.Get(&n) || n > r.remaining()) return truncated;
  c.aggregator_state.resize(n);
  if (!r.GetBytes(c.aggregator_state.data(), n)) return truncated;
  if (r.remaining() != 0) {
    return DataLossError(what + " has " + std::to_string(r.remaining()) +
                         " unexpected bytes after its payload");
  }
  if (c.round < 0) return DataLossError(what + " has a negative round " + std::to_string(c.round));
  return c;
}

Status WriteFlCheckpoint(const std::string& path, const FlCheckpoint& checkpoint) {
  return WriteFileAtomically(path, EncodeFlCheckpoint(checkpoint));
}

StatusOr<FlCheckpoint> ReadFlCheckpoint(const std::string& path) {
  CONFML_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadFileBytes(path));
  return DecodeFlCheckpoint(bytes, "checkpoint '" + path + "'");
}

}  // namespace confml
