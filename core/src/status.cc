#include "confml/core/status.h"

#include <cstdio>
#include <cstdlib>

namespace confml {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kCancelled: return "Cancelled";
    case StatusCode::kUnknown: return "Unknown";
    case StatusCode::kInvalidArgument: return "InvalidArgument";
    case StatusCode::kDeadlineExceeded: return "DeadlineExceeded";
    case StatusCode::kNotFound: return "NotFound";
    case StatusCode::kAlreadyExists: return "AlreadyExists";
    case StatusCode::kPermissionDenied: return "PermissionDenied";
    case StatusCode::kResourceExhausted: return "ResourceExhausted";
    case StatusCode::kFailedPrecondition: return "FailedPrecondition";
    case StatusCode::kAborted: return "Aborted";
    case StatusCode::kOutOfRange: return "OutOfRange";
    case StatusCode::kUnimplemented: return "Unimplemented";
    case StatusCode::kInternal: return "Internal";
    case StatusCode::kUnavailable: return "Unavailable";
    case StatusCode::kDataLoss: return "DataLoss";
    case StatusCode::kUnauthenticated: return "Unauthenticated";
  }
  return "Unknown";
}

Status::Status(StatusCode code, std::string message)
    : code_(code), message_(code == StatusCode::kOk ? std::string() : std::move(message)) {}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(StatusCodeName(code_));
  out += ": ";
  out += message_;
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string msg(context);
  msg += ": ";
  msg += message_;
  return Status(code_, std::move(msg));
}

#define CONFML_DEFINE_ERROR(Name, Code) \
  Status Name(std::string message) { return Status(StatusCode::Code, std::move(message)); }
CONFML_DEFINE_ERROR(CancelledError, kCancelled)
CONFML_DEFINE_ERROR(UnknownError, kUnknown)
CONFML_DEFINE_ERROR(InvalidArgumentError, kInvalidArgument)
CONFML_DEFINE_ERROR(NotFoundError, kNotFound)
CONFML_DEFINE_ERROR(AlreadyExistsError, kAlreadyExists)
CONFML_DEFINE_ERROR(PermissionDeniedError, kPermissionDenied)
CONFML_DEFINE_ERROR(ResourceExhaustedError, kResourceExhausted)
CONFML_DEFINE_ERROR(FailedPreconditionError, kFailedPrecondition)
CONFML_DEFINE_ERROR(AbortedError, kAborted)
CONFML_DEFINE_ERROR(OutOfRangeError, kOutOfRange)
CONFML_DEFINE_ERROR(UnimplementedError, kUnimplemented)
CONFML_DEFINE_ERROR(InternalError, kInternal)
CONFML_DEFINE_ERROR(UnavailableError, kUnavailable)
CONFML_DEFINE_ERROR(DataLossError, kDataLoss)
CONFML_DEFINE_ERROR(UnauthenticatedError, kUnauthenticated)
#undef CONFML_DEFINE_ERROR

std::ostream& operator<<(std::ostream& os, const Status& status) { return os << status.ToString(); }

namespace internal {
void DieBecause(const char* what, const Status& status) {
  std::fprintf(stderr, "confml: fatal: %s: %s\n", what, status.ToString().c_str());
  std::abort();
}
}  // namespace internal

}  // namespace confml
