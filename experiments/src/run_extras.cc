#include "run_extras.h"

#include <hdf5.h>

#include <filesystem>
#include <mutex>

#include "confml/core/file_util.h"
#include "h5_util.h"

namespace confml::experiments {
namespace {

using H5 = internal::H5Handle;
using internal::Hdf5Mutex;

Status Fail(const std::string& what) { return UnavailableError("HDF5: cannot write " + what); }

using internal::WriteH5Strings;

StatusOr<std::vector<std::string>> ReadStrings(hid_t loc, const std::string& name,
                                               const std::string& path) {
  H5 ds(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.ok()) return DataLossError(path + ": no dataset '" + name + "'");
  H5 space(H5Dget_space(ds.get()), H5Sclose);
  hsize_t n = 0;
  if (H5Sget_simple_extent_ndims(space.get()) != 1 ||
      H5Sget_simple_extent_dims(space.get(), &n, nullptr) < 0) {
    return DataLossError(path + ": '" + name + "' is not a list of strings");
  }
  H5 type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  std::vector<char*> ptrs(n, nullptr);
  if (n > 0 && H5Dread(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0) {
    return DataLossError(path + ": cannot read '" + name + "'");
  }
  std::vector<std::string> out;
  for (char* p : ptrs) out.emplace_back(p ? p : "");
  if (n > 0) H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, ptrs.data());
  return out;
}

Status WriteArray(hid_t loc, const std::string& name, hid_t type, const std::vector<hsize_t>& dims,
                  const void* data) {
  H5 space(dims.empty() ? H5Screate(H5S_SCALAR)
                        : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
           H5Sclose);
  H5 ds(H5Dcreate2(loc, name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
        H5Dclose);
  if (!ds.ok() || H5Dwrite(ds.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
    return Fail(name);
  }
  return OkStatus();
}

Status WriteStringAttr(hid_t loc, const std::string& name, const std::string& value) {
  H5 type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5 space(H5Screate(H5S_SCALAR), H5Sclose);
  H5 attr(H5Acreate2(loc, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
          H5Aclose);
  const char* p = value.c_str();
  if (!attr.ok() || H5Awrite(attr.get(), type.get(), &p) < 0) return Fail("attribute " + name);
  return OkStatus();
}

}  // namespace

Status WriteRunExtras(const std::string& path, const RunExtras& x) {
  std::lock_guard<std::mutex> lock(Hdf5Mutex());
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const std::string tmp = TempPathFor(path);
  {
    H5 file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    if (!file.ok()) return UnavailableError("HDF5: cannot create " + tmp);
    H5 metrics(H5Gcreate2(file.get(), "metrics", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    if (!metrics.ok()) return Fail("group metrics");
    for (const auto& [name, value] : x.metrics) {
      CONFML_RETURN_IF_ERROR(WriteArray(metrics.get(), name, H5T_NATIVE_DOUBLE, {}, &value));
    }
    H5 adm(H5Gcreate2(file.get(), "admissions", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    if (!adm.ok()) return Fail("group admissions");
    std::vector<std::string> relying, attester, role, failed, detail;
    std::vector<int64_t> admitted;
    for (const AdmissionRecord& r : x.admissions) {
      relying.push_back(r.relying);
      attester.push_back(r.attester);
      role.push_back(r.expected_role);
      failed.push_back(r.failed_checks);
      detail.push_back(r.detail);
      admitted.push_back(r.admitted ? 1 : 0);
    }
    CONFML_RETURN_IF_ERROR(WriteH5Strings(adm.get(), "relying", relying));
    CONFML_RETURN_IF_ERROR(WriteH5Strings(adm.get(), "attester", attester));
    CONFML_RETURN_IF_ERROR(WriteH5Strings(adm.get(), "expected_role", role));
    CONFML_RETURN_IF_ERROR(WriteH5Strings(adm.get(), "failed_checks", failed));
    CONFML_RETURN_IF_ERROR(WriteH5Strings(adm.get(), "detail", detail));
    const hsize_t n = admitted.size();
    {
      H5 space(H5Screate_simple(1, &n, nullptr), H5Sclose);
      H5 ds(H5Dcreate2(adm.get(), "admitted", H5T_NATIVE_INT64, space.get(), H5P_DEFAULT,
                       H5P_DEFAULT, H5P_DEFAULT),
            H5Dclose);
      if (!ds.ok() || (n > 0 && H5Dwrite(ds.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL,
                                         H5P_DEFAULT, admitted.data()) < 0)) {
        return Fail("admissions/admitted");
      }
    }
    H5 arrays(H5Gcreate2(file.get(), "arrays", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    if (!arrays.ok()) return Fail("group arrays");
    for (const AttackArray& a : x.arrays) {
      size_t numel = 1;
      std::vector<hsize_t> dims;
      for (int64_t d : a.shape) {
        dims.push_back(static_cast<hsize_t>(d));
        numel *= static_cast<size_t>(d);
      }
      if (numel != a.values.size() || a.shape.empty()) {
        return InvalidArgumentError("array '" + a.name + "' has " +
                                    std::to_string(a.values.size()) +
                                    " values, not matching its shape");
      }
      CONFML_RETURN_IF_ERROR(
          WriteArray(arrays.get(), a.name, H5T_NATIVE_FLOAT, dims, a.values.data()));
    }
    CONFML_RETURN_IF_ERROR(WriteH5Strings(file.get(), "events", x.events));
    for (const auto& [k, v] : x.text) CONFML_RETURN_IF_ERROR(WriteStringAttr(file.get(), k, v));
    if (H5Fflush(file.get(), H5F_SCOPE_GLOBAL) < 0) return Fail(tmp);
  }
  return CommitTempFile(tmp, path);
}

StatusOr<RunExtras> ReadRunExtras(const std::string& path) {
  std::lock_guard<std::mutex> lock(Hdf5Mutex());
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  if (!std::filesystem::exists(path)) return NotFoundError("no results file " + path);
  H5 file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) return DataLossError(path + " is not a readable HDF5 file");
  RunExtras x;
  H5 metrics(H5Gopen2(file.get(), "metrics", H5P_DEFAULT), H5Gclose);
  if (!metrics.ok()) return DataLossError(path + ": no group 'metrics'");
  H5G_info_t info;
  if (H5Gget_info(metrics.get(), &info) < 0) return DataLossError(path + ": unreadable metrics");
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    char name[256];
    if (H5Lget_name_by_idx(metrics.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof(name),
                           H5P_DEFAULT) < 0) {
      return DataLossError(path + ": unreadable metric name");
    }
    H5 ds(H5Dopen2(metrics.get(), name, H5P_DEFAULT), H5Dclose);
    double v = 0;
    if (!ds.ok() || H5Dread(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) < 0) {
      return DataLossError(path + ": unreadable metric '" + name + "'");
    }
    x.metrics[name] = v;
  }
  H5 adm(H5Gopen2(file.get(), "admissions", H5P_DEFAULT), H5Gclose);
  if (!adm.ok()) return DataLossError(path + ": no group 'admissions'");
  CONFML_ASSIGN_OR_RETURN(auto relying, ReadStrings(adm.get(), "relying", path));
  CONFML_ASSIGN_OR_RETURN(auto attester, ReadStrings(adm.get(), "attester", path));
  CONFML_ASSIGN_OR_RETURN(auto role, ReadStrings(adm.get(), "expected_role", path));
  CONFML_ASSIGN_OR_RETURN(auto failed, ReadStrings(adm.get(), "failed_checks", path));
  CONFML_ASSIGN_OR_RETURN(auto detail, ReadStrings(adm.get(), "detail", path));
  const size_t n = relying.size();
  if (attester.size() != n || role.size() != n || failed.size() != n || detail.size() != n) {
    return DataLossError(path + ": admissions columns of different lengths");
  }
  for (size_t i = 0; i < n; ++i) {
    x.admissions.push_back({relying[i], attester[i], role[i], failed[i].empty(), failed[i], detail[i]});
  }
  CONFML_ASSIGN_OR_RETURN(x.events, ReadStrings(file.get(), "events", path));
  return x;
}

}  // namespace confml::experiments
