/**
 * A man in the middle of --insecure-plaintext, for tests. It relays the
 * shared-secret handshake untouched (it cannot answer it), then reads the
 * frames passing each way and may change, replace or replay them, or cut the
 * stream to the receiver short. It reads both plaintext formats: BFAUTH1,
 * frames straight on the wire, and BFAUTH2, frames inside tagged records. In
 * records it keeps each record's tag (it cannot make one) and changes only
 * the bytes inside, so a record it touched reaches the peer with its old tag.
 */
import { connect, createServer, type Server, type Socket } from "node:net";

export type Direction = "toReceiver" | "toSource";

export interface Frame {
  type: number;
  body: Buffer;
}

/** What to do with a frame: nothing, send `body` in its place, or send it (or, in records, its records) twice. */
export type Verdict = undefined | { body: Buffer } | "replay";

export interface Attack {
  frame?: (dir: Direction, frame: Frame) => Verdict | Promise<Verdict>;
  /** Bytes past the handshake after which the stream to the receiver is ended (and the other one too). */
  cutToReceiverAfter?: number;
}

export interface Mitm {
  port: number;
  /** Frame types seen each way, in order (all connections). */
  seen: Record<Direction, number[]>;
  close(): Promise<void>;
}

const HANDSHAKE: Record<Direction, number> = { toSource: 8 + 32 + 32, toReceiver: 32 + 32 };

interface Unit {
  /** Records only: the header (length) and the tag, as received. */
  head?: Buffer;
  tag?: Buffer;
  data: Buffer;
  /** Offset of data[0] in the stream of frame bytes. */
  start: number;
  replay: boolean;
}

/** One direction: handshake bytes relayed as they are, then frames (in records or not) through `attack`. */
class Pump {
  #handshake: number;
  #raw = Buffer.alloc(0);
  #units: Unit[] = [];
  #end = 0; // stream offset after the last unit
  #parsed = 0; // stream offset up to which frames went through the attack
  #sent = 0;
  #work: Promise<void> = Promise.resolve();
  records: boolean | undefined;

  constructor(
    readonly dir: Direction,
    readonly out: Socket,
    readonly attack: Attack,
    readonly seen: number[],
    readonly cut: () => void,
  ) {
    this.#handshake = HANDSHAKE[dir];
  }

  push(chunk: Buffer, version: () => boolean | undefined): void {
    this.#work = this.#work.then(() => this.#take(chunk, version));
  }

