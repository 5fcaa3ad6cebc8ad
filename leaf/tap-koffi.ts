/**
 * {@link TapSys} through the koffi FFI package (libc called from JS) — the alternative measured against the
 * native addon (see native/tap/README.md). Linux x86_64/arm64 constants and struct layouts.
 *
 * Reading: koffi cannot watch an fd with the event loop, so a poll() on [tap fd, eventfd] runs as a koffi async
 * call (a worker thread blocked in poll for as long as no frame comes); when it returns the frames are read on the
 * main thread until EAGAIN, then the poll is re-armed. stop() wakes the poll through the eventfd.
 */
import { createRequire } from 'node:module';
import type { SysError, TapReader, TapSys } from './tap-sys.js';

const O_RDWR = 2;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const TUNSETIFF = 0x400454ca;
const TUNSETPERSIST = 0x400454cb;
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;
const SIOCSIFHWADDR = 0x8924;
const SIOCSIFMTU = 0x8922;
const SIOCGIFFLAGS = 0x8913;
const SIOCSIFFLAGS = 0x8914;
const IFF_UP = 0x1;
const IFF_MULTICAST = 0x1000;
const ARPHRD_ETHER = 1;
const AF_INET = 2;
const SOCK_DGRAM = 2;
const POLLIN = 1;
const EAGAIN = 11;
const EINTR = 4;
const IFREQ_SIZE = 40;
const READ_BATCH = 64;

interface Koffi {
  load(path: string): { func(decl: string): KFunc };
  errno(): number;
}
type KFunc = ((...args: unknown[]) => number) & { async: (...args: unknown[]) => void };

export function koffiTapSys(): TapSys {
  const koffi = createRequire(import.meta.url)('koffi') as Koffi;
  const libc = koffi.load('libc.so.6');
  const open = libc.func('int open(const char *path, int flags)');
  const close = libc.func('int close(int fd)');
  const ioctl = libc.func('int ioctl(int fd, unsigned long req, void *arg)');
  const socket = libc.func('int socket(int domain, int type, int protocol)');
  const read = libc.func('long read(int fd, void *buf, unsigned long n)');
  const write = libc.func('long write(int fd, void *buf, unsigned long n)');
  const poll = libc.func('int poll(void *fds, unsigned long n, int timeout)');
  const eventfd = libc.func('int eventfd(unsigned int initval, int flags)');

  const fail = (syscall: string, what: string): never => {
    const errno = koffi.errno();
    const e = new Error(`${syscall} ${what}: errno ${errno}`) as SysError;
    e.errno = errno;
    e.syscall = syscall;
    throw e;
  };
  const ifreq = (name: string): Buffer => {
    const b = Buffer.alloc(IFREQ_SIZE);
    b.write(name, 0, 15, 'latin1');
    return b;
  };
  const ifIoctl = (req: number, r: Buffer, what: string): void => {
    const s = socket(AF_INET, SOCK_DGRAM | O_CLOEXEC, 0);
    if (s < 0) fail('socket', 'AF_INET');
    const rc = ioctl(s, req, r);
    if (rc < 0) {
      const errno = koffi.errno();
      close(s);
      const e = new Error(`${what}: errno ${errno}`) as SysError;
      e.errno = errno;
      e.syscall = what;
      throw e;
    }
    close(s);
  };

  return {
    open(name) {
      const fd = open('/dev/net/tun', O_RDWR | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0) fail('open', '/dev/net/tun');
      const r = ifreq(name);
      r.writeUInt16LE(IFF_TAP | IFF_NO_PI, 16);
      if (ioctl(fd, TUNSETIFF, r) < 0) {
        const errno = koffi.errno();
        close(fd);
        const e = new Error(`ioctl(TUNSETIFF) ${name}: errno ${errno}`) as SysError;
        e.errno = errno;
        e.syscall = 'ioctl(TUNSETIFF)';
        throw e;
      }
      if (ioctl(fd, TUNSETPERSIST, null) < 0) fail('ioctl(TUNSETPERSIST)', name);
      return fd;
    },
    setMac(name, mac) {
      const r = ifreq(name);
      r.writeUInt16LE(ARPHRD_ETHER, 16);
      r.set(mac, 18);
      ifIoctl(SIOCSIFHWADDR, r, 'ioctl(SIOCSIFHWADDR)');
    },
    setMtu(name, mtu) {
      const r = ifreq(name);
      r.writeInt32LE(mtu, 16);
      ifIoctl(SIOCSIFMTU, r, 'ioctl(SIOCSIFMTU)');
    },
    setUp(name) {
      const r = ifreq(name);
      ifIoctl(SIOCGIFFLAGS, r, 'ioctl(SIOCGIFFLAGS)');
      r.writeUInt16LE(r.readUInt16LE(16) | IFF_UP | IFF_MULTICAST, 16);
      ifIoctl(SIOCSIFFLAGS, r, 'ioctl(SIOCSIFFLAGS)');
    },
    write(fd, frame) {
      const n = write(fd, frame, frame.byteLength);
      return n < 0 ? -koffi.errno() : n;
    },
    close(fd) {
      if (close(fd) < 0) fail('close', 'TAP fd');
    },
    read(fd, frameMax, onFrame, onFail): TapReader {
      const wake = eventfd(0, O_NONBLOCK | O_CLOEXEC);
      if (wake < 0) fail('eventfd', '');
      const fds = Buffer.alloc(16);
      fds.writeInt32LE(fd, 0);
      fds.writeInt16LE(POLLIN, 4);
      fds.writeInt32LE(wake, 8);
      fds.writeInt16LE(POLLIN, 12);
      const scratch = Buffer.alloc(frameMax + 1);
      let stopped = false;
      const arm = (): void => {
        fds.writeInt16LE(0, 6);
        fds.writeInt16LE(0, 14);
        poll.async(fds, 2, -1, (err: unknown) => {
          if (stopped) {
            close(wake);
            return;
          }
          if (err) return onFail(EINTR);
          for (let i = 0; i < READ_BATCH; i++) {
            const n = read(fd, scratch, frameMax + 1);
            if (n < 0) {
              const errno = koffi.errno();
              if (errno === EINTR) continue;
              if (errno === EAGAIN) break;
              stopped = true;
              close(wake);
              return onFail(errno);
            }
            onFrame(Buffer.from(scratch.subarray(0, n)));
            if (stopped) {
              close(wake);
              return;
            }
          }
          arm();
        });
      };
      arm();
      return {
        stop() {
          if (stopped) return;
          stopped = true;
          const one = Buffer.alloc(8);
          one.writeBigUInt64LE(1n);
          write(wake, one, 8);
        },
      };
    },
  };
}

/** For `ztroot bench tap` with ZTROOT_BENCH_TAP_SYS=<this module>. */
export function benchTapSys(): [string, TapSys] {
  return ['koffi', koffiTapSys()];
}
