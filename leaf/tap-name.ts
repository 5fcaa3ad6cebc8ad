/**
 * TAP device names as ZeroTier One 1.14 gives them on Linux (vl2.md §7.1, osdep/LinuxEthernetTap.cpp), and the
 * `<home>/devicemap` file that keeps a network's name across restarts.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const MASK40 = (1n << 40n) - 1n;
const MASK64 = (1n << 64n) - 1n;
/** Tries before giving up on a free name (1.14 tries forever; 2^40 names cannot all be taken by accident). */
const MAX_NAME_TRIES = 1000;

/** The devicemap file of a home directory. */
export const DEVICEMAP_FILE = 'devicemap';

function checkNwid(nwid: bigint): void {
  if (typeof nwid !== 'bigint' || nwid < 0n || nwid > MASK64) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `network id ${String(nwid)} is not a 64-bit unsigned integer`);
  }
}

/** `zt` + the base32 of 40 bits, MSB first (`abcdefghijklmnopqrstuvwxyz234567`). */
function nameOf(v: bigint): string {
  let s = 'zt';
  const low = v & MASK40;
  for (let shift = 35n; shift >= 0n; shift -= 5n) s += BASE32[Number((low >> shift) & 31n)];
  return s;
}

/** Whether a device of that name exists in this network namespace (1.14's test: /proc/sys/net/ipv4/conf/<name>). */
export function deviceExists(name: string): boolean {
  return existsSync(`/proc/sys/net/ipv4/conf/${name}`);
}

/**
 * The device name for network `nwid`: `preferred` (the devicemap's entry) if given and not in use, otherwise
 * `zt` + base32 of the low 40 bits of `nwid ^ (nwid >> 24)`, counting up past names in use
 * (`8056c2e21c000001` → `ztmjfmfyq5`).
 * @throws {ZtError} BAD_VALUE for an out-of-range network id; UNAVAILABLE if no free name is found
 */
export function tapNameFor(nwid: bigint, inUse: (name: string) => boolean = deviceExists, preferred?: string): string {
  checkNwid(nwid);
  if (preferred !== undefined && !inUse(preferred)) return preferred;
  let v = nwid ^ (nwid >> 24n);
  for (let i = 0; i < MAX_NAME_TRIES; i++, v++) {
    const name = nameOf(v);
    if (!inUse(name)) return name;
  }
  throw new ZtError(ZtErrorCode.UNAVAILABLE, `no free TAP device name for network ${nwid.toString(16).padStart(16, '0')} (${MAX_NAME_TRIES} tried from ${nameOf(nwid ^ (nwid >> 24n))})`);
}

/** A valid Linux interface name (what `ip link` accepts): 1–15 bytes, no '/', ':' or whitespace, not . or .. */
export function isValidIfName(name: string): boolean {
  return /^[^\s/:]{1,15}$/.test(name) && name !== '.' && name !== '..' && Buffer.byteLength(name) <= 15;
}

/**
 * The devicemap of `home`: network id → device name, from lines `<16 hex digits>=<name>`. A missing file is an
 * empty map; lines that are not of that form are ignored (1.14 ignores them too).
 * @throws {ZtError} FILE if the file exists but cannot be read
 */
export function readDeviceMap(home: string): Map<bigint, string> {
  const path = join(home, DEVICEMAP_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw new ZtError(ZtErrorCode.FILE, `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  const map = new Map<bigint, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([0-9a-fA-F]{16})=(\S+)\s*$/.exec(line);
    if (m && isValidIfName(m[2]!)) map.set(BigInt(`0x${m[1]}`), m[2]!);
  }
  return map;
}

/**
 * Records `nwid` → `name` in the devicemap of `home`, keeping the other entries (written to a temporary file
 * and renamed, so a crash never leaves half a file).
 * @throws {ZtError} FILE if the file cannot be read or written
 */
export function recordDeviceName(home: string, nwid: bigint, name: string): void {
  checkNwid(nwid);
  const map = readDeviceMap(home);
  if (map.get(nwid) === name) return;
  map.set(nwid, name);
  const path = join(home, DEVICEMAP_FILE);
  const text = [...map].map(([id, n]) => `${id.toString(16).padStart(16, '0')}=${n}\n`).join('');
  try {
    writeFileSync(`${path}.tmp`, text);
    renameSync(`${path}.tmp`, path);
  } catch (e) {
    throw new ZtError(ZtErrorCode.FILE, `cannot write ${path}: ${(e as Error).message}`, { cause: e });
  }
}
