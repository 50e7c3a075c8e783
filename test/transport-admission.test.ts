/**
 * How many connections may wait to authenticate, from where, and for how
 * long (src/transport/admission.ts), on a receiver in this process: idle
 * sockets from other loopback addresses (127.0.0.2, .3, ...) against
 * sources at 127.0.0.1 that prove the shared secret.
 */
import { connect, type Server, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { addressOf, LimitedLog } from "../src/transport/admission.js";
import { connectSecure, listenSecure } from "../src/transport/secure.js";

const secret = Buffer.from("a shared secret of some length");
const open: Array<Socket | Duplex> = [];
let server: Server | undefined;
afterEach(async () => {
  for (const s of open.splice(0)) s.destroy();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function receiver(limits: { total: number; perAddress: number; deadlineMs: number }) {
  const log: string[] = [];
  const peers: string[] = [];
  server = await listenSecure(
    { host: "127.0.0.1", port: 0 },
    { kind: "plaintext", secret, limits },
    (stream, peer) => {
      open.push(stream);
      peers.push(peer);
    },
    (line) => log.push(line),
  );
  const port = (server.address() as { port: number }).port;
  return { port, log, peers };
}

/** An idle connection from `from`; `closed` says when (ms after connecting) the receiver hung up, if it did. */
function idle(port: number, from: string) {
  const socket = connect({ host: "127.0.0.1", port, localAddress: from });
  open.push(socket);
  const state = { connected: false, closedAfter: undefined as number | undefined };
  const started = Date.now();
  socket.on("error", () => {});
  socket.resume(); // reads (and drops) the challenge, so that the receiver's close is seen
  socket.on("connect", () => {
    state.connected = true;
  });
  socket.on("close", () => {
    state.closedAfter = Date.now() - started;
  });
  return state;
}

async function source(port: number): Promise<Duplex> {
  const stream = await connectSecure({ host: "127.0.0.1", port }, { kind: "plaintext", secret }, () => {});
  open.push(stream);
  return stream;
}

const settle = (ms = 300) => new Promise((resolve) => setTimeout(resolve, ms));

describe("connections waiting to authenticate", () => {
  it("counts an address's own: over its cap, closed at once; another address still gets in", async () => {
    const r = await receiver({ total: 64, perAddress: 3, deadlineMs: 10_000 });
    const flood = Array.from({ length: 40 }, () => idle(r.port, "127.0.0.2"));
    await settle();
    expect(flood.filter((s) => s.closedAfter === undefined)).toHaveLength(3);
    expect(
      r.log.filter((l) => /^127\.0\.0\.2:\d+: refused: 3 connections from 127\.0\.0\.2 wait/.test(l)),
    ).toHaveLength(
      20, // the first 20 refusals of the minute one by one; the other 17 counted
    );
    await source(r.port);
    await source(r.port); // authenticated ones no longer count: more than 3 from 127.0.0.1 get in
    await source(r.port);
    await source(r.port);
    expect(r.peers.filter((p) => p.startsWith("127.0.0.1:"))).toHaveLength(4);
  });

  it("when all places are taken, drops the oldest of the busiest address for a newcomer from another", async () => {
    const r = await receiver({ total: 6, perAddress: 3, deadlineMs: 10_000 });
    const a = [idle(r.port, "127.0.0.2"), idle(r.port, "127.0.0.2"), idle(r.port, "127.0.0.2")];
    await settle(100);
    const b = [idle(r.port, "127.0.0.3"), idle(r.port, "127.0.0.3")];
    const c = [idle(r.port, "127.0.0.4")];
    await settle();
    expect([...a, ...b, ...c].every((s) => s.connected && s.closedAfter === undefined)).toBe(true);
    // Full: a seventh from 127.0.0.4 (1 waiting) makes the oldest of 127.0.0.2 (3 waiting) go.
    const d = idle(r.port, "127.0.0.4");
    await settle();
    expect(a[0]?.closedAfter).toBeDefined();
    expect(d.closedAfter).toBeUndefined();
    expect(
      r.log.some((l) => /refused: dropped to make room: 6 connections waited .* 3 from 127\.0\.0\.2/.test(l)),
    ).toBe(true);
    // Every address now holds 2: one more from 127.0.0.3 would take more than it gives, and is turned away.
    const e = idle(r.port, "127.0.0.3");
    await settle();
    expect(e.closedAfter).toBeDefined();
    expect(r.log.some((l) => /refused: 6 connections wait to authenticate/.test(l))).toBe(true);
    // A source at 127.0.0.1, with no connection waiting, gets in and proves itself.
    await source(r.port);
    expect(r.peers.some((p) => p.startsWith("127.0.0.1:"))).toBe(true);
  });

  it("closes a connection that has not proved itself by the deadline", async () => {
    const r = await receiver({ total: 64, perAddress: 8, deadlineMs: 500 });
    const s = idle(r.port, "127.0.0.2");
    for (let i = 0; i < 100 && s.closedAfter === undefined; i++) await settle(50);
    expect(s.closedAfter).toBeGreaterThanOrEqual(400);
    expect(r.log.some((l) => /^127\.0\.0\.2:\d+: refused: not authenticated within 0\.5 s$/.test(l))).toBe(true);
  });
});

describe("what a cap counts as one address", () => {
  it("IPv4 as is, mapped IPv4 as IPv4, IPv6 by its /64", () => {
    expect(addressOf("192.0.2.7")).toBe("192.0.2.7");
    expect(addressOf("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(addressOf("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(addressOf("2001:db8:1:2::2")).toBe("2001:db8:1:2::/64");
    expect(addressOf("2001:0db8:0001:0002:ffff:ffff:ffff:ffff")).toBe("2001:db8:1:2::/64");
    expect(addressOf("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(addressOf("::1")).toBe("0:0:0:0::/64");
    expect(addressOf("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(addressOf("64:ff9b::192.0.2.7")).toBe("64:ff9b:0:0::/64");
    expect(addressOf(undefined)).toBe("unknown");
  });
});

describe("the refusal log", () => {
  it("logs a burst line by line, counts the rest, and says how many when the window ends", async () => {
    const lines: string[] = [];
    const log = new LimitedLog((l) => lines.push(l), 3, 200);
    for (let i = 0; i < 10; i++) log.line(`refusal ${i}`);
    expect(lines).toEqual(["refusal 0", "refusal 1", "refusal 2"]);
    await settle(400);
    expect(lines[3]).toBe("7 more refusals in the last 0 s not logged one by one (the last: refusal 9)");
    log.line("refusal 10"); // a new window
    expect(lines[4]).toBe("refusal 10");
  });
});
