/**
 * Where a sync sends to (or, for ssh, reads from). The seam for transports:
 * each kind yields the same byte stream: a local path (both roles in this
 * process), tcp://HOST:PORT/NAME (TLS or a shared secret), and
 * [user@]host:/path over ssh.
 */
import { invalid } from "../validate.js";
import type { Endpoint } from "./tcp.js";

export type Destination =
  | { kind: "local"; path: string }
  | { kind: "tcp"; endpoint: Endpoint; targetName: string }
  | { kind: "ssh"; host: string; path: string };

export function parseDestination(spec: string): Destination {
  if (spec.startsWith("tcp://")) {
    const m =
      /^tcp:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9._-]*):(\d{1,5})\/([A-Za-z0-9][A-Za-z0-9._-]{0,63})$/.exec(
        spec,
      );
    const port = Number(m?.[2]);
    if (!m || port < 1 || port > 65535) throw invalid("DEST", "tcp://HOST:PORT/TARGET-NAME", spec);
    const host = (m[1] as string).replace(/^\[|\]$/g, "");
    return { kind: "tcp", endpoint: { host, port }, targetName: m[3] as string };
  }
  const ssh = parseSshSpec(spec, "DEST");
  if (ssh) return { kind: "ssh", ...ssh };
  if (/^[^/]*:/.test(spec)) {
    throw invalid("DEST", "a local path, tcp://HOST:PORT/TARGET-NAME, or [USER@]HOST:/ABSOLUTE/PATH", spec);
  }
  return { kind: "local", path: spec };
}

/**
 * "[user@]host:/path" as rsync and scp read it (a colon before the first
 * slash names a host), or undefined for anything else.
 */
export function parseSshSpec(spec: string, what: string): { host: string; path: string } | undefined {
  refuseUrl(spec, what);
  const ssh = /^((?:[^@/:\s]+@)?(?:\[[^\]]+\]|[^@/:\s[\]]+)):(\/.*)$/.exec(spec);
  if (!ssh) return undefined;
  const host = (ssh[1] as string).replace(/\[|\]/g, "");
  // Letters, digits, '.', '_', '-' (or an IPv6 address), never a leading '-': ssh would read
  // "-oProxyCommand=..." as an option, and some ProxyCommand setups pass the host to a shell.
  if (!/^(?:[A-Za-z0-9_][A-Za-z0-9._-]*@)?(?:[A-Za-z0-9_][A-Za-z0-9._-]*|[0-9A-Fa-f:.]+)$/.test(host)) {
    throw invalid(what, "[USER@]HOST:/PATH with USER and HOST of letters, digits, '.', '_', '-' (not first)", spec);
  }
  return { host, path: ssh[2] as string };
}

/**
 * "SCHEME://..." is never "host:path" for ssh (it would ssh to a host named
 * "tcp"): tcp:// only as a destination, any other scheme a mistake, each with
 * the way out.
 */
function refuseUrl(spec: string, what: string): void {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(spec)?.[1];
  if (scheme === undefined || (scheme === "tcp" && what === "DEST")) return;
  if (scheme === "tcp") {
    throw invalid(
      what,
      "a block device or image file here, or [USER@]HOST:/PATH (read over ssh); tcp://HOST:PORT/NAME is only a destination " +
        "(a `blockferry serve` receives, it never sends); did you swap SOURCE and DEST? To copy from that host, run " +
        "`blockferry sync` there with this host as its destination",
      spec,
    );
  }
  const rest = spec.slice(scheme.length + 3);
  const hint = scheme === "ssh" ? `[USER@]HOST:/PATH (no ssh://)` : `tcp://${rest}`;
  throw invalid(
    what,
    `a local path, tcp://HOST:PORT/TARGET-NAME or [USER@]HOST:/PATH; "${scheme}://" is no scheme blockferry knows (did you mean ${hint}?)`,
    spec,
  );
}
