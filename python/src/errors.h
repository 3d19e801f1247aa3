// The one place where confml Status values become Python exceptions.
//
// Exception classes (module attributes of confml._confml, re-exported by
// confml): Error is the base of all; each canonical code has its class, with
// a familiar builtin mixed in where one fits, so `except ValueError` catches a
// bad config and `except confml.InvalidArgumentError` does too.
//   InvalidArgumentError(Error, ValueError)   NotFoundError(Error, LookupError)
//   UnimplementedError(Error, NotImplementedError)
//   DataLossError, UnauthenticatedError, PermissionDeniedError,
//   FailedPreconditionError, OutOfRangeError(Error, IndexError), InternalError
#pragma once

#include <pybind11/pybind11.h>

#include "confml/core/status.h"

namespace confml::python {

void RegisterExceptions(pybind11::module_& m);

// Sets the Python error for `status` (must be non-OK) and throws
// pybind11::error_already_set.
[[noreturn]] void ThrowStatus(const Status& status);

inline void ThrowIfError(const Status& status) {
  if (!status.ok()) ThrowStatus(status);
}

template <typename T>
T Unwrap(StatusOr<T>&& value) {
  if (!value.ok()) ThrowStatus(value.status());
  return std::move(value).value();
}

}  // namespace confml::python
