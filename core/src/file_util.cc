#include "confml/core/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace confml {
namespace {

Status ErrnoStatus(const std::string& what, const std::string& path, int err) {
  std::string msg = what + " '" + path + "': " + std::strerror(err);
  if (err == ENOENT || err == ENOTDIR) return NotFoundError(msg);
  if (err == EACCES || err == EPERM) return PermissionDeniedError(msg);
  if (err == ENOSPC) return ResourceExhaustedError(msg);
  return UnavailableError(msg);
}

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status WriteAll(const std::string& path, const char* data, size_t size) {
  const std::string tmp = TempPathFor(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("cannot create", tmp, errno);
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return ErrnoStatus("cannot write", tmp, err);
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus("cannot close", tmp, err);
  }
  return CommitTempFile(tmp, path);
}

// An ifstream opens a directory without complaint and then either throws on
// the first read (istreambuf_iterator) or reads nothing, so a directory given
// where a file belongs must be refused by name before opening it.
Status CheckNotDirectory(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return InvalidArgumentError("'" + path + "' is a directory, not a file");
  }
  return OkStatus();
}

}  // namespace

StatusOr<std::vector<uint8_t>> ReadFileBytes(const std::string& path) {
  CONFML_RETURN_IF_ERROR(CheckNotDirectory(path));
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoStatus("cannot open", path, errno ? errno : ENOENT);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return UnavailableError("cannot read '" + path + "'");
  return bytes;
}

StatusOr<std::string> ReadFileText(const std::string& path) {
  CONFML_RETURN_IF_ERROR(CheckNotDirectory(path));
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoStatus("cannot open", path, errno ? errno : ENOENT);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return UnavailableError("cannot read '" + path + "'");
  return ss.str();
}

std::string TempPathFor(const std::string& path) {
  return path + ".tmp." + std::to_string(::getpid());
}

Status CommitTempFile(const std::string& temp_path, const std::string& path) {
  int fd = ::open(temp_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open", temp_path, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) {
    ::unlink(temp_path.c_str());
    return ErrnoStatus("cannot sync", temp_path, err);
  }
  if (std::rename(temp_path.c_str(), path.c_str()) != 0) {
    err = errno;
    ::unlink(temp_path.c_str());
    return ErrnoStatus("cannot rename to", path, err);
  }
  // Make the rename itself durable.
  int dfd = ::open(DirName(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return OkStatus();
}

Status WriteFileAtomically(const std::string& path, std::string_view contents) {
  return WriteAll(path, contents.data(), contents.size());
}

Status WriteFileAtomically(const std::string& path, const std::vector<uint8_t>& contents) {
  return WriteAll(path, reinterpret_cast<const char*>(contents.data()), contents.size());
}

}  // namespace confml
