// Tests of the native core alone (no Node): digests, compression, volume I/O.
// Built by plain cmake, also with ASan/UBSan in CI (see native/test/run.sh).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "aligned_buffer.h"
#include "batch_io.h"
#include "check.h"
#include "compress.h"
#include "digest.h"
#include "error.h"
#include "volume.h"

using namespace blockferry;

namespace {

constexpr uint64_t kPrime32 = 2654435761U;
constexpr uint64_t kPrime64 = 11400714785074694797ULL;

// The pseudo-random buffer of xxHash's own sanity test.
std::vector<uint8_t> SanityBuffer(size_t n) {
  std::vector<uint8_t> b(n);
  uint64_t gen = kPrime32;
  for (size_t i = 0; i < n; ++i) {
    b[i] = static_cast<uint8_t>(gen >> 56);
    gen *= kPrime64;
  }
  return b;
}

std::string Hex(const uint8_t* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

std::vector<uint8_t> Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

// Bytes that lz4 compresses well: random picks from 16 random 32-byte words.
std::vector<uint8_t> Compressible(size_t n, uint32_t seed) {
  std::vector<uint8_t> words = Random(16 * 32, seed);
  std::mt19937 rng(seed);
  std::vector<uint8_t> b(n);
  for (size_t i = 0; i < n; i += 32) {
    size_t w = rng() % 16;
    std::memcpy(b.data() + i, words.data() + w * 32, std::min<size_t>(32, n - i));
  }
  return b;
}

struct TempFile {
  std::string path;
  TempFile() {
    const char* dir = std::getenv("TMPDIR");
    path = std::string(dir ? dir : "/tmp") + "/bf-core-XXXXXX";
    int fd = mkstemp(&path[0]);
    close(fd);
  }
  ~TempFile() { unlink(path.c_str()); }
  void Fill(const std::vector<uint8_t>& bytes) const {
    FILE* f = std::fopen(path.c_str(), "wb");
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  std::vector<uint8_t> Contents() const {
    std::vector<uint8_t> out;
    FILE* f = std::fopen(path.c_str(), "rb");
    uint8_t buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
    std::fclose(f);
    return out;
  }
  long long AllocatedBlocks() const {
    struct stat st;
    stat(path.c_str(), &st);
    return st.st_blocks;
  }
};

struct Aligned {
  uint8_t* p;
  explicit Aligned(size_t n) : p(AllocAligned(n)) {}
  ~Aligned() { FreeAligned(p); }
};

}  // namespace

TEST_CASE(xxh128_matches_upstream_vectors) {
  // Values from xxHash's sanity test (XXH3_128bits_withSeed), big-endian.
  struct Vector {
    size_t len;
    uint64_t seed;
    const char* hex;
  } vectors[] = {
      {1, kPrime32, "89b99554ba22467cb53d5557e7f76f8d"},
      {222, 0, "337e09641b948717f1aebd597cec6b3a"},
      {2048, 0, "f736557fd47073a5dd59e2c3a5f038e0"},
      {2367, kPrime32, "d23aae4b76c31ecb6f5360ae69c2f406"},
  };
  std::vector<uint8_t> data = SanityBuffer(4096);
  for (const Vector& v : vectors) {
    uint8_t out[kDigestSize];
    DigestBlocks(data.data(), v.len, v.len, v.seed, out, nullptr);
    CHECK(Hex(out, kDigestSize) == v.hex);
  }
}

TEST_CASE(digests_do_not_depend_on_batching) {
  std::vector<uint8_t> data = Random(1 << 20, 1);
  std::memset(data.data() + 8192, 0, 4096);  // one zero block
  const size_t bs = 4096, count = data.size() / bs;
  std::vector<uint8_t> whole(count * kDigestSize), zero(count);
  DigestBlocks(data.data(), data.size(), bs, 42, whole.data(), zero.data());
  for (size_t batch : {1, 3, 64}) {
    std::vector<uint8_t> part(count * kDigestSize);
    for (size_t i = 0; i < count; i += batch) {
      size_t n = std::min(batch, count - i);
      DigestBlocks(data.data() + i * bs, n * bs, bs, 42, part.data() + i * kDigestSize, nullptr);
    }
    CHECK(part == whole);
  }
  CHECK(zero[2] == 1 && zero[1] == 0 && zero[3] == 0);
}

TEST_CASE(zero_block_digest_is_the_real_digest) {
  std::vector<uint8_t> zeros(3 * 4096 + 100, 0);
  std::vector<uint8_t> batched(4 * kDigestSize), single(kDigestSize);
  DigestBlocks(zeros.data(), zeros.size(), 4096, 7, batched.data(), nullptr);
  DigestBlocks(zeros.data(), 4096, 4096, 7, single.data(), nullptr);
  CHECK(std::memcmp(batched.data() + kDigestSize, single.data(), kDigestSize) == 0);
  DigestBlocks(zeros.data(), 100, 100, 7, single.data(), nullptr);
  CHECK(std::memcmp(batched.data() + 3 * kDigestSize, single.data(), kDigestSize) == 0);
}

TEST_CASE(zero_detection_sees_a_single_set_byte) {
  std::vector<uint8_t> b(4096 + 37, 0);
  CHECK(IsAllZero(b.data(), b.size()));
  for (size_t pos : {size_t{0}, size_t{255}, size_t{4095}, b.size() - 1}) {
    b[pos] = 1;
    CHECK(!IsAllZero(b.data(), b.size()));
    b[pos] = 0;
  }
}

TEST_CASE(lz4_round_trip_keeps_incompressible_blocks_raw) {
  const size_t bs = 65536;
  std::vector<uint8_t> src = Compressible(3 * bs + 1000, 2);
  std::vector<uint8_t> rnd = Random(bs, 3);
  std::memcpy(src.data() + bs, rnd.data(), bs);  // block 1 is random
  size_t count = BlockCount(src.size(), bs);
  std::vector<uint8_t> packed(CompressCapacity(src.size(), bs));
  std::vector<uint32_t> sizes(count);
  size_t used =
      CompressBlocks(src.data(), src.size(), bs, packed.data(), packed.size(), sizes.data());
  CHECK(sizes[1] == 0);
  CHECK(sizes[0] > 0 && sizes[0] < bs / 2);
  CHECK(sizes[3] > 0);
  // Rebuild the wire layout: raw blocks carry their own bytes.
  std::vector<uint8_t> wire;
  std::vector<uint32_t> wire_sizes(count);
  std::vector<uint8_t> kinds(count);
  size_t pos = 0;
  for (size_t i = 0; i < count; ++i) {
    size_t n = std::min(bs, src.size() - i * bs);
    if (sizes[i] == 0) {
      wire.insert(wire.end(), src.begin() + i * bs, src.begin() + i * bs + n);
      wire_sizes[i] = n;
      kinds[i] = 0;
    } else {
      wire.insert(wire.end(), packed.begin() + pos, packed.begin() + pos + sizes[i]);
      wire_sizes[i] = sizes[i];
      kinds[i] = 1;
    }
    pos += sizes[i];
  }
  CHECK(pos == used);
  std::vector<uint8_t> out(src.size());
  DecodeBlocks(wire.data(), wire.size(), wire_sizes.data(), kinds.data(), out.data(), out.size(),
               bs);
  CHECK(out == src);
}

TEST_CASE(decode_rejects_malformed_input_without_overrun) {
  const size_t bs = 4096;
  std::vector<uint8_t> src = Compressible(bs, 4);
  std::vector<uint8_t> packed(CompressCapacity(bs, bs));
  uint32_t size = 0;
  CompressBlocks(src.data(), bs, bs, packed.data(), packed.size(), &size);
  CHECK(size > 0);
  std::vector<uint8_t> out(bs);
  uint8_t lz4 = 1, raw = 0, bogus = 9;
  uint32_t truncated = size - 5, too_long = size + 1;
  CHECK_THROWS_KIND(DecodeBlocks(packed.data(), size, &truncated, &lz4, out.data(), bs, bs),
                    ErrorKind::kCorrupt);
  CHECK_THROWS_KIND(DecodeBlocks(packed.data(), size, &too_long, &lz4, out.data(), bs, bs),
                    ErrorKind::kCorrupt);
  CHECK_THROWS_KIND(DecodeBlocks(packed.data(), size, &size, &raw, out.data(), bs, bs),
                    ErrorKind::kCorrupt);
  CHECK_THROWS_KIND(DecodeBlocks(packed.data(), size, &size, &bogus, out.data(), bs, bs),
                    ErrorKind::kCorrupt);
  // Decodes to more than one block: must stop at the block's end.
  std::vector<uint8_t> big = Compressible(2 * bs, 5);
  std::vector<uint8_t> big_packed(CompressCapacity(2 * bs, 2 * bs));
  uint32_t big_size = 0;
  CompressBlocks(big.data(), big.size(), 2 * bs, big_packed.data(), big_packed.size(), &big_size);
  CHECK_THROWS_KIND(DecodeBlocks(big_packed.data(), big_size, &big_size, &lz4, out.data(), bs, bs),
                    ErrorKind::kCorrupt);
  // Random garbage, many seeds: an error or a full block, never a crash.
  std::mt19937 rng(6);
  for (int t = 0; t < 2000; ++t) {
    uint32_t n = 1 + rng() % 300;
    std::vector<uint8_t> junk = Random(n, rng());
    try {
      DecodeBlocks(junk.data(), n, &n, &lz4, out.data(), bs, bs);
    } catch (const IoError& e) {
      CHECK(e.kind() == ErrorKind::kCorrupt);
    }
  }
}

// A payload of mixed units, cut into slices at every offset: the same bytes out, each unit in
// place.
TEST_CASE(decode_units_from_slices_and_to_offsets) {
  const size_t unit = 4096;
  std::vector<uint8_t> raw = Random(unit, 11), text = Compressible(unit, 12);
  std::vector<uint8_t> packed(CompressCapacity(unit, unit));
  uint32_t lz4_size = 0;
  CompressBlocks(text.data(), unit, unit, packed.data(), packed.size(), &lz4_size);
  CHECK(lz4_size > 0);
  std::vector<uint8_t> wire(raw);
  wire.insert(wire.end(), packed.begin(), packed.begin() + lz4_size);
  uint32_t sizes[] = {static_cast<uint32_t>(unit), 0, lz4_size};
  uint8_t kinds[] = {0, 2, 1};
  // Pieces 1, 2 and 4 of a 5-piece region: the others keep what was there.
  uint32_t offsets[] = {unit, 2 * unit, 4 * unit};
  for (size_t cut = 1; cut < wire.size(); cut += 97) {
    Slice slices[] = {{wire.data(), cut}, {wire.data() + cut, wire.size() - cut}};
    std::vector<uint8_t> out(5 * unit, 0xAB);
    DecodeUnits(slices, 2, sizes, kinds, 3, out.data(), out.size(), unit, offsets);
    CHECK(std::equal(raw.begin(), raw.end(), out.begin() + unit));
    CHECK(std::all_of(out.begin() + 2 * unit, out.begin() + 3 * unit,
                      [](uint8_t b) { return b == 0; }));
    CHECK(std::equal(text.begin(), text.end(), out.begin() + 4 * unit));
    CHECK(std::all_of(out.begin(), out.begin() + unit, [](uint8_t b) { return b == 0xAB; }));
    CHECK(std::all_of(out.begin() + 3 * unit, out.begin() + 4 * unit,
                      [](uint8_t b) { return b == 0xAB; }));
  }
}

TEST_CASE(decode_units_refuses_what_does_not_fit) {
  const size_t unit = 4096;
  std::vector<uint8_t> wire = Random(2 * unit + 10, 13);
  std::vector<uint8_t> out(2 * unit);
  uint32_t sizes[] = {static_cast<uint32_t>(unit), static_cast<uint32_t>(unit)};
  uint8_t kinds[] = {0, 0};
  Slice whole{wire.data(), 2 * unit};
  Slice extra{wire.data(), wire.size()};
  // Input left over after the last unit.
  CHECK_THROWS_KIND(DecodeUnits(&extra, 1, sizes, kinds, 2, out.data(), out.size(), unit, nullptr),
                    ErrorKind::kCorrupt);
  // Offsets that go back, or past the destination.
  uint32_t back[] = {static_cast<uint32_t>(unit), 0}, past[] = {0, static_cast<uint32_t>(2 * unit)};
  CHECK_THROWS_KIND(DecodeUnits(&whole, 1, sizes, kinds, 2, out.data(), out.size(), unit, back),
                    ErrorKind::kCorrupt);
  CHECK_THROWS_KIND(DecodeUnits(&whole, 1, sizes, kinds, 2, out.data(), out.size(), unit, past),
                    ErrorKind::kCorrupt);
  // A unit whose size runs past the input.
  Slice short_input{wire.data(), unit + 1};
  CHECK_THROWS_KIND(
      DecodeUnits(&short_input, 1, sizes, kinds, 2, out.data(), out.size(), unit, nullptr),
      ErrorKind::kCorrupt);
  // The destination inside a slice.
  Slice overlapping{out.data(), out.size()};
  CHECK_THROWS_KIND(
      DecodeUnits(&overlapping, 1, sizes, kinds, 2, out.data(), out.size(), unit, nullptr),
      ErrorKind::kInvalid);
}

TEST_CASE(reads_match_file_contents_at_odd_sizes) {
  for (size_t size : {size_t{1}, size_t{4095}, size_t{4097}, size_t{(5 << 20) + 333}}) {
    TempFile f;
    std::vector<uint8_t> data = Random(size, static_cast<uint32_t>(size));
    f.Fill(data);
    auto v = Volume::Open(f.path, OpenOptions{});
    CHECK(v->size() == size);
    const size_t bs = 65536;
    Aligned buf(RoundUp(size, v->alignment()));
    size_t count = BlockCount(size, bs);
    std::vector<uint8_t> digests(count * kDigestSize), expected(count * kDigestSize);
    ReadBlocks(*v, buf.p, RoundUp(size, v->alignment()), 0, size, bs, 9, digests.data(), nullptr);
    CHECK(std::memcmp(buf.p, data.data(), size) == 0);
    DigestBlocks(data.data(), size, bs, 9, expected.data(), nullptr);
    CHECK(digests == expected);
  }
}

TEST_CASE(reads_past_the_end_are_range_errors) {
  TempFile f;
  f.Fill(Random(8192, 1));
  auto v = Volume::Open(f.path, OpenOptions{});
  Aligned buf(16384);
  CHECK_THROWS_KIND(v->Read(buf.p, 16384, 4096, 8192), ErrorKind::kRange);
  CHECK_THROWS_KIND(v->Read(buf.p, 16384, 12288, 1), ErrorKind::kRange);
  CHECK_THROWS_KIND(v->Write(buf.p, 0, 4096), ErrorKind::kInvalid);  // read-only
}

TEST_CASE(zero_runs_become_holes_with_identical_bytes) {
  const size_t bs = 65536, count = 64;
  std::vector<uint8_t> data = Random(bs * count, 8);
  std::vector<uint8_t> zero(count, 0);
  for (size_t i = 8; i < 56; ++i) zero[i] = 1;
  for (size_t i = 8; i < 56; ++i) std::memset(data.data() + i * bs, 0, bs);
  TempFile dense, sparse;
  for (TempFile* f : {&dense, &sparse}) {
    OpenOptions o;
    o.mode = OpenMode::kWrite;
    auto v = Volume::Open(f->path, o);
    v->SetSize(data.size());
    Aligned buf(data.size());
    std::memcpy(buf.p, data.data(), data.size());
    WriteResult r =
        WriteBlocks(*v, buf.p, 0, data.size(), bs, f == &sparse ? zero.data() : nullptr);
    CHECK(r.bytes_written + r.bytes_zeroed == data.size());
    v->Sync();
  }
  CHECK(sparse.Contents() == data);
  CHECK(dense.Contents() == data);
  CHECK(sparse.AllocatedBlocks() < dense.AllocatedBlocks() / 2);
}

TEST_CASE(unaligned_tail_is_written) {
  TempFile f;
  std::vector<uint8_t> data = Random(3 * 4096 + 10, 11);
  OpenOptions o;
  o.mode = OpenMode::kWrite;
  auto v = Volume::Open(f.path, o);
  v->SetSize(data.size());
  Aligned buf(RoundUp(data.size(), 4096));
  std::memcpy(buf.p, data.data(), data.size());
  WriteBlocks(*v, buf.p, 0, data.size(), 4096, nullptr);
  CHECK_THROWS_KIND(v->Write(buf.p, 4096, data.size()), ErrorKind::kRange);
  v.reset();
  CHECK(f.Contents() == data);
}

TEST_CASE(open_errors_carry_errno) {
  bool threw = false;
  try {
    Volume::Open("/nonexistent/blockferry", OpenOptions{});
  } catch (const IoError& e) {
    threw = e.kind() == ErrorKind::kSystem && e.err() == ENOENT;
  }
  CHECK(threw);
  CHECK_THROWS_KIND(Volume::Open("/dev/null", OpenOptions{}), ErrorKind::kInvalid);
}

int main() { return check::RunAll(); }
