/**
 * ZeroTier's Dictionary: the `key=value` text that carries network configs, NETWORK_CONFIG_REQUEST metadata and
 * controller error data (`node/Dictionary.hpp`; shared/protocol/vl2.md §3.1).
 *
 *   entries separated by one LF, no trailing LF, the whole a C string (nothing after a NUL counts);
 *   value escaping on write:  NUL → \0   CR → \r   LF → \n   \ → \\   = → \e   (every other byte raw)
 *   on read a value ends at NUL, CR or LF; "\x" gives r→CR, n→LF, 0→NUL, e→'=', any other x → x
 *   integers: 16 lowercase hex digits (addresses 10), read like strtoull(s, 16) over the first 127 bytes
 *   booleans: "1"/"0", read as true iff the first byte is '1', 't' or 'T'
 *
 * Lookup is linear and the FIRST entry with the key wins (a key matches only when a whole line starts with it and
 * '='), so {@link Dictionary.parse} keeps duplicates and {@link Dictionary.get} returns the first.
 * Keys are handled as byte strings (latin1); values as bytes.
 */
import { ZtError, ZtErrorCode } from '../errors.js';
import { checkInt } from '../verbs/common.js';

const LF = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;
const EQUALS = 0x3d;

/** Bytes of a value `Dictionary::getUI` looks at: it reads into a 128-byte buffer (127 + NUL). */
const INT_VALUE_MAX_BYTES = 127;

export type DictionaryValue = Uint8Array | string | bigint | number | boolean;

export class Dictionary {
  /** Entries in order, values unescaped. Duplicated keys are kept; lookups see the first. */
  readonly entries: Array<[key: string, value: Uint8Array]> = [];

  /**
   * Reads dictionary text as 1.14 does. Never fails: any byte string is a (possibly useless) dictionary.
   * Values are copies (the input can be reused).
   */
  static parse(text: Uint8Array): Dictionary {
    const d = new Dictionary();
    let end = text.indexOf(0);
    if (end < 0) end = text.length;
    let i = 0;
    while (i < end) {
      let eol = i;
      while (eol < end && text[eol] !== LF && text[eol] !== CR) eol++;
      const eq = text.subarray(i, eol).indexOf(EQUALS);
      if (eq >= 0) d.entries.push([latin1(text.subarray(i, i + eq)), unescape(text.subarray(i + eq + 1, eol))]);
      i = eol + 1;
    }
    return d;
  }

  /** The first value under `key`, or undefined. */
  get(key: string): Uint8Array | undefined {
    for (const [k, v] of this.entries) if (k === key) return v;
    return undefined;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /**
   * `Dictionary::getUI`: the value read as hex the way strtoull does (leading space, sign, "0x", stops at the first
   * non-hex byte, saturates at 2^64 − 1); undefined when the key is absent or its value is empty.
   */
  getU64(key: string): bigint | undefined {
    const v = this.get(key);
    if (v === undefined || v.length === 0) return undefined;
    return parseHexU64(v.subarray(0, INT_VALUE_MAX_BYTES));
  }

  /** `Dictionary::getB`: present → its first byte is '1', 't' or 'T' (an empty value is false). */
  getBool(key: string): boolean | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    return v[0] === 0x31 || v[0] === 0x74 || v[0] === 0x54;
  }