  end(): void {
    // What is left (a stream cut inside a frame) goes on as it came.
    this.#work = this.#work.then(() => {
      if (this.records) {
        for (const u of this.#units) this.#write(Buffer.concat([u.head as Buffer, u.data, u.tag as Buffer]));
        this.#write(this.#raw);
      } else {
        this.#write(this.#read(this.#parsed, this.#end - this.#parsed));
      }
      this.out.end();
    });
  }

  async #take(chunk: Buffer, version: () => boolean | undefined): Promise<void> {
    if (this.#handshake > 0) {
      const pass = chunk.subarray(0, this.#handshake);
      this.#handshake -= pass.length;
      this.out.write(pass);
      chunk = chunk.subarray(pass.length);
      if (chunk.length === 0) return;
    }
    this.records ??= version();
    this.#raw = Buffer.concat([this.#raw, chunk]);
    if (!this.records) {
      this.#units.push({ data: this.#raw, start: this.#end, replay: false });
      this.#end += this.#raw.length;
      this.#raw = Buffer.alloc(0);
    }
    while (this.records && this.#raw.length >= 4 && this.#raw.length >= 20 + this.#raw.readUInt32BE(0)) {
      const n = this.#raw.readUInt32BE(0);
      const head = Buffer.from(this.#raw.subarray(0, 4));
      const data = Buffer.from(this.#raw.subarray(4, 4 + n));
      const tag = Buffer.from(this.#raw.subarray(4 + n, 20 + n));
      this.#units.push({ head, data, tag, start: this.#end, replay: false });
      this.#end += n;
      this.#raw = this.#raw.subarray(20 + n);
    }
    await this.#frames();
  }

  async #frames(): Promise<void> {
    while (this.#end - this.#parsed >= 5) {
      const header = this.#read(this.#parsed, 5);
      const total = 4 + header.readUInt32BE(0);
      if (this.#end - this.#parsed < total) break;
      const frame = { type: header.readUInt8(4), body: this.#read(this.#parsed + 5, total - 5) };
      this.seen.push(frame.type);
      const verdict = await this.attack.frame?.(this.dir, frame);
      const at = this.#parsed;
      this.#parsed += total;
      if (verdict === "replay") {
        for (const u of this.#units) if (u.start < at + total && u.start + u.data.length > at) u.replay = true;
      } else if (verdict !== undefined) {
        this.#replace(at, total, verdict.body);
      }
      if (!this.records) {
        const bytes = this.#read(at, this.#parsed - at);
        this.#write(bytes);
        if (verdict === "replay") this.#write(bytes);
      }
    }
    this.#release();
  }

  /** Records whose frames have all gone through the attack are sent on (twice if a frame in them is replayed). */
  #release(): void {
    while (this.#units.length > 0) {
      const u = this.#units[0] as Unit;
      if (u.start + u.data.length > this.#parsed) break;
      this.#units.shift();
      if (!this.records) continue;
      const bytes = Buffer.concat([u.head as Buffer, u.data, u.tag as Buffer]);
      this.#write(bytes);
      if (u.replay) this.#write(bytes);
    }
  }

  #write(bytes: Buffer): void {
    const limit = this.dir === "toReceiver" ? this.attack.cutToReceiverAfter : undefined;
    if (limit === undefined) {
      this.out.write(bytes);
      return;
    }
    if (this.#sent >= limit) return;
    this.out.write(bytes.subarray(0, limit - this.#sent));
    this.#sent += bytes.length;
    if (this.#sent >= limit) this.cut();
  }

  #read(from: number, n: number): Buffer {
    const out = Buffer.alloc(n);
    for (const u of this.#units) {
      const lo = Math.max(from, u.start);
      const hi = Math.min(from + n, u.start + u.data.length);
      if (lo < hi) u.data.copy(out, lo - from, lo - u.start, hi - u.start);
    }
    return out;
  }

  /** The frame at [at, at + total) with a new body: in place if as long, else within its one record. */
  #replace(at: number, total: number, body: Buffer): void {
    const frame = Buffer.alloc(4 + 1 + body.length);
    frame.writeUInt32BE(1 + body.length, 0);
    frame[4] = this.#read(at + 4, 1)[0] as number;
    body.copy(frame, 5);
    if (frame.length === total) {
      for (const u of this.#units) {
        const lo = Math.max(at, u.start);
        const hi = Math.min(at + total, u.start + u.data.length);
        if (lo < hi) frame.copy(u.data, lo - u.start, lo - at, hi - at);
      }
      return;
    }
    const u = this.#units.find((v) => v.start <= at && at + total <= v.start + v.data.length);
    if (u === undefined) throw new Error("mitm: a frame to resize spans records");
    const offset = at - u.start;
    u.data = Buffer.concat([u.data.subarray(0, offset), frame, u.data.subarray(offset + total)]);
    u.head?.writeUInt32BE(u.data.length, 0);
    const shift = frame.length - total;
    for (const v of this.#units) if (v.start > u.start) v.start += shift;
    this.#end += shift;
    this.#parsed += shift;
  }
}

/** Listens on a free loopback port; each connection is relayed to `receiverPort` through `attack`. */
export async function startMitm(receiverPort: number, attack: Attack): Promise<Mitm> {
  const seen: Mitm["seen"] = { toReceiver: [], toSource: [] };
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (source) => {
    const receiver = connect({ host: "127.0.0.1", port: receiverPort, allowHalfOpen: true });
    for (const s of [source, receiver]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => sockets.delete(s));
    }
    let magic: Buffer | undefined;
    const version = () => (magic === undefined ? undefined : magic.toString("latin1") === "BFAUTH2\n");
    const cut = () => {
      receiver.end();
      source.end();
    };
    const up = new Pump("toReceiver", receiver, attack, seen.toReceiver, cut);
    const down = new Pump("toSource", source, attack, seen.toSource, cut);
    source.on("data", (c: Buffer) => up.push(c, version));
    receiver.on("data", (c: Buffer) => {
      magic ??= c.length >= 8 ? Buffer.from(c.subarray(0, 8)) : undefined;
      down.push(c, version);
    });
    source.on("end", () => up.end());
    receiver.on("end", () => down.end());
    source.on("close", () => receiver.destroy());
    receiver.on("close", () => source.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address !== "object") throw new Error("mitm: no port");
  return {
    port: address.port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
