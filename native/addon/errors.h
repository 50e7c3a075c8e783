// Turns a core IoError into a JavaScript Error carrying its facts:
// err.kind ('system' | 'corrupt' | 'range' | 'invalid'), err.errno,
// err.op and err.offset (-1 when none). src/native maps them to codes.
#pragma once

#include <napi.h>

#include "error.h"

namespace blockferry {

Napi::Value MakeError(Napi::Env env, const IoError& error);

}  // namespace blockferry
