import type { BufferPool } from "../../src/engine/buffer-pool.js";

/** How many of `count` buffers the pool hands out within two seconds (all of them once every one came back). */
export async function buffersBack(pool: BufferPool, count: number): Promise<number> {
  const taken = await Promise.race([
    Promise.all(Array.from({ length: count }, () => pool.acquire())),
    new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000)),
  ]);
  return taken?.length ?? 0;
}
