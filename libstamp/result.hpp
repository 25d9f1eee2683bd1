// Error policy, in one place: code that talks to the OS or parses outside
// input returns Result<T>, an expected-style value carrying an errno-like
// code and a whole, greppable message. Nothing on those paths throws.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace stamp {

struct Error {
  int code = EINVAL;  // positive errno value
  std::string message;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

inline Error makeError(int code, std::string message) {
  return Error{code, std::move(message)};
}

// "WHAT: strerror(err)"; err may be negative (libbpf style) or positive.
inline Error sysError(int err, const std::string& what) {
  if (err < 0) err = -err;
  return Error{err, what + ": " + std::strerror(err)};
}
// The same for the current errno.
inline Error errnoError(const std::string& what) {
  return sysError(errno, what);
}

}  // namespace stamp
