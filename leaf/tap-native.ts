/**
 * {@link TapSys} through ztroot's native addon (native/tap/tap.cc, built by `npm install` when a C++ toolchain is
 * there, see native/tap/build.mjs). Chosen over an FFI package by measurement: see native/tap/README.md.
 *
 * Reading: the addon watches the non-blocking fd with a libuv poll handle — the event loop's own epoll, so no
 * thread is held and nothing polls — and on each readable event reads every queued frame (up to
 * {@link READ_BATCH}) into one buffer handed to JS in one call; frames are views into it.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TapReader, TapSys } from './tap-sys.js';

/** Where `npm install` (or `npm run build:native`) leaves the addon. */
export const ADDON_PATH = fileURLToPath(new URL('../../native/tap/build/Release/tap.node', import.meta.url));
/** The checkout the addon belongs to (where `npm run build:native` runs). */
const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url));

/** Frames read per readable event before the loop gets a turn (the rest is read on the next one). */
export const READ_BATCH = 64;

interface Addon {
  open(name: string): number;
  setMac(name: string, mac: Uint8Array): void;
  setMtu(name: string, mtu: number): void;
  setUp(name: string): void;
  write(fd: number, frame: Uint8Array): number;
  close(fd: number): void;
  Reader: new (fd: number, frameMax: number, batchMax: number, onBatch: (batch: Buffer, count: number, errno: number) => void) => { stop(): void };
}

let loaded: { addon: Addon } | { why: string } | undefined;

function load(): { addon: Addon } | { why: string } {
  if (loaded) return loaded;
  const build = `install g++, make and python3, then run \`npm run build:native\` in ${REPO_DIR}`;
  if (!existsSync(ADDON_PATH)) {
    loaded = { why: `the TAP addon is not built (${ADDON_PATH} is missing): ${build}` };
  } else {
    try {
      loaded = { addon: createRequire(import.meta.url)(ADDON_PATH) as Addon };
    } catch (e) {
      loaded = { why: `the TAP addon ${ADDON_PATH} does not load (${(e as Error).message.split('\n')[0]}): ${build}` };
    }
  }
  return loaded;
}

/** Why the addon cannot be used (not built, does not load, with how to build it), or null. */
export function nativeUnavailableReason(): string | null {
  const l = load();
  return 'why' in l ? l.why : null;
}

/**
 * The addon as a {@link TapSys}.
 * @throws Error with {@link nativeUnavailableReason}'s text when the addon is missing
 */
export function nativeTapSys(): TapSys {
  const l = load();
  if ('why' in l) throw new Error(l.why);
  const a = l.addon;
  return {
    open: (name) => a.open(name),
    setMac: (name, mac) => a.setMac(name, mac),
    setMtu: (name, mtu) => a.setMtu(name, mtu),
    setUp: (name) => a.setUp(name),
    write: (fd, frame) => a.write(fd, frame),
    close: (fd) => a.close(fd),
    read(fd, frameMax, onFrame, onFail): TapReader {
      let stopped = false;
      const reader = new a.Reader(fd, frameMax, READ_BATCH, (batch, count, errno) => {
        // Each frame is [u16 length][bytes]; views share the batch buffer, which is never reused.
        let o = 0;
        for (let i = 0; i < count && !stopped; i++) {
          const len = (batch[o]! << 8) | batch[o + 1]!;
          onFrame(batch.subarray(o + 2, o + 2 + len));
          o += 2 + len;
        }
        if (errno !== 0 && !stopped) {
          stopped = true;
          onFail(errno);
        }
      });
      return {
        stop() {
          stopped = true;
          reader.stop();
        },
      };
    },
  };
}
