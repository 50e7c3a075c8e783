/** Polls `check` every 50 ms, up to `tries` times; throws, naming `what`, if it never holds. */
export async function waitFor(check: () => boolean, what: string, tries = 200): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}
