/**
 * What a TAP device needs from the host (vl2.md §7.6) — /dev/net/tun, CAP_NET_ADMIN, the native addon, iproute2 —
 * and the errors that name what is missing and how to get it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { nativeUnavailableReason } from './tap-native.js';
import type { SysError } from './tap-sys.js';

/** The clone device (1.14 also tries /dev/tun, which no current Linux has). */
export const TUN_PATH = '/dev/net/tun';
/** Bit of CAP_NET_ADMIN in the capability sets (linux/capability.h). */
const CAP_NET_ADMIN = 12;

/** The errno's name (EPERM, …) as os.constants.errno has it. */
export function errnoName(errno: number): string {
  for (const [name, n] of Object.entries(osConstants.errno)) if (n === errno) return name;
  return `errno ${errno}`;
}

/** Whether this process's effective capabilities hold CAP_NET_ADMIN (/proc/self/status `CapEff`). */
function hasNetAdmin(): boolean | null {
  try {
    const m = /^CapEff:\s*([0-9a-fA-F]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? (BigInt(`0x${m[1]}`) & (1n << BigInt(CAP_NET_ADMIN))) !== 0n : null;
  } catch {
    return null;
  }
}

/** What to do without CAP_NET_ADMIN. */
export const NO_NET_ADMIN =
  'this process lacks CAP_NET_ADMIN, which creating and configuring a TAP device needs: run it as root, or grant the capability ' +
  '(systemd: AmbientCapabilities=CAP_NET_ADMIN; or `setcap cap_net_admin+ep` on the node binary)';

let ipProbe: string | null | undefined;

/**
 * Why this process cannot run a TAP device, naming everything that is missing and how to get it, or null if
 * nothing is. Checks: Linux, /dev/net/tun, CAP_NET_ADMIN, the native addon, iproute2's `ip`.
 */
export function tapUnavailableReason(): string | null {
  if (process.platform !== 'linux') return `TAP devices need Linux (this is ${process.platform})`;
  const missing: string[] = [];
  if (!existsSync(TUN_PATH)) missing.push(`${TUN_PATH} does not exist: load the tun module (\`modprobe tun\`), or in a container pass the device in (docker run --device /dev/net/tun)`);
  if (hasNetAdmin() === false) missing.push(NO_NET_ADMIN);
  const addon = nativeUnavailableReason();
  if (addon !== null) missing.push(addon);
  if (ipProbe === undefined) {
    const r = spawnSync('ip', ['-V'], { stdio: 'ignore' });
    ipProbe = r.error ? "the 'ip' command is missing (it sets the device's addresses and routes): install iproute2" : null;
  }
  if (ipProbe !== null) missing.push(ipProbe);
  return missing.length ? missing.join('; ') : null;
}

/** The ZtError for a failed system call on device `name`. */
export function sysError(name: string, e: unknown): ZtError {
  const se = e as Partial<SysError>;
  if (typeof se.errno !== 'number') return new ZtError(ZtErrorCode.UNAVAILABLE, `TAP device ${name}: ${String((e as Error)?.message ?? e)}`, { cause: e });
  const what = `TAP device ${name}: ${se.syscall} failed with ${errnoName(se.errno)}`;
  const hint =
    se.errno === osConstants.errno.EPERM || se.errno === osConstants.errno.EACCES
      ? `: ${NO_NET_ADMIN}`
      : se.errno === osConstants.errno.ENOENT && se.syscall === 'open'
        ? `: ${TUN_PATH} does not exist (load the tun module: \`modprobe tun\`)`
        : se.errno === osConstants.errno.EBUSY
          ? ': another process holds a TAP device of that name'
          : '';
  return new ZtError(ZtErrorCode.UNAVAILABLE, what + hint, { cause: e });
}
