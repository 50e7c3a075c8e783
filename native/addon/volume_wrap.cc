#include "volume_wrap.h"

#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "aligned_buffer.h"
#include "args.h"
#include "batch_io.h"
#include "digest.h"
#include "worker.h"

namespace blockferry {
namespace {

// The VolumeWrap constructor lives in per-environment instance data, so the
// addon also loads in worker threads.
struct AddonData {
  Napi::FunctionReference volume_constructor;
};

// Memory a worker fills and hands over to a Buffer; freed if never handed.
struct Owned {
  uint8_t* p = nullptr;
  size_t n = 0;
  ~Owned() { std::free(p); }
  void Allocate(size_t size) {
    p = static_cast<uint8_t*>(std::malloc(size == 0 ? 1 : size));
    if (p == nullptr) throw std::bad_alloc();
    n = size;
  }
  Napi::Value Take(Napi::Env env) {
    if (p == nullptr) return env.Undefined();
    Napi::Value b = TakeBuffer(env, p, n);
    p = nullptr;
    return b;
  }
};

// The (buffer, offset, length, blockSize) arguments that begin read and write.
struct Transfer {
  ByteSpan buf;
  uint64_t offset;
  uint64_t length;
  uint64_t block_size;
};

Transfer TransferArgs(const Napi::CallbackInfo& info) {
  Transfer t{BytesArg(info, 0, "buffer"), IntegerArg(info, 1, "offset"),
             IntegerArg(info, 2, "length"), IntegerArg(info, 3, "blockSize")};
  if (t.length > t.buf.length) throw Napi::RangeError::New(info.Env(), "length exceeds the buffer");
  if (t.block_size == 0) throw Napi::RangeError::New(info.Env(), "blockSize must be positive");
  return t;
}

// What a read's worker fills, and the {direct, readSeconds, hashSeconds, digests, zero} it settles
// with.
struct ReadState {
  ReadResult result;
  Owned digests, zero;
  Napi::Value ToObject(Napi::Env env) {
    Napi::Object r = Napi::Object::New(env);
    r.Set("direct", result.direct);
    r.Set("readSeconds", static_cast<double>(result.read_ns) / 1e9);
    r.Set("hashSeconds", static_cast<double>(result.hash_ns) / 1e9);
    r.Set("digests", digests.Take(env));
    r.Set("zero", zero.Take(env));
    return r;
  }
};

// One span of readSpans: `length` bytes at `offset` of the volume, to `at` in the buffer.
struct Span {
  uint64_t offset;
  uint64_t length;
  uint64_t at;
};

// The spans argument, [offset, length, offset, length, ...]: each span goes to the next block
// boundary of the buffer after the previous one. Sets `blocks` to the blocks they hold. Read
// before the buffer is taken: an element's getter could detach it.
std::vector<Span> SpansArg(const Napi::CallbackInfo& info, size_t index, uint64_t block_size,
                           size_t* blocks) {
  Napi::Env env = info.Env();
  if (!info[index].IsArray()) throw Napi::TypeError::New(env, "argument spans: expected an array");
  Napi::Array a = info[index].As<Napi::Array>();
  if (a.Length() == 0 || a.Length() % 2 != 0) {
    throw Napi::RangeError::New(env, "spans: expected offset and length pairs");
  }
  constexpr uint64_t kMaxBytes = 9007199254740991;  // 2^53 - 1, as JavaScript numbers go
  auto number = [&](uint32_t i) {
    Napi::Value x = a.Get(i);
    double d = x.IsNumber() ? x.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0 && d <= static_cast<double>(kMaxBytes)) ||
        d != static_cast<double>(static_cast<uint64_t>(d))) {
      throw Napi::RangeError::New(env, "spans: expected non-negative integers");
    }
    return static_cast<uint64_t>(d);
  };
  std::vector<Span> spans;
  uint64_t at = 0;
  *blocks = 0;
  for (uint32_t i = 0; i < a.Length(); i += 2) {
    Span s{number(i), number(i + 1), at};
    if (s.length == 0) throw Napi::RangeError::New(env, "spans: a span of no bytes");
    size_t count = BlockCount(s.length, block_size);
    if (count * block_size > kMaxBytes - at)
      throw Napi::RangeError::New(env, "spans: too many bytes");
    spans.push_back(s);
    at += count * block_size;
    *blocks += count;
  }
  return spans;
}

