/**
 * Imported first by the CLI, before anything uses libuv's thread pool (it is
 * sized when first used). Reads, digests, compression, writes and file I/O
 * all run there; the default of 4 threads left reads waiting behind folds and
 * cache-file writes (a cached delta of a 4 GiB image: 1.8 to 2.2 s with 4,
 * 1.6 s with 16).
 */
process.env.UV_THREADPOOL_SIZE ??= "16";
