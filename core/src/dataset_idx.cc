// Fashion-MNIST: gzip-compressed IDX files (LeCun's MNIST format), as shipped
// by Debian's dataset-fashion-mnist.
//
// IDX layout: a big-endian 32-bit magic 0x0000TTNN (TT = element type, 0x08
// for unsigned bytes; NN = number of dimensions), NN big-endian 32-bit
// dimensions, then the elements. Every check below fails with DataLoss naming
// the file, because a corrupt download must never turn into a silently
// shorter training set.
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <string>

#include "confml/core/dataset.h"
#include "confml/core/file_util.h"

namespace confml {
namespace {

constexpr uint32_t kIdxUnsignedByte = 0x08;
constexpr uint32_t kIdxImagesMagic = 0x00000803;
constexpr uint32_t kIdxLabelsMagic = 0x00000801;
constexpr int32_t kFashionRows = 28;
constexpr int32_t kFashionCols = 28;
constexpr int64_t kFashionClasses = 10;

uint32_t ReadBigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string Hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", v);
  return buf;
}

bool IsGzip(const std::vector<uint8_t>& bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

// Inflates every gzip member of `in` (gzip allows concatenated members).
StatusOr<std::vector<uint8_t>> Gunzip(const std::vector<uint8_t>& in, const std::string& path) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) {  // 15-bit window, gzip wrapper only.
    return InternalError("cannot initialise zlib to read '" + path + "'");
  }
  std::vector<uint8_t> out;
  // The trailer's ISIZE (little-endian length mod 2^32) is a good first guess
  // of the size; the buffer still grows if it is wrong.
  size_t guess = in.size() * 4;
  if (in.size() >= 18) {
    const uint8_t* t = in.data() + in.size() - 4;
    guess =
        uint32_t{t[0]} | (uint32_t{t[1]} << 8) | (uint32_t{t[2]} << 16) | (uint32_t{t[3]} << 24);
  }
  // A corrupt trailer must not make us allocate gigabytes up front.
  guess = std::min<size_t>(guess, size_t{1} << 28);
  out.resize(std::max<size_t>(guess, 1024) + 1);  // +1: reach Z_STREAM_END without a resize.
  size_t produced = 0;
  if (in.size() > std::numeric_limits<uInt>::max()) {
    inflateEnd(&zs);
    return ResourceExhaustedError("'" + path + "' is too large to decompress in one piece");
  }
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  for (;;) {
    if (produced == out.size()) out.resize(out.size() * 2);
    const size_t room = std::min<size_t>(out.size() - produced, std::numeric_limits<uInt>::max());
    zs.next_out = out.data() + produced;
    zs.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    produced += room - zs.avail_out;
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0) break;
      if (zs.avail_in >= 2 && zs.next_in[0] == 0x1f && zs.next_in[1] == 0x8b) {
        inflateReset(&zs);  // Next gzip member.
        continue;
      }
      inflateEnd(&zs);
      return DataLossError("corrupt gzip file '" + path + "': " + std::to_string(zs.avail_in) +
                           " trailing bytes after the compressed data");
    }
    if (rc == Z_OK) continue;
    const std::string detail = zs.msg ? zs.msg : "";
    inflateEnd(&zs);
    if (rc == Z_BUF_ERROR) {
      return DataLossError("corrupt gzip file '" + path +
                           "': truncated (the compressed stream ends early)");
    }
    if (rc == Z_MEM_ERROR)
      return ResourceExhaustedError("out of memory decompressing '" + path + "'");
    return DataLossError("corrupt gzip file '" + path +
                         "': " + (detail.empty() ? "zlib error " + std::to_string(rc) : detail));
  }
  inflateEnd(&zs);
  out.resize(produced);
  return out;
}

}  // namespace

StatusOr<std::vector<uint8_t>> ReadGzipFile(const std::string& path) {
  CONFML_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadFileBytes(path));
  if (!IsGzip(bytes)) return bytes;  // A plain (already decompressed) file.
  return Gunzip(bytes, path);
}