// readSpans' and writeSpans' first three arguments: a buffer, spans laid out in it block after
// block, the block size.
struct SpansCall {
  ByteSpan buf{nullptr, 0, {}};
  uint64_t block_size = 0;
  std::vector<Span> spans;
  size_t blocks = 0;
};

SpansCall SpansCallArgs(const Napi::CallbackInfo& info) {
  SpansCall c;
  c.block_size = IntegerArg(info, 2, "blockSize");
  if (c.block_size == 0) throw Napi::RangeError::New(info.Env(), "blockSize must be positive");
  c.spans = SpansArg(info, 1, c.block_size, &c.blocks);  // before the buffer (see SpansArg)
  c.buf = BytesArg(info, 0, "buffer");
  const Span& last = c.spans.back();
  if (last.at + last.length > c.buf.length)
    throw Napi::RangeError::New(info.Env(), "spans exceed the buffer");
  return c;
}

Napi::Value WriteResultObject(Napi::Env env, const WriteResult& result) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("bytesWritten", static_cast<double>(result.bytes_written));
  r.Set("bytesZeroed", static_cast<double>(result.bytes_zeroed));
  r.Set("direct", result.direct);
  r.Set("zeroMethod", ZeroMethodName(result.zero_method));
  return r;
}

}  // namespace

Napi::Function VolumeWrap::Define(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "NativeVolume",
                                    {
                                        InstanceMethod("info", &VolumeWrap::Info),
                                        InstanceMethod("read", &VolumeWrap::Read),
                                        InstanceMethod("readSpans", &VolumeWrap::ReadSpans),
                                        InstanceMethod("write", &VolumeWrap::Write),
                                        InstanceMethod("writeSpans", &VolumeWrap::WriteSpans),
                                        InstanceMethod("zeroRange", &VolumeWrap::ZeroRange),
                                        InstanceMethod("setSize", &VolumeWrap::SetSize),
                                        InstanceMethod("sync", &VolumeWrap::Sync),
                                        InstanceMethod("dataExtents", &VolumeWrap::DataExtents),
                                        InstanceMethod("close", &VolumeWrap::Close),
                                    });
  auto* data = new AddonData{Napi::Persistent(ctor)};
  env.SetInstanceData<AddonData>(data);
  return ctor;
}

VolumeWrap::VolumeWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VolumeWrap>(info) {
  // Only OpenAsync constructs volumes: it passes the opened core Volume.
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw Napi::TypeError::New(info.Env(), "use openVolume() to open a volume");
  }
  auto* opened = info[0].As<Napi::External<std::shared_ptr<Volume>>>().Data();
  volume_ = std::move(*opened);
}

Napi::Value VolumeWrap::OpenAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "argument path: expected a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  if (path.find('\0') != std::string::npos) {
    throw Napi::TypeError::New(env, "argument path: contains a NUL byte");
  }
  OpenOptions options;
  options.mode = BoolArg(info, 1, "write") ? OpenMode::kWrite : OpenMode::kRead;
  options.create = BoolArg(info, 2, "create");
  options.direct = BoolArg(info, 3, "direct");
  auto opened = std::make_shared<std::shared_ptr<Volume>>();
  return QueueTask(
      env, [=] { *opened = Volume::Open(path, options); },
      [=](Napi::Env env) -> Napi::Value {
        AddonData* data = env.GetInstanceData<AddonData>();
        return data->volume_constructor.New(
            {Napi::External<std::shared_ptr<Volume>>::New(env, opened.get())});
      });
}

std::shared_ptr<Volume> VolumeWrap::Get(const Napi::CallbackInfo& info) {
  if (!volume_) {
    Napi::Error e = Napi::Error::New(info.Env(), "the volume is closed");
    e.Set("kind", "closed");
    throw e;
  }
  return volume_;
}

