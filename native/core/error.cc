#include "error.h"

#include <cstring>

namespace blockferry {

IoError::IoError(ErrorKind kind, std::string op, int err, int64_t offset,
                 const std::string& message)
    : std::runtime_error(message), kind_(kind), op_(std::move(op)), err_(err), offset_(offset) {}

IoError IoError::System(const std::string& op, int err, int64_t offset) {
  std::string message = op + " failed: " + std::strerror(err);
  if (offset >= 0) message += " at byte offset " + std::to_string(offset);
  return IoError(ErrorKind::kSystem, op, err, offset, message);
}

const char* ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kSystem:
      return "system";
    case ErrorKind::kCorrupt:
      return "corrupt";
    case ErrorKind::kRange:
      return "range";
    case ErrorKind::kInvalid:
      return "invalid";
  }
  return "invalid";
}

}  // namespace blockferry
