/** A device number (st_rdev) as the kernel splits it: 12 bits of major, 20 of minor. */
export function deviceNumber(rdev: number): { major: number; minor: number } {
  return { major: Math.floor(rdev / 256) & 0xfff, minor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00) };
}

/** "MAJ:MIN", as /proc and /sys name devices. */
export function deviceName(rdev: number): string {
  const { major, minor } = deviceNumber(rdev);
  return `${major}:${minor}`;
}