StatusOr<IdxArray> DecodeIdx(const std::vector<uint8_t>& bytes, uint32_t expected_magic,
                             const std::string& what) {
  if ((expected_magic >> 16) != 0 || ((expected_magic >> 8) & 0xff) != kIdxUnsignedByte ||
      (expected_magic & 0xff) == 0) {
    return InvalidArgumentError("DecodeIdx: unsupported expected magic " + Hex32(expected_magic) +
                                " (only unsigned-byte IDX arrays are read)");
  }
  if (bytes.size() < 4) {
    return DataLossError("'" + what + "' is not an IDX file: " + std::to_string(bytes.size()) +
                         " bytes, shorter than the 4-byte magic");
  }
  const uint32_t magic = ReadBigEndian32(bytes.data());
  if (magic != expected_magic) {
    return DataLossError("'" + what + "' has IDX magic " + Hex32(magic) + ", expected " +
                         Hex32(expected_magic));
  }
  const size_t ndims = magic & 0xff;
  const size_t header = 4 + 4 * ndims;
  if (bytes.size() < header) {
    return DataLossError("'" + what + "' is truncated: " + std::to_string(bytes.size()) +
                         " bytes, shorter than its " + std::to_string(header) + "-byte IDX header");
  }
  IdxArray out;
  uint64_t count = 1;
  std::string shape;
  for (size_t i = 0; i < ndims; ++i) {
    const uint32_t raw = ReadBigEndian32(bytes.data() + 4 + 4 * i);
    const int32_t d = static_cast<int32_t>(raw);
    if (d <= 0) {
      return DataLossError("'" + what + "' has IDX dimension " + std::to_string(i) + " = " +
                           std::to_string(d) + " (must be positive)");
    }
    out.dims.push_back(d);
    shape += (i ? " x " : "") + std::to_string(d);
    count *= static_cast<uint64_t>(d);
    // Past this the product cannot match any file we could hold in memory.
    if (count > (uint64_t{1} << 40)) {
      std::string msg = "'" + what + "' declares an implausibly large IDX array (";
      msg += shape;
      msg += " ...)";
      return DataLossError(msg);
    }
  }
  const uint64_t payload = bytes.size() - header;
  if (payload != count) {
    return DataLossError("'" + what + "' has " + std::to_string(payload) +
                         " data bytes but its IDX dimensions " + shape + " need " +
                         std::to_string(count) +
                         (payload < count ? " (file truncated)" : " (trailing bytes)"));
  }
  out.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return out;
}

StatusOr<Dataset> LoadFashionMnist(const std::string& dir, Split split) {
  const std::string prefix = (split == Split::kTrain) ? "train" : "t10k";
  const std::string base = dir.empty() || dir.back() == '/' ? dir : dir + "/";
  const std::string images_path = base + prefix + "-images-idx3-ubyte.gz";
  const std::string labels_path = base + prefix + "-labels-idx1-ubyte.gz";

  CONFML_ASSIGN_OR_RETURN(std::vector<uint8_t> image_bytes, ReadGzipFile(images_path));
  CONFML_ASSIGN_OR_RETURN(IdxArray images, DecodeIdx(image_bytes, kIdxImagesMagic, images_path));
  image_bytes = {};  // Release ~47 MB before the float copy is made.
  CONFML_ASSIGN_OR_RETURN(std::vector<uint8_t> label_bytes, ReadGzipFile(labels_path));
  CONFML_ASSIGN_OR_RETURN(IdxArray labels, DecodeIdx(label_bytes, kIdxLabelsMagic, labels_path));

  if (images.dims[1] != kFashionRows || images.dims[2] != kFashionCols) {
    return DataLossError("'" + images_path + "' holds " + std::to_string(images.dims[1]) + " x " +
                         std::to_string(images.dims[2]) + " images, expected 28 x 28");
  }
  if (images.dims[0] != labels.dims[0]) {
    return DataLossError("'" + images_path + "' holds " + std::to_string(images.dims[0]) +
                         " images but '" + labels_path + "' holds " +
                         std::to_string(labels.dims[0]) + " labels");
  }
  Dataset ds;
  ds.name = "fashion_mnist";
  ds.sample_shape = {1, kFashionRows, kFashionCols};
  ds.num_classes = kFashionClasses;
  ds.labels.resize(labels.data.size());
  for (size_t i = 0; i < labels.data.size(); ++i) {
    if (labels.data[i] >= kFashionClasses) {
      return DataLossError("'" + labels_path + "': label " + std::to_string(labels.data[i]) +
                           " of sample " + std::to_string(i) + " is not a class in [0, 10)");
    }
    ds.labels[i] = labels.data[i];
  }
  ds.features.resize(images.data.size());
  for (size_t i = 0; i < images.data.size(); ++i) {
    ds.features[i] = static_cast<float>(images.data[i]) / 255.0f;
  }
  return ds;
}

}  // namespace confml
