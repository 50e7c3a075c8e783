import { invalid } from "./validate.js";

const POWERS: Record<string, number> = { "": 0, K: 1, M: 2, G: 3, T: 4 };

/**
 * "64K", "50M", "50MiB", "50MB", "4096": bytes. K, M, G, T alone or as KiB,
 * MiB, GiB, TiB are powers of 1024; KB, MB, GB, TB are powers of 1000 (as
 * their SI names say). Output is always in powers of 1024 (KiB, MiB/s).
 */
export function parseSize(what: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(?:([KMGT])(i?)(B?)|(B?))$/i.exec(text.trim());
  const power = POWERS[(m?.[2] ?? "").toUpperCase()] ?? 0;
  const base = m?.[3] === "" && m?.[4] !== "" ? 1000 : 1024; // "MB": SI; "M", "MiB": binary
  const n = m ? Math.round(Number(m[1]) * base ** power) : Number.NaN;
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw invalid(what, "a size such as 4096, 64K, 50M or 50MiB (powers of 1024), or 50MB (powers of 1000)", text);
  }
  return n;
}

const SECONDS: Record<string, number> = { "": 1, s: 1, m: 60, h: 3600, d: 86400 };

/** "90", "90s", "5m", "26h", "2d": milliseconds. */
export function parseDuration(what: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([smhd]?)$/i.exec(text.trim());
  const ms = m ? Math.round(Number(m[1]) * (SECONDS[(m[2] ?? "").toLowerCase()] ?? 1) * 1000) : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms <= 0) throw invalid(what, "a duration such as 90s, 5m, 26h or 2d", text);
  return ms;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function formatRate(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 2 ** 20).toFixed(1)} MiB/s`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** An age or a limit for people: "45 s", "12 min", "26 h", "3.5 days" (whole units where they are whole). */
export function formatAge(seconds: number): string {
  const round = (v: number) => (Number.isInteger(v) || v >= 10 ? String(Math.round(v)) : v.toFixed(1));
  if (seconds < 120) return `${round(seconds)} s`;
  if (seconds < 7200) return `${round(seconds / 60)} min`;
  if (seconds < 2 * 86400) return `${round(seconds / 3600)} h`;
  return `${round(seconds / 86400)} days`;
}
