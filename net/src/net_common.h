// Private to confml::net: chunked model streams, protocol version checks,
// and a device's long poll of the runtime.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "confml/core/status.h"
#include "net_internal.h"

namespace confml::net::internal {

// Largest chunk a stream may carry, whatever the sender chose.
inline constexpr size_t kMaxChunkBytes = 1 << 20;

inline Status CheckProtocolVersion(const confml::v1::Header& h, const std::string& rpc) {
  if (h.protocol_version() == kProtocolVersion) return OkStatus();
  return FailedPreconditionError(rpc + ": protocol version " +
                                 std::to_string(h.protocol_version()) + ", this build speaks " +
                                 std::to_string(kProtocolVersion));
}

struct ReceivedModel {
  int64_t round = 0;
  bool final = false;
  uint64_t bytes = 0;
  int64_t chunks = 0;
  std::vector<float> values;
  // The first chunk without its data: the tasks, the client result or the
  // config digest travel there.
  confml::v1::ModelChunk meta;
};

// Reads a chunked model stream: the first chunk's header and declared size
// are checked before anything is buffered, every chunk is bounded, and the
// chunks must add up to exactly the declared size.
template <typename Reader>
StatusOr<ReceivedModel> ReceiveModel(Reader* reader, int64_t max_bytes, const std::string& what) {
  ReceivedModel out;
  confml::v1::ModelChunk chunk;
  if (!reader->Read(&chunk)) return InvalidArgumentError(what + ": empty stream");
  CONFML_RETURN_IF_ERROR(CheckProtocolVersion(chunk.header(), what));
  const uint64_t declared = chunk.total_bytes();
  if (declared > static_cast<uint64_t>(max_bytes)) {
    return ResourceExhaustedError(what + ": declares " + std::to_string(declared) +
                                  " bytes, the limit is " + std::to_string(max_bytes));
  }
  if (declared == 0 || declared % sizeof(float) != 0) {
    return InvalidArgumentError(what + ": declares " + std::to_string(declared) +
                                " bytes, not a positive number of float32 values");
  }
  out.round = chunk.round();
  out.final = chunk.final();
  out.meta = chunk;
  out.meta.clear_data();
  std::string data;
  data.reserve(declared);
  do {
    if (chunk.data().size() > kMaxChunkBytes) {
      return ResourceExhaustedError(what + ": a chunk of " + std::to_string(chunk.data().size()) +
                                    " bytes exceeds the chunk limit " +
                                    std::to_string(kMaxChunkBytes));
    }
    if (data.size() + chunk.data().size() > declared) {
      return InvalidArgumentError(what + ": more bytes than the " + std::to_string(declared) +
                                  " declared");
    }
    data += chunk.data();
    ++out.chunks;
  } while (reader->Read(&chunk));
  if (data.size() != declared) {
    return InvalidArgumentError(what + ": " + std::to_string(data.size()) + " bytes of the " +
                                std::to_string(declared) + " declared arrived");
  }
  out.bytes = data.size();
  out.values.resize(data.size() / sizeof(float));
  std::memcpy(out.values.data(), data.data(), data.size());
  return out;
}

// Streams `values` in chunks of `chunk_bytes`; the first chunk carries the
// header and metadata (and `meta`'s fields, when given).
template <typename Writer>
Status SendModel(Writer* writer, const std::vector<float>& values, int64_t round, bool final,
                 int64_t chunk_bytes, const confml::v1::ModelChunk* meta = nullptr) {
  const size_t total = values.size() * sizeof(float);
  const size_t step =
      static_cast<size_t>(std::max<int64_t>(1, std::min<int64_t>(chunk_bytes, kMaxChunkBytes)));
  const char* p = reinterpret_cast<const char*>(values.data());
  size_t at = 0;
  do {
    confml::v1::ModelChunk chunk;
    if (at == 0) {
      if (meta != nullptr) chunk.MergeFrom(*meta);
      chunk.mutable_header()->set_protocol_version(kProtocolVersion);
      chunk.set_round(round);
      chunk.set_final(final);
      chunk.set_total_bytes(total);
    }
    const size_t n = std::min(step, total - at);
    chunk.set_data(std::string(p + at, n));
    at += n;
    if (!writer->Write(chunk))
      return UnavailableError("the stream closed after " + std::to_string(at - n) + " bytes");
  } while (at < total);
  return OkStatus();
}

// A device's long poll of the runtime: `open(&ctx)` starts the
// server-streaming call (GetWork) and one chunked model is read from it. An unreachable runtime
// (not up yet, or being restarted) is retried until *reachable_until; once it answered, a later
// outage may last `reconnect_seconds`. `what` names the model in errors, `runtime` the peer.
template <typename Open>
StatusOr<ReceivedModel> FetchFromRuntime(const Open& open, int64_t max_bytes,
                                         const std::string& what, const std::string& runtime,
                                         double reconnect_seconds,
                                         std::chrono::steady_clock::time_point* reachable_until,
                                         Logger& log, const std::atomic<bool>* stop) {
  using Clock = std::chrono::steady_clock;
  while (true) {
    if (Stopped(stop)) return CancelledError("device stopped");
    grpc::ClientContext ctx;
    // Long enough to wait out the other devices' training, never past the
    // moment this device gives up on an unreachable (or refusing) runtime.
    const double left = std::chrono::duration<double>(*reachable_until - Clock::now()).count();
    ctx.set_deadline(In(std::max(0.5, std::min(reconnect_seconds, left))));
    ctx.set_wait_for_ready(true);
    auto reader = open(&ctx);
    StatusOr<ReceivedModel> got = ReceiveModel(reader.get(), max_bytes, what);
    const grpc::Status fin = reader->Finish();
    if (fin.ok() && got.ok()) {
      *reachable_until =
          Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(reconnect_seconds * 1000));
      return got;
    }
    if (Retryable(fin) && Clock::now() < *reachable_until) {
      log.Line("runtime unreachable (" + fin.error_message() + "); retrying");
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    Status why = !fin.ok() ? FromGrpc(fin, "getting " + what + " from the runtime at " + runtime)
                           : got.status();
    log.Line("giving up: " + why.ToString());
    return why;
  }
}

}  // namespace confml::net::internal
