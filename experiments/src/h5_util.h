// h5_util.h (private to confml::experiments): what every HDF5 writer and
// reader here shares.
#pragma once

#include <hdf5.h>

#include <mutex>
#include <string>
#include <vector>

#include "confml/core/status.h"

namespace confml::experiments::internal {

// Debian's HDF5 is built without thread safety: every use of the library in
// confml holds this one lock.
inline std::mutex& Hdf5Mutex() {
  static std::mutex mu;
  return mu;
}

// Closes an HDF5 handle when it goes out of scope.
class H5Handle {
 public:
  H5Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~H5Handle() {
    if (id_ >= 0) close_(id_);
  }
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

// Writes `values` as a 1-D dataset of variable-length strings.
inline Status WriteH5Strings(hid_t loc, const std::string& name,
                             const std::vector<std::string>& values) {
  H5Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  const hsize_t n = values.size();
  H5Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  H5Handle ds(H5Dcreate2(loc, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT),
              H5Dclose);
  std::vector<const char*> ptrs;
  for (const std::string& v : values) ptrs.push_back(v.c_str());
  if (!ds.ok() ||
      (n > 0 && H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0)) {
    return UnavailableError("HDF5: cannot write " + name);
  }
  return OkStatus();
}

}  // namespace confml::experiments::internal
