// Errors raised by the byte-work core. Every failure says what was being done
// (op), the errno when a system call failed, and the byte offset involved, so
// that the TypeScript side can turn it into an error with a stable code.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace blockferry {

enum class ErrorKind {
  kSystem,   // a system call failed; errno says why
  kCorrupt,  // bytes that do not decode (a malformed lz4 block)
  kRange,    // an offset or length outside the volume or a buffer
  kInvalid,  // an argument the caller should have rejected
};

class IoError : public std::runtime_error {
 public:
  IoError(ErrorKind kind, std::string op, int err, int64_t offset, const std::string& message);

  // For a failed system call: the message is built from errno.
  static IoError System(const std::string& op, int err, int64_t offset);

  ErrorKind kind() const { return kind_; }
  const std::string& op() const { return op_; }
  int err() const { return err_; }
  int64_t offset() const { return offset_; }

 private:
  ErrorKind kind_;
  std::string op_;
  int err_;
  int64_t offset_;
};

const char* ErrorKindName(ErrorKind kind);

}  // namespace blockferry
