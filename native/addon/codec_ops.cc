#include "codec_ops.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <utility>
#include <vector>

#include "args.h"
#include "compress.h"
#include "digest.h"
#include "worker.h"

namespace blockferry {
namespace {

uint8_t* Malloc(size_t n) {
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  return static_cast<uint8_t*>(p);
}

size_t BlockSizeArg(const Napi::CallbackInfo& info, size_t index) {
  uint64_t bs = IntegerArg(info, index, "blockSize");
  if (bs == 0 || bs > (1u << 30)) {
    throw Napi::RangeError::New(info.Env(), "blockSize must be from 1 to 2^30");
  }
  return static_cast<size_t>(bs);
}

class DigestWorker : public PromiseWorker {
 public:
  DigestWorker(Napi::Env env, ByteSpan data, size_t block_size, uint64_t seed)
      : PromiseWorker(env), data_(data), block_size_(block_size), seed_(seed) {
    KeepAlive(data.owner);
  }
  ~DigestWorker() override {
    std::free(digests_);
    std::free(zero_);
  }

 protected:
  void Run() override {
    count_ = BlockCount(data_.length, block_size_);
    digests_ = Malloc(count_ * kDigestSize);
    zero_ = Malloc(count_);
    DigestBlocks(data_.data, data_.length, block_size_, seed_, digests_, zero_);
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object r = Napi::Object::New(env);
    r.Set("digests", TakeBuffer(env, digests_, count_ * kDigestSize));
    r.Set("zero", TakeBuffer(env, zero_, count_));
    digests_ = zero_ = nullptr;
    return r;
  }

 private:
  ByteSpan data_;
  size_t block_size_;
  uint64_t seed_;
  size_t count_ = 0;
  uint8_t* digests_ = nullptr;
  uint8_t* zero_ = nullptr;
};

class CompressWorker : public PromiseWorker {
 public:
  CompressWorker(Napi::Env env, ByteSpan data, size_t block_size)
      : PromiseWorker(env), data_(data), block_size_(block_size) {
    KeepAlive(data.owner);
  }
  ~CompressWorker() override {
    std::free(payload_);
    std::free(sizes_);
  }

 protected:
  void Run() override {
    count_ = BlockCount(data_.length, block_size_);
    size_t capacity = CompressCapacity(data_.length, block_size_);
    payload_ = Malloc(capacity);
    sizes_ = reinterpret_cast<uint32_t*>(Malloc(count_ * sizeof(uint32_t)));
    used_ = CompressBlocks(data_.data, data_.length, block_size_, payload_, capacity, sizes_);
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object r = Napi::Object::New(env);
    r.Set("payload", TakeBuffer(env, payload_, used_));
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, sizes_, count_ * sizeof(uint32_t),
                                                  [](Napi::Env, void* p) { std::free(p); });
    r.Set("sizes", Napi::Uint32Array::New(env, count_, ab, 0));
    payload_ = nullptr;
    sizes_ = nullptr;
    return r;
  }

 private:
  ByteSpan data_;
  size_t block_size_;
  size_t count_ = 0;
  size_t used_ = 0;
  uint8_t* payload_ = nullptr;
  uint32_t* sizes_ = nullptr;
};

class DecodeWorker : public PromiseWorker {
 public:
  DecodeWorker(Napi::Env env, ByteSpan src, const uint32_t* sizes, ByteSpan kinds, ByteSpan dst,
               size_t block_size)
      : PromiseWorker(env),
        src_(src),
        sizes_(sizes),
        kinds_(kinds),
        dst_(dst),
        block_size_(block_size) {
    KeepAlive(src.owner);
    KeepAlive(kinds.owner);
    KeepAlive(dst.owner);
  }

 protected:
  void Run() override {
    DecodeBlocks(src_.data, src_.length, sizes_, kinds_.data, dst_.data, dst_.length, block_size_);
  }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  ByteSpan src_;
  const uint32_t* sizes_;
  ByteSpan kinds_;
  ByteSpan dst_;
  size_t block_size_;
};

// Work done on the calling thread (PromiseWorker::RunHere) below these sizes: a fold costs a few
// ns a block; decoding and digesting 128 KiB, tens of µs; a trip through the pool and back, tens
// of µs of latency in a chain the delta walks thousands of times. (Digesting and compressing a
// short run's pieces on the source here gained nothing measurable: bench/local-delta.ts.)
constexpr uint64_t kInlineFoldBlocks = 4096;
constexpr size_t kInlineBytes = 128 * 1024;

class FoldWorker : public PromiseWorker {
 public:
  FoldWorker(Napi::Env env, const uint8_t* acc, ByteSpan digests, size_t count, uint64_t first,
             uint64_t seed, bool repeat)
      : PromiseWorker(env),
        digests_(digests),
        count_(count),
        first_(first),
        seed_(seed),
        repeat_(repeat) {
    std::memcpy(acc_, acc, kDigestSize);
    KeepAlive(digests.owner);
  }

