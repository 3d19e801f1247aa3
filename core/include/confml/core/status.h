// confml/core/status.h: Status and StatusOr<T>, the error currency of confml.
//
// Everything that input, configuration or the environment can cause is
// reported as a Status with a canonical code, never as an exception. Code
// that calls into libraries that throw (LibTorch, yaml-cpp) catches at that
// boundary and converts.
//
//   StatusOr<Dataset> ds = LoadFashionMnist(dir, Split::kTrain);
//   if (!ds.ok()) return ds.status();
//   CONFML_ASSIGN_OR_RETURN(Dataset test, LoadFashionMnist(dir, Split::kTest));
//
// Status is cheap to copy when OK (no allocation). Thread-compatible.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace confml {

// Canonical codes, with the meaning Abseil and gRPC give them.
enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message);

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "InvalidArgument: message", or "OK".
  std::string ToString() const;

  // Returns a copy whose message is "context: message" (no-op when OK).
  Status WithContext(std::string_view context) const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }
Status CancelledError(std::string message);
Status UnknownError(std::string message);
Status InvalidArgumentError(std::string message);
Status NotFoundError(std::string message);
Status AlreadyExistsError(std::string message);
Status PermissionDeniedError(std::string message);
Status ResourceExhaustedError(std::string message);
Status FailedPreconditionError(std::string message);
Status AbortedError(std::string message);
Status OutOfRangeError(std::string message);
Status UnimplementedError(std::string message);
Status InternalError(std::string message);
Status UnavailableError(std::string message);
Status DataLossError(std::string message);
Status UnauthenticatedError(std::string message);

std::ostream& operator<<(std::ostream& os, const Status& status);

// Holds either a T or a non-OK Status.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(const T& value) : v_(value) {}                  // NOLINT: implicit by design
  StatusOr(T&& value) : v_(std::move(value)) {}            // NOLINT
  StatusOr(const Status& status) : v_(status) { CheckNotOk(); }  // NOLINT
  StatusOr(Status&& status) : v_(std::move(status)) { CheckNotOk(); }  // NOLINT

  bool ok() const { return v_.index() == 1; }
  const Status& status() const& {
    static const Status kOk;
    return ok() ? kOk : std::get<0>(v_);
  }
  Status status() && { return ok() ? Status() : std::move(std::get<0>(v_)); }

  // Precondition: ok(). Accessing the value of an error aborts.
  const T& value() const& { CheckOk(); return std::get<1>(v_); }
  T& value() & { CheckOk(); return std::get<1>(v_); }
  T&& value() && { CheckOk(); return std::get<1>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  void CheckNotOk() const;
  void CheckOk() const;
  std::variant<Status, T> v_;
};

namespace internal {
[[noreturn]] void DieBecause(const char* what, const Status& status);
}  // namespace internal

template <typename T>
void StatusOr<T>::CheckNotOk() const {
  if (std::get<0>(v_).ok()) internal::DieBecause("StatusOr constructed from OK status", std::get<0>(v_));
}
template <typename T>
void StatusOr<T>::CheckOk() const {
  if (!ok()) internal::DieBecause("StatusOr::value() on error", std::get<0>(v_));
}

}  // namespace confml

#define CONFML_STATUS_CONCAT_INNER(a, b) a##b
#define CONFML_STATUS_CONCAT(a, b) CONFML_STATUS_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` is a non-OK Status.
#define CONFML_RETURN_IF_ERROR(expr)                          \
  do {                                                        \
    ::confml::Status _confml_status = (expr);                 \
    if (!_confml_status.ok()) return _confml_status;          \
  } while (0)

// `lhs` = value of StatusOr `expr`, or return its error.
#define CONFML_ASSIGN_OR_RETURN(lhs, expr) \
  CONFML_ASSIGN_OR_RETURN_IMPL(CONFML_STATUS_CONCAT(_confml_so_, __LINE__), lhs, expr)
#define CONFML_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return std::move(tmp).status();     \
  lhs = std::move(tmp).value()
