/**
 * Who may wait to authenticate. A connection counts from its accept until its
 * peer has proved itself (a TLS handshake with an allowed key, or the shared
 * secret); then it counts no more. At most `total` connections wait, and
 * `perAddress` of them from one address (an IPv6 /64 is one address). One
 * over its address's cap is closed at once; when all `total` places are
 * taken, the oldest connection of the address holding the most is dropped to
 * make room (unless the newcomer's address holds as many), so sockets held
 * open from a few addresses cannot keep out a source at another. Each has
 * `deadlineMs` to prove itself. Refusals are logged, at most LOG_BURST lines
 * a minute and then counted, so a flood cannot fill the log.
 */
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";

export interface AdmissionLimits {
  total: number;
  perAddress: number;
  deadlineMs: number;
}

/** Refusal lines logged one by one per minute; the rest are counted. */
const LOG_BURST = 20;

/** A backup receiver has a few sources; BLOCKFERRY_HANDSHAKE_MS shortens the deadline in tests. */
export const DEFAULT_LIMITS: AdmissionLimits = {
  total: 64,
  perAddress: 8,
  deadlineMs: Number(process.env.BLOCKFERRY_HANDSHAKE_MS) || 5000,
};

export interface Authenticated {
  stream: Duplex;
  /** Throws E_AUTH for a target this peer may not write. */
  authorize: (target: string) => void;
}

/**
 * Proves the peer of a fresh connection; rejects (with the reason to log) if
 * it does not. `refused` logs the reason at once, for a refusal that first
 * tells the peer why: the connection still counts until it is gone.
 */
export type Authenticate = (socket: Socket, refused: (why: string) => void) => Promise<Authenticated>;
export type OnAuthenticated = (stream: Duplex, peer: string, authorize: (target: string) => void) => void;

interface Waiting {
  socket: Socket;
  peer: string;
  address: string;
  timer: NodeJS.Timeout | undefined;
  settled: boolean;
  logged: boolean;
}

export class Admission {
  readonly #limits: AdmissionLimits;
  readonly #authenticate: Authenticate;
  readonly #onPeer: OnAuthenticated;
  readonly #log: LimitedLog;
  /** In order of arrival: the first of an address is its oldest. */
  readonly #waiting = new Set<Waiting>();
  readonly #perAddress = new Map<string, number>();

  constructor(limits: AdmissionLimits, authenticate: Authenticate, onPeer: OnAuthenticated, log: LimitedLog) {
    this.#limits = limits;
    this.#authenticate = authenticate;
    this.#onPeer = onPeer;
    this.#log = log;
  }

  /** Connections waiting to authenticate now (tests and the log). */
  get waiting(): number {
    return this.#waiting.size;
  }

  admit(socket: Socket): void {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    const address = addressOf(socket.remoteAddress);
    socket.on("error", () => {}); // a reset before authentication ends in a refusal below, not a crash
    const full = this.#makeRoom(address);
    if (full !== undefined) {
      socket.destroy();
      this.#log.line(`${peer}: refused: ${full}`);
      return;
    }
    const { deadlineMs } = this.#limits;
    const w: Waiting = { socket, peer, address, timer: undefined, settled: false, logged: false };
    w.timer = setTimeout(() => this.#fail(w, `not authenticated within ${deadlineMs / 1000} s`), deadlineMs);
    this.#waiting.add(w);
    this.#perAddress.set(address, (this.#perAddress.get(address) ?? 0) + 1);
    this.#authenticate(socket, (why) => this.#refused(w, why)).then(
      (a) => {
        if (w.settled) {
          a.stream.destroy();
          return;
        }
        this.#release(w);
        this.#onPeer(a.stream, peer, a.authorize);
      },
      (e: unknown) => this.#fail(w, e instanceof Error ? e.message : String(e)),
    );
  }

  /** Why a connection from `address` finds no place, or undefined (after dropping another if need be). */
  #makeRoom(address: string): string | undefined {
    const { total, perAddress } = this.#limits;
    const held = this.#perAddress.get(address) ?? 0;
    if (held >= perAddress) return `${held} connections from ${address} wait to authenticate (at most ${perAddress})`;
    if (this.#waiting.size < total) return undefined;
    const victim = this.#oldestOfBusiest();
    const victimHeld = victim === undefined ? 0 : (this.#perAddress.get(victim.address) ?? 0);
    if (victim === undefined || victimHeld <= held)
      return `${total} connections wait to authenticate (at most ${total})`;
    const why = `dropped to make room: ${total} connections waited to authenticate, ${victimHeld} from ${victim.address}`;
    this.#fail(victim, why);
    return undefined;
  }

  #fail(w: Waiting, why: string): void {
    if (w.settled) return;
    this.#release(w);
    w.socket.destroy();
    this.#refused(w, why);
  }

  #refused(w: Waiting, why: string): void {
    if (w.logged) return;
    w.logged = true;
    this.#log.line(`${w.peer}: refused: ${why}`);
  }

  #release(w: Waiting): void {
    if (w.settled) return;
    w.settled = true;
    clearTimeout(w.timer);
    this.#waiting.delete(w);
    const left = (this.#perAddress.get(w.address) ?? 1) - 1;
    if (left > 0) this.#perAddress.set(w.address, left);
    else this.#perAddress.delete(w.address);
  }

  /** The oldest waiting connection of the address with the most waiting. */
  #oldestOfBusiest(): Waiting | undefined {
    let busiest: string | undefined;
    for (const [address, n] of this.#perAddress) {
      if (busiest === undefined || n > (this.#perAddress.get(busiest) ?? 0)) busiest = address;
    }
    for (const w of this.#waiting) if (w.address === busiest) return w;
    return undefined;
  }
}

/**
 * The address a per-address cap counts: IPv4 as is (also when mapped into
 * IPv6), IPv6 by its /64, which one host or one customer is given.
 */
export function addressOf(remote: string | undefined): string {
  if (remote === undefined) return "unknown";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remote);
  if (mapped) return mapped[1] as string;
  if (!remote.includes(":")) return remote;
  const [head = "", tail] = remote.replace(/%.*$/, "").toLowerCase().split("::");
  const groups = (s: string) => (s === "" ? [] : s.split(":").flatMap((g) => (g.includes(".") ? ["0", "0"] : [g])));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${all
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(":")}::/64`;
}

/** At most `burst` lines per window; the rest counted, and the count logged when the window ends. */
export class LimitedLog {
  readonly #log: (line: string) => void;
  readonly #burst: number;
  readonly #windowMs: number;
  #lines = 0;
  #suppressed = 0;
  #last = "";
  #timer: NodeJS.Timeout | undefined;

  constructor(log: (line: string) => void, burst = LOG_BURST, windowMs = 60_000) {
    this.#log = log;
    this.#burst = burst;
    this.#windowMs = windowMs;
  }

  line(text: string): void {
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.#endWindow(), this.#windowMs);
      this.#timer.unref();
    }
    if (++this.#lines <= this.#burst) {
      this.#log(text);
    } else {
      this.#suppressed++;
      this.#last = text;
    }
  }

  #endWindow(): void {
    const seconds = Math.round(this.#windowMs / 1000);
    if (this.#suppressed > 0) {
      this.#log(
        `${this.#suppressed} more refusals in the last ${seconds} s not logged one by one (the last: ${this.#last})`,
      );
    }
    this.#lines = 0;
    this.#suppressed = 0;
    this.#timer = undefined;
  }
}