 protected:
  void Run() override { FoldDigests(acc_, digests_.data, count_, first_, seed_, repeat_); }
  Napi::Value Result(Napi::Env env) override {
    return Napi::Buffer<uint8_t>::Copy(env, acc_, kDigestSize);
  }

 private:
  uint8_t acc_[kDigestSize];
  ByteSpan digests_;
  size_t count_;
  uint64_t first_;
  uint64_t seed_;
  bool repeat_;
};

// Units received in a message, decoded straight from its chunks into place
// and, for whole blocks, digested and folded into a fingerprint sum in the
// same call: one pass over the bytes on one worker thread.
class ReceiveWorker : public PromiseWorker {
 public:
  struct Fold {
    size_t block_size;
    uint64_t seed;
    uint64_t first_block;
    // Pairs of (first block, count): the blocks of dst belong to these runs in turn (BLOCK_RUNS);
    // empty: dst's blocks are first_block onwards.
    std::vector<uint64_t> runs;
  };

  ReceiveWorker(Napi::Env env, std::vector<Slice> parts, const uint32_t* sizes, ByteSpan kinds,
                size_t count, ByteSpan dst, size_t unit, const uint32_t* offsets,
                std::optional<Fold> fold)
      : PromiseWorker(env),
        parts_(std::move(parts)),
        sizes_(sizes),
        kinds_(kinds),
        count_(count),
        dst_(dst),
        unit_(unit),
        offsets_(offsets),
        fold_(fold) {
    KeepAlive(kinds.owner);
    KeepAlive(dst.owner);
  }
  ~ReceiveWorker() override { std::free(zero_); }

 protected:
  void Run() override {
    DecodeUnits(parts_.data(), parts_.size(), sizes_, kinds_.data, count_, dst_.data, dst_.length,
                unit_, offsets_);
    if (!fold_) return;
    size_t blocks = BlockCount(dst_.length, fold_->block_size);
    std::vector<uint8_t> digests(blocks * kDigestSize);
    zero_ = Malloc(blocks);
    zero_count_ = blocks;
    DigestBlocks(dst_.data, dst_.length, fold_->block_size, fold_->seed, digests.data(), zero_);
    if (fold_->runs.empty()) {
      FoldDigests(sum_, digests.data(), blocks, fold_->first_block, fold_->seed, false);
      return;
    }
    size_t at = 0;  // counts add up to `blocks` (checked when the call was made)
    for (size_t r = 0; r + 1 < fold_->runs.size(); r += 2) {
      FoldDigests(sum_, digests.data() + at * kDigestSize, fold_->runs[r + 1], fold_->runs[r],
                  fold_->seed, false);
      at += fold_->runs[r + 1];
    }
  }
  Napi::Value Result(Napi::Env env) override {
    if (!fold_) return env.Undefined();
    Napi::Object r = Napi::Object::New(env);
    r.Set("sum", Napi::Buffer<uint8_t>::Copy(env, sum_, kDigestSize));
    r.Set("zero", TakeBuffer(env, zero_, zero_count_));
    zero_ = nullptr;
    return r;
  }

 private:
  std::vector<Slice> parts_;
  const uint32_t* sizes_;
  ByteSpan kinds_;
  size_t count_;
  ByteSpan dst_;
  size_t unit_;
  const uint32_t* offsets_;
  std::optional<Fold> fold_;
  uint8_t sum_[kDigestSize] = {};
  uint8_t* zero_ = nullptr;
  size_t zero_count_ = 0;
};

}  // namespace

namespace {

// fold's optional fourth entry: an array of (first block, count) pairs whose counts add up to
// `blocks`, each run after the previous one's end.
std::vector<uint64_t> FoldRuns(Napi::Env env, Napi::Value v, size_t blocks) {
  std::vector<uint64_t> runs;
  if (v.IsUndefined()) return runs;
  auto bad = [&] {
    return Napi::RangeError::New(env, "fold runs: expected (first block, count) pairs, in order, " +
                                          std::to_string(blocks) + " blocks in all");
  };
  if (!v.IsArray()) throw bad();
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() == 0 || a.Length() % 2 != 0) throw bad();
  uint64_t total = 0;
  uint64_t end = 0;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value x = a.Get(i);
    double d = x.IsNumber() ? x.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0 && d <= 9007199254740991.0) || d != static_cast<double>(static_cast<uint64_t>(d)))
      throw bad();
    runs.push_back(static_cast<uint64_t>(d));
    if (i % 2 == 1) {
      uint64_t first = runs[i - 1], count = runs[i];
      if (count == 0 || (i > 1 && first < end)) throw bad();
      end = first + count;
      total += count;
    }
  }
  if (total != blocks) throw bad();
  return runs;
}

}  // namespace