Napi::Value VolumeWrap::Info(const Napi::CallbackInfo& info) {
  std::shared_ptr<Volume> v = Get(info);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("size", static_cast<double>(v->size()));
  o.Set("sectorSize", v->sector_size());
  o.Set("alignment", static_cast<double>(v->alignment()));
  o.Set("isBlockDevice", v->is_block_device());
  o.Set("writable", v->writable());
  o.Set("direct", v->direct());
  return o;
}

// read(buf, offset, length, blockSize, seed, digest) ->
//   Promise<{direct, digests?, zero?}>
Napi::Value VolumeWrap::Read(const Napi::CallbackInfo& info) {
  std::shared_ptr<Volume> v = Get(info);
  Transfer t = TransferArgs(info);
  uint64_t seed = BigIntArg(info, 4, "seed");
  bool digest = BoolArg(info, 5, "digest");
  auto state = std::make_shared<ReadState>();
  return QueueTask(
      info.Env(),
      [=] {
        size_t count = BlockCount(t.length, t.block_size);
        if (digest) {
          state->digests.Allocate(count * kDigestSize);
          state->zero.Allocate(count);
        }
        state->result = ReadBlocks(*v, t.buf.data, t.buf.length, t.offset, t.length, t.block_size,
                                   seed, state->digests.p, state->zero.p);
      },
      [=](Napi::Env env) { return state->ToObject(env); }, {t.buf.owner});
}

// readSpans(buf, [offset, length, ...], blockSize, seed) -> Promise<{direct, digests, zero, ...}>
// Scattered ranges in one call (change tracking reads a pool chunk here and there): one
// thread handoff for all of them. Digests and zero flags follow the spans' blocks in order.
Napi::Value VolumeWrap::ReadSpans(const Napi::CallbackInfo& info) {
  std::shared_ptr<Volume> v = Get(info);
  SpansCall c = SpansCallArgs(info);
  uint64_t seed = BigIntArg(info, 3, "seed");
  auto state = std::make_shared<ReadState>();
  return QueueTask(
      info.Env(),
      [=] {
        state->digests.Allocate(c.blocks * kDigestSize);
        state->zero.Allocate(c.blocks);
        size_t block = 0;
        for (const Span& s : c.spans) {
          ReadResult r = ReadBlocks(*v, c.buf.data + s.at, c.buf.length - s.at, s.offset, s.length,
                                    c.block_size, seed, state->digests.p + block * kDigestSize,
                                    state->zero.p + block);
          state->result.direct &= r.direct;
          state->result.read_ns += r.read_ns;
          state->result.hash_ns += r.hash_ns;
          block += BlockCount(s.length, c.block_size);
        }
      },
      [=](Napi::Env env) { return state->ToObject(env); }, {c.buf.owner});
}

// write(buf, offset, length, blockSize, zero | null) ->
//   Promise<{bytesWritten, bytesZeroed, direct, zeroMethod}>
Napi::Value VolumeWrap::Write(const Napi::CallbackInfo& info) {
  std::shared_ptr<Volume> v = Get(info);
  Transfer t = TransferArgs(info);
  ByteSpan zero{nullptr, 0, t.buf.owner};
  if (!info[4].IsNull() && !info[4].IsUndefined()) {
    zero = BytesArg(info, 4, "zero");
    if (zero.length < BlockCount(t.length, t.block_size)) {
      throw Napi::RangeError::New(info.Env(), "zero: expected one flag per block");
    }
  }
  auto result = std::make_shared<WriteResult>();
  return QueueTask(
      info.Env(),
      [=] { *result = WriteBlocks(*v, t.buf.data, t.offset, t.length, t.block_size, zero.data); },
      [=](Napi::Env env) { return WriteResultObject(env, *result); }, {t.buf.owner, zero.owner});
}