  /**
   * The value as a C string of at most `maxBytes` bytes (1.14 copies into a fixed buffer and stops at a NUL),
   * decoded as UTF-8 (invalid sequences become U+FFFD).
   */
  getString(key: string, maxBytes = Number.MAX_SAFE_INTEGER): string | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    let n = v.indexOf(0);
    if (n < 0) n = v.length;
    return new TextDecoder().decode(v.subarray(0, Math.min(n, maxBytes)));
  }

  /**
   * Appends an entry, as `Dictionary::add` does: bytes as given, strings as UTF-8, integers (bigint or number) as
   * 16 lowercase hex digits, booleans as "1"/"0".
   * @throws {ZtError} BAD_VALUE for a key with '=', CR, LF or NUL (or empty), or an integer outside 0..2^64−1.
   */
  add(key: string, value: DictionaryValue): this {
    checkKey(key);
    let bytes: Uint8Array;
    if (value instanceof Uint8Array) bytes = value;
    else if (typeof value === 'string') bytes = new TextEncoder().encode(value);
    else if (typeof value === 'boolean') bytes = new Uint8Array([value ? 0x31 : 0x30]);
    else bytes = ascii(hex64(value, key));
    this.entries.push([key, bytes]);
    return this;
  }

  /** Appends a ZeroTier address as 10 hex digits (how `id` and `tt` are written). @throws {ZtError} BAD_VALUE */
  addAddress(key: string, address: number): this {
    checkInt(address, 0xffffffffff, `dictionary key "${key}"`);
    checkKey(key);
    this.entries.push([key, ascii(address.toString(16).padStart(10, '0'))]);
    return this;
  }

  /** The escaped text (no trailing LF, no NUL). */
  encode(): Uint8Array {
    let n = 0;
    for (const [k, v] of this.entries) {
      n += k.length + 2; // key, '=', LF
      for (const b of v) n += needsEscape(b) ? 2 : 1;
    }
    const out = new Uint8Array(Math.max(0, n - 1));
    let o = 0;
    this.entries.forEach(([k, v], idx) => {
      if (idx > 0) out[o++] = LF;
      for (let i = 0; i < k.length; i++) out[o++] = k.charCodeAt(i);
      out[o++] = EQUALS;
      for (const b of v) {
        if (needsEscape(b)) {
          out[o++] = BACKSLASH;
          out[o++] = b === 0 ? 0x30 : b === CR ? 0x72 : b === LF ? 0x6e : b === EQUALS ? 0x65 : BACKSLASH;
        } else out[o++] = b;
      }
    });
    return out;
  }
}

function needsEscape(b: number): boolean {
  return b === 0 || b === CR || b === LF || b === BACKSLASH || b === EQUALS;
}

function unescape(raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(raw.length);
  let o = 0;
  let esc = false;
  for (const b of raw) {
    if (esc) {
      esc = false;
      out[o++] = b === 0x72 ? CR : b === 0x6e ? LF : b === 0x30 ? 0 : b === 0x65 ? EQUALS : b;
    } else if (b === BACKSLASH) esc = true;
    else out[o++] = b;
  }
  // A trailing lone backslash escapes nothing and is dropped, as in `Dictionary::get`.
  return out.slice(0, o);
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > 256 || !/^[\x01-\x09\x0b\x0c\x0e-\x3c\x3e-\xff]+$/.test(key)) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `dictionary key "${String(key).slice(0, 40)}": must be 1..256 bytes without '=', CR, LF or NUL`);
  }
}

function hex64(v: bigint | number, key: string): string {
  const b = typeof v === 'number' ? (Number.isSafeInteger(v) && v >= 0 ? BigInt(v) : -1n) : v;
  if (typeof b !== 'bigint' || b < 0n || b > 0xffffffffffffffffn) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `dictionary key "${key}": ${String(v)} is not an integer in 0..2^64−1`);
  }
  return b.toString(16).padStart(16, '0');
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return s;
}

function ascii(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

const U64_MAX = 0xffffffffffffffffn;

/**
 * strtoull(s, NULL, 16) on a byte string (what `Utils::hexStrToU64` is on Linux): optional leading white space,
 * optional sign, optional "0x"; hex digits up to the first other byte; no digits → 0; overflow → 2^64 − 1;
 * a '-' negates modulo 2^64.
 */
export function parseHexU64(s: Uint8Array): bigint {
  let i = 0;
  while (i < s.length && (s[i] === 0x20 || (s[i]! >= 0x09 && s[i]! <= 0x0d))) i++;
  let neg = false;
  if (s[i] === 0x2b || s[i] === 0x2d) neg = s[i++] === 0x2d;
  if (s[i] === 0x30 && (s[i + 1] === 0x78 || s[i + 1] === 0x58) && hexDigit(s[i + 2]) >= 0) i += 2;
  let v = 0n;
  let overflow = false;
  for (let d = hexDigit(s[i]); d >= 0; d = hexDigit(s[++i])) {
    if (overflow) continue;
    v = (v << 4n) | BigInt(d);
    if (v > U64_MAX) overflow = true;
  }
  if (overflow) return U64_MAX;
  return neg ? (-v) & U64_MAX : v;
}

function hexDigit(b: number | undefined): number {
  if (b === undefined) return -1;
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  return -1;
}