Napi::Value FoldDigestsAsync(const Napi::CallbackInfo& info) {
  ByteSpan acc = BytesArg(info, 0, "acc");
  ByteSpan digests = BytesArg(info, 1, "digests");
  uint64_t count = IntegerArg(info, 2, "count");
  uint64_t first = IntegerArg(info, 3, "firstBlock");
  uint64_t seed = BigIntArg(info, 4, "seed");
  bool repeat = BoolArg(info, 5, "repeat");
  if (acc.length != kDigestSize) {
    throw Napi::RangeError::New(info.Env(), "acc: expected 16 bytes");
  }
  size_t needed = repeat ? (count > 0 ? kDigestSize : 0) : count * kDigestSize;
  if (count > (uint64_t{1} << 40) || digests.length < needed) {
    throw Napi::RangeError::New(info.Env(), "digests: expected 16 bytes per block");
  }
  auto* worker = new FoldWorker(info.Env(), acc.data, digests, count, first, seed, repeat);
  return worker->Start(count <= kInlineFoldBlocks);
}

Napi::Value DigestBlocksAsync(const Napi::CallbackInfo& info) {
  ByteSpan data = BytesArg(info, 0, "data");
  size_t bs = BlockSizeArg(info, 1);
  uint64_t seed = BigIntArg(info, 2, "seed");
  return (new DigestWorker(info.Env(), data, bs, seed))->Queue();
}

Napi::Value CompressBlocksAsync(const Napi::CallbackInfo& info) {
  ByteSpan data = BytesArg(info, 0, "data");
  size_t bs = BlockSizeArg(info, 1);
  return (new CompressWorker(info.Env(), data, bs))->Queue();
}

Napi::Value DecodeBlocksAsync(const Napi::CallbackInfo& info) {
  ByteSpan src = BytesArg(info, 0, "src");
  ByteSpan dst = BytesArg(info, 3, "dst");
  size_t bs = BlockSizeArg(info, 4);
  size_t count = BlockCount(dst.length, bs);
  Napi::Object sizes_owner;
  const uint32_t* sizes = Uint32Arg(info, 1, "sizes", count, &sizes_owner);
  ByteSpan kinds = BytesArg(info, 2, "kinds");
  if (kinds.length < count) {
    throw Napi::RangeError::New(info.Env(), "kinds: expected one entry per block");
  }
  auto* worker = new DecodeWorker(info.Env(), src, sizes, kinds, dst, bs);
  worker->KeepAlive(sizes_owner);
  return worker->Queue();
}

// receiveUnits(parts, sizes, kinds, dst, unit, offsets | null, fold | null):
// fold is [blockSize, seed, firstBlock]; resolves to { sum, zero } with a fold.
Napi::Value ReceiveUnitsAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray())
    throw Napi::TypeError::New(env, "argument parts: expected an array of Buffers");
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<Slice> parts;
  std::vector<Napi::Object> owners;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value v = list.Get(i);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw Napi::TypeError::New(env, "argument parts: expected an array of Buffers");
    }
    Napi::Uint8Array u = v.As<Napi::Uint8Array>();
    parts.push_back(Slice{u.Data(), u.ByteLength()});
    owners.push_back(u);
  }
  ByteSpan kinds = BytesArg(info, 2, "kinds");
  size_t count = kinds.length;
  Napi::Object sizes_owner;
  const uint32_t* sizes = Uint32Arg(info, 1, "sizes", count, &sizes_owner);
  ByteSpan dst = BytesArg(info, 3, "dst");
  size_t unit = BlockSizeArg(info, 4);
  Napi::Object offsets_owner;
  const uint32_t* offsets =
      info[5].IsNull() ? nullptr : Uint32Arg(info, 5, "offsets", count, &offsets_owner);
  std::optional<ReceiveWorker::Fold> fold;
  if (!info[6].IsNull()) {
    if (!info[6].IsArray())
      throw Napi::TypeError::New(env, "argument fold: expected [blockSize, seed, firstBlock]");
    Napi::Array f = info[6].As<Napi::Array>();
    Napi::Value v_bs = f.Get(0u), v_seed = f.Get(1u), v_first = f.Get(2u);
    if (!v_bs.IsNumber() || !v_seed.IsBigInt() || !v_first.IsNumber()) {
      throw Napi::TypeError::New(env, "argument fold: expected [blockSize, seed, firstBlock]");
    }
    int64_t bs = v_bs.As<Napi::Number>().Int64Value();
    int64_t first = v_first.As<Napi::Number>().Int64Value();
    bool lossless = false;
    uint64_t seed = v_seed.As<Napi::BigInt>().Uint64Value(&lossless);
    if (bs <= 0 || bs > (1 << 30) || first < 0 || !lossless) {
      throw Napi::RangeError::New(env, "fold: bad block size, seed or first block");
    }
    fold = ReceiveWorker::Fold{static_cast<size_t>(bs), seed, static_cast<uint64_t>(first), {}};
    fold->runs = FoldRuns(env, f.Get(3u), BlockCount(dst.length, fold->block_size));
  }
  auto* worker =
      new ReceiveWorker(env, std::move(parts), sizes, kinds, count, dst, unit, offsets, fold);
  for (const auto& o : owners) worker->KeepAlive(o);
  worker->KeepAlive(sizes_owner);
  if (offsets != nullptr) worker->KeepAlive(offsets_owner);
  return worker->Start(dst.length <= kInlineBytes);
}

}  // namespace blockferry
