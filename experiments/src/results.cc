#include "confml/experiments/results.h"

#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>

#include "confml/core/file_util.h"
#include "h5_util.h"

namespace confml::experiments {
namespace {

using internal::Hdf5Mutex;

// HDF5 prints its error stack to stderr by default; confml reports errors as
// Status instead.
void SilenceHdf5() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

using Handle = internal::H5Handle;

constexpr const char* kDoubleColumns[] = {"train_loss", "train_accuracy", "test_loss",
                                          "test_accuracy", "seconds"};

double EpochRecord::*DoubleField(int i) {
  static constexpr double EpochRecord::*kFields[] = {
      &EpochRecord::train_loss, &EpochRecord::train_accuracy, &EpochRecord::test_loss,
      &EpochRecord::test_accuracy, &EpochRecord::seconds};
  return kFields[i];
}

Status WriteColumn(hid_t file, const char* name, hid_t type, const void* data, hsize_t n) {
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  if (!space.ok()) return InternalError(std::string("HDF5: cannot create dataspace for ") + name);
  Handle ds(H5Dcreate2(file, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
            H5Dclose);
  if (!ds.ok()) return InternalError(std::string("HDF5: cannot create dataset ") + name);
  if (n > 0 && H5Dwrite(ds.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
    return UnavailableError(std::string("HDF5: cannot write dataset ") + name);
  }
  return OkStatus();
}

Status WriteScalarAttr(hid_t file, const char* name, hid_t type, const void* data) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(H5Acreate2(file, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!attr.ok() || H5Awrite(attr.get(), type, data) < 0) {
    return InternalError(std::string("HDF5: cannot write attribute ") + name);
  }
  return OkStatus();
}

Status WriteStringAttr(hid_t file, const char* name, const std::string& value) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  // A fixed-size string: HDF5 does not accept size 0.
  H5Tset_size(type.get(), std::max<size_t>(1, value.size()));
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  std::string padded = value.empty() ? std::string(1, '\0') : value;
  return WriteScalarAttr(file, name, type.get(), padded.data());
}

Status WriteFile(const std::string& tmp, const RunResults& r) {
  Handle file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) return UnavailableError("HDF5: cannot create " + tmp);
  const hsize_t n = r.epochs.size();
  std::vector<int64_t> epoch(n);
  for (size_t i = 0; i < n; ++i) epoch[i] = r.epochs[i].epoch;
  CONFML_RETURN_IF_ERROR(WriteColumn(file.get(), "epoch", H5T_NATIVE_INT64, epoch.data(), n));
  for (int c = 0; c < 5; ++c) {
    std::vector<double> col(n);
    for (size_t i = 0; i < n; ++i) col[i] = r.epochs[i].*DoubleField(c);
    CONFML_RETURN_IF_ERROR(
        WriteColumn(file.get(), kDoubleColumns[c], H5T_NATIVE_DOUBLE, col.data(), n));
  }
  int64_t complete = r.complete ? 1 : 0;
  CONFML_RETURN_IF_ERROR(WriteStringAttr(file.get(), "name", r.name));
  CONFML_RETURN_IF_ERROR(WriteScalarAttr(file.get(), "seed", H5T_NATIVE_INT64, &r.seed));
  CONFML_RETURN_IF_ERROR(
      WriteScalarAttr(file.get(), "epochs_planned", H5T_NATIVE_INT64, &r.epochs_planned));
  CONFML_RETURN_IF_ERROR(WriteScalarAttr(file.get(), "complete", H5T_NATIVE_INT64, &complete));
  double final_acc = r.complete ? r.final_test_accuracy : std::numeric_limits<double>::quiet_NaN();
  CONFML_RETURN_IF_ERROR(
      WriteScalarAttr(file.get(), "final_test_accuracy", H5T_NATIVE_DOUBLE, &final_acc));
  CONFML_RETURN_IF_ERROR(WriteStringAttr(file.get(), "confml_version", r.confml_version));
  CONFML_RETURN_IF_ERROR(WriteStringAttr(file.get(), "config", r.config_yaml));
  if (H5Fflush(file.get(), H5F_SCOPE_GLOBAL) < 0)
    return UnavailableError("HDF5: cannot flush " + tmp);
  return OkStatus();
}

StatusOr<std::vector<char>> ReadColumnBytes(hid_t file, const char* name, hid_t type, size_t elem,
                                            hsize_t* n, const std::string& path) {
  Handle ds(H5Dopen2(file, name, H5P_DEFAULT), H5Dclose);
  if (!ds.ok()) return DataLossError(path + ": no dataset '" + name + "'");
  Handle space(H5Dget_space(ds.get()), H5Sclose);
  if (H5Sget_simple_extent_ndims(space.get()) != 1) {
    return DataLossError(path + ": dataset '" + name + "' is not one-dimensional");
  }
  H5Sget_simple_extent_dims(space.get(), n, nullptr);
  std::vector<char> buf(static_cast<size_t>(*n) * elem);
  if (*n > 0 && H5Dread(ds.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0) {
    return DataLossError(path + ": cannot read dataset '" + name + "'");
  }
  return buf;
}

Status ReadScalarAttr(hid_t file, const char* name, hid_t type, void* out,
                      const std::string& path) {
  Handle attr(H5Aopen(file, name, H5P_DEFAULT), H5Aclose);
  if (!attr.ok() || H5Aread(attr.get(), type, out) < 0) {
    return DataLossError(path + ": cannot read attribute '" + name + "'");
  }
  return OkStatus();
}

StatusOr<std::string> ReadStringAttr(hid_t file, const char* name, const std::string& path) {
  Handle attr(H5Aopen(file, name, H5P_DEFAULT), H5Aclose);
  if (!attr.ok()) return DataLossError(path + ": no attribute '" + name + "'");
  Handle type(H5Aget_type(attr.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_STRING || H5Tis_variable_str(type.get()) > 0) {
    return DataLossError(path + ": attribute '" + name + "' is not a fixed-size string");
  }
  std::string s(H5Tget_size(type.get()), '\0');
  if (H5Aread(attr.get(), type.get(), s.data()) < 0) {
    return DataLossError(path + ": cannot read attribute '" + name + "'");
  }
  s.resize(std::strlen(s.c_str()));
  return s;
}

}  // namespace

Status WriteResultsFile(const std::string& path, const RunResults& results) {
  std::lock_guard<std::mutex> lock(Hdf5Mutex());
  SilenceHdf5();
  const std::string tmp = TempPathFor(path);
  Status s = WriteFile(tmp, results);
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s.WithContext(path);
  }
  s = CommitTempFile(tmp, path);
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

StatusOr<RunResults> ReadResultsFile(const std::string& path) {
  std::lock_guard<std::mutex> lock(Hdf5Mutex());
  SilenceHdf5();
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return NotFoundError(path + ": no such results file");
  if (H5Fis_hdf5(path.c_str()) <= 0) return DataLossError(path + ": not an HDF5 file");
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) return DataLossError(path + ": cannot open as HDF5");
  RunResults r;
  hsize_t n = 0;
  CONFML_ASSIGN_OR_RETURN(
      std::vector<char> ep,
      ReadColumnBytes(file.get(), "epoch", H5T_NATIVE_INT64, sizeof(int64_t), &n, path));
  r.epochs.resize(n);
  for (size_t i = 0; i < n; ++i) {
    std::memcpy(&r.epochs[i].epoch, ep.data() + i * sizeof(int64_t), sizeof(int64_t));
  }
  for (int c = 0; c < 5; ++c) {
    hsize_t m = 0;
    CONFML_ASSIGN_OR_RETURN(std::vector<char> col,
                            ReadColumnBytes(file.get(), kDoubleColumns[c], H5T_NATIVE_DOUBLE,
                                            sizeof(double), &m, path));
    if (m != n) {
      return DataLossError(path + ": dataset '" + kDoubleColumns[c] + "' has " + std::to_string(m) +
                           " elements, 'epoch' has " + std::to_string(n));
    }
    for (size_t i = 0; i < n; ++i) {
      std::memcpy(&(r.epochs[i].*DoubleField(c)), col.data() + i * sizeof(double), sizeof(double));
    }
  }
  int64_t complete = 0;
  CONFML_ASSIGN_OR_RETURN(r.name, ReadStringAttr(file.get(), "name", path));
  CONFML_RETURN_IF_ERROR(ReadScalarAttr(file.get(), "seed", H5T_NATIVE_INT64, &r.seed, path));
  CONFML_RETURN_IF_ERROR(
      ReadScalarAttr(file.get(), "epochs_planned", H5T_NATIVE_INT64, &r.epochs_planned, path));
  CONFML_RETURN_IF_ERROR(ReadScalarAttr(file.get(), "complete", H5T_NATIVE_INT64, &complete, path));
  r.complete = complete != 0;
  CONFML_RETURN_IF_ERROR(ReadScalarAttr(file.get(), "final_test_accuracy", H5T_NATIVE_DOUBLE,
                                        &r.final_test_accuracy, path));
  CONFML_ASSIGN_OR_RETURN(r.confml_version, ReadStringAttr(file.get(), "confml_version", path));
  CONFML_ASSIGN_OR_RETURN(r.config_yaml, ReadStringAttr(file.get(), "config", path));
  return r;
}

}  // namespace confml::experiments
