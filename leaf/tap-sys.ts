/**
 * The system calls a TAP device needs that Node.js cannot make itself (vl2.md §7.6): the seam between
 * {@link TapDevice} (leaf/tap.ts) and the code that makes them — the native addon (leaf/tap-native.ts).
 * Frame I/O is here too because it must not block the event loop nor busy-poll (see tap-native.ts for how).
 */

/** A failed system call: `errno` and the call, as the addon reports it. */
export interface SysError extends Error {
  errno: number;
  syscall: string;
}

export interface TapReader {
  /** Stops reading (idempotent); no callback runs afterwards. */
  stop(): void;
}

export interface TapSys {
  /**
   * A new non-persistent TAP (`IFF_TAP | IFF_NO_PI`) named `name` in the caller's network namespace, its fd
   * non-blocking and close-on-exec.
   * @throws SysError (open of /dev/net/tun, ioctl TUNSETIFF / TUNSETPERSIST)
   */
  open(name: string): number;
  /** @throws SysError (ioctl SIOCSIFHWADDR) */
  setMac(name: string, mac: Uint8Array): void;
  /** @throws SysError (ioctl SIOCSIFMTU) */
  setMtu(name: string, mtu: number): void;
  /** Adds IFF_UP | IFF_MULTICAST to the device's flags. @throws SysError (ioctl SIOCGIFFLAGS / SIOCSIFFLAGS) */
  setUp(name: string): void;
  /** One write() of one whole frame: the bytes written, or -errno. */
  write(fd: number, frame: Uint8Array): number;
  /**
   * Calls `onFrame` with each frame the kernel sends out of the device, in order, from the event loop. A frame
   * longer than `frameMax` arrives cut to `frameMax + 1` bytes (so the caller can count it as oversize). When a
   * read fails for good (the device was deleted) the reader stops and `onFail` gets the errno.
   * Frames handed to `onFrame` are the caller's to keep.
   */
  read(fd: number, frameMax: number, onFrame: (frame: Uint8Array) => void, onFail: (errno: number) => void): TapReader;
  /** @throws SysError (close) */
  close(fd: number): void;
}
