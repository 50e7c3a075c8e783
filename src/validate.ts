import { BlockferryError } from "./errors.js";

/**
 * Argument checks at the TypeScript surface. Every failure has one message
 * format: "<what>: expected <expected>, got <value>".
 */

export function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === "bigint") return `${value}n`;
  if (value === null || typeof value !== "object") return String(value);
  if (Buffer.isBuffer(value)) return `a Buffer of ${value.length} bytes`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of ${value.byteLength} bytes`;
  return `an object (${value.constructor?.name ?? "Object"})`;
}

export function invalid(what: string, expected: string, got: unknown): BlockferryError {
  return new BlockferryError("E_INVALID_ARG", `${what}: expected ${expected}, got ${describe(got)}`);
}

export function checkInteger(what: string, value: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw invalid(what, `an integer ${range}`, value);
  }
  return value;
}

export function checkMultiple(what: string, value: number, multiple: number): number {
  if (value % multiple !== 0) throw invalid(what, `a multiple of ${multiple}`, value);
  return value;
}

export function checkPowerOfTwo(what: string, value: unknown, min: number, max: number): number {
  const ok = typeof value === "number" && Number.isSafeInteger(value) && value >= min && value <= max;
  if (!ok || (value & (value - 1)) !== 0) throw invalid(what, `a power of two from ${min} to ${max}`, value);
  return value;
}

export function checkBytes(what: string, value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) throw invalid(what, "a Buffer or Uint8Array", value);
  return value;
}

export function checkSeed(what: string, value: unknown): bigint {
  if (typeof value !== "bigint" || value < 0n || value >= 1n << 64n) {
    throw invalid(what, "a bigint from 0 to 2^64-1", value);
  }
  return value;
}

export function checkString(what: string, value: unknown): string {
  if (typeof value !== "string" || value.length === 0) throw invalid(what, "a non-empty string", value);
  // A NUL would cut the path short in the kernel: another file than the one named.
  if (value.includes("\0")) throw invalid(what, "a string without NUL bytes", value);
  return value;
}

export function checkObject(what: string, value: unknown): Record<string, unknown> {
  if (typeof value !== "object" || value === null) throw invalid(what, "an options object", value);
  return value as Record<string, unknown>;
}