// writeSpans(buf, [offset, length, ...], blockSize, zero | null) -> as write: the spans' blocks
// follow one another in buf (BLOCK_RUNS' runs), all written by one worker call; `zero` flags them
// in the same order.
Napi::Value VolumeWrap::WriteSpans(const Napi::CallbackInfo& info) {
  std::shared_ptr<Volume> v = Get(info);
  SpansCall c = SpansCallArgs(info);
  ByteSpan zero{nullptr, 0, c.buf.owner};
  if (!info[3].IsNull() && !info[3].IsUndefined()) {
    zero = BytesArg(info, 3, "zero");
    if (zero.length < c.blocks)
      throw Napi::RangeError::New(info.Env(), "zero: expected one flag per block");
  }
  auto result = std::make_shared<WriteResult>();
  return QueueTask(
      info.Env(),
      [=] {
        size_t block = 0;
        for (const Span& s : c.spans) {
          const uint8_t* flags = zero.data == nullptr ? nullptr : zero.data + block;
          WriteResult r =
              WriteBlocks(*v, c.buf.data + s.at, s.offset, s.length, c.block_size, flags);
          result->bytes_written += r.bytes_written;
          result->bytes_zeroed += r.bytes_zeroed;
          result->direct &= r.direct;
          if (r.bytes_zeroed > 0) result->zero_method = r.zero_method;
          block += BlockCount(s.length, c.block_size);
        }
      },
      [=](Napi::Env env) { return WriteResultObject(env, *result); }, {c.buf.owner, zero.owner});
}

Napi::Value VolumeWrap::ZeroRange(const Napi::CallbackInfo& info) {
  std::shared_ptr<Volume> v = Get(info);
  uint64_t offset = IntegerArg(info, 0, "offset");
  uint64_t length = IntegerArg(info, 1, "length");
  auto method = std::make_shared<ZeroMethod>();
  return QueueTask(
      info.Env(), [=] { *method = v->ZeroRange(offset, length); },
      [=](Napi::Env env) -> Napi::Value {
        return Napi::String::New(env, ZeroMethodName(*method));
      });
}

Napi::Value VolumeWrap::SetSize(const Napi::CallbackInfo& info) {
  std::shared_ptr<Volume> v = Get(info);
  uint64_t size = IntegerArg(info, 0, "size");
  return QueueTask(
      info.Env(), [=] { v->SetSize(size); },
      [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
}

Napi::Value VolumeWrap::Sync(const Napi::CallbackInfo& info) {
  std::shared_ptr<Volume> v = Get(info);
  return QueueTask(
      info.Env(), [=] { v->Sync(); }, [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
}

// dataExtents(offset, length, maxExtents) ->
//   Promise<{extents: number[] (start, end pairs), searchedTo: number}>
Napi::Value VolumeWrap::DataExtents(const Napi::CallbackInfo& info) {
  std::shared_ptr<Volume> v = Get(info);
  uint64_t offset = IntegerArg(info, 0, "offset");
  uint64_t length = IntegerArg(info, 1, "length");
  uint64_t max_extents = IntegerArg(info, 2, "maxExtents");
  struct State {
    std::vector<uint64_t> extents;
    uint64_t searched_to = 0;
  };
  auto state = std::make_shared<State>();
  return QueueTask(
      info.Env(),
      [=] { state->searched_to = v->DataExtents(offset, length, max_extents, &state->extents); },
      [=](Napi::Env env) -> Napi::Value {
        Napi::Array extents = Napi::Array::New(env, state->extents.size());
        for (size_t i = 0; i < state->extents.size(); ++i) {
          extents.Set(i, static_cast<double>(state->extents[i]));
        }
        Napi::Object r = Napi::Object::New(env);
        r.Set("extents", extents);
        r.Set("searchedTo", static_cast<double>(state->searched_to));
        return r;
      });
}

Napi::Value VolumeWrap::Close(const Napi::CallbackInfo& info) {
  // The worker takes the last reference held here; descriptors close on the
  // worker thread unless a transfer still holds the volume, in which case
  // they close when that transfer's worker is destroyed.
  auto holder = std::make_shared<std::shared_ptr<Volume>>(std::move(volume_));
  return QueueTask(
      info.Env(), [=] { holder->reset(); },
      [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
}

}  // namespace blockferry
