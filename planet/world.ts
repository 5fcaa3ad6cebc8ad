/**
 * Worlds: planets (type 1) and moons (type 127) — codec, signing and the update rule.
 *
 * Wire layout (`World::serialize/deserialize` in `node/World.hpp`; shared/protocol/vl1.md §8.1):
 *
 *   type[1] (1 planet, 127 moon) | id[8] | timestamp[8] (ms) | updatesMustBeSignedBy[64]
 *   | signature[96] | rootCount[1] (≤ 4)
 *   | per root: identity[71] (public only) | endpointCount[1] (≤ 32) | endpoints (InetAddress, 7 or 19 bytes each)
 *   | moons only: dictionaryLength[2] | dictionary (skipped by ZeroTier; always written empty)
 *
 * Signed message (`World::make`, §8.2) = 7f×8 ‖ the same fields without the signature ‖ f7×8, signed with
 * `C25519::sign` by the key named in the *previous* world's `updatesMustBeSignedBy`.
 *
 * Pure: no I/O. Every failure on bad bytes is a {@link ZtError} whose message names the field.
 */
import { ByteReader, ByteWriter, equalBytes, toHex } from '../vl1/bytes.js';
import { c25519PublicFromPrivate, c25519Sign, c25519Verify } from '../vl1/c25519.js';
import {
  C25519_PRIVATE_KEY_LENGTH,
  C25519_PUBLIC_KEY_LENGTH,
  C25519_SIGNATURE_LENGTH,
  WORLD_MAX_ROOTS,
  WORLD_MAX_SERIALIZED_LENGTH,
  WORLD_MAX_STABLE_ENDPOINTS_PER_ROOT,
} from '../vl1/constants.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { Identity } from '../vl1/identity.js';
import {
  formatInetAddress,
  inetAddressWireLength,
  readInetAddress,
  writeInetAddress,
  type InetAddress,
} from '../vl1/inet-address.js';

/** World type byte values (`World::Type` in `node/World.hpp`). */
export const WORLD_TYPE_PLANET = 1;
export const WORLD_TYPE_MOON = 127;
export type WorldType = 'planet' | 'moon';

/** Bytes before and after the fields in the signed message (`World::serialize(..., forSign=true)`). */
const SIGN_PREFIX = new Uint8Array(8).fill(0x7f);
const SIGN_SUFFIX = new Uint8Array(8).fill(0xf7);
/** Largest timestamp we represent exactly as a JS number. */
const MAX_TIMESTAMP = Number.MAX_SAFE_INTEGER;

export interface WorldRoot {
  /** Public identity of the root (worlds never carry private keys). */
  identity: Identity;
  /** Addresses clients send HELLO to; a client uses the root only from these IPs (§7.3). */
  stableEndpoints: InetAddress[];
}

export interface World {
  type: WorldType;
  /** 64-bit world id (a planet's id must stay the same across updates). */
  id: bigint;
  /** Milliseconds since the epoch; acts as the revision number. */
  timestamp: number;
  /** C25519 public key (64) the NEXT update must be signed with; only its Ed25519 half is used. */
  updatesMustBeSignedBy: Uint8Array;
  /** 96-byte C25519 signature by the previous world's update key. */
  signature: Uint8Array;
  roots: WorldRoot[];
  /**
   * Moons only: the dictionary bytes 1.14 skips on read. ZeroTier always writes it empty and never signs it
   * (its in-memory World forgets the bytes), so it is kept only to give back the bytes we were given.
   */
  moonDictionary?: Uint8Array;
}

/** A world before signing: the signature is ignored if present. */
export type UnsignedWorld = Omit<World, 'signature'> & { signature?: Uint8Array };

/** A C25519 key pair as mkworld keeps it: public 64 (x25519 ‖ ed25519) and private 64 (x25519 ‖ ed25519 seed). */
export interface SigningKeyPair {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

function hexAddress(a: number): string {
  return a.toString(16).padStart(10, '0');
}

function typeByte(t: WorldType): number {
  return t === 'planet' ? WORLD_TYPE_PLANET : WORLD_TYPE_MOON;
}

/** "planet 0x000000005eed00b0" — how messages name a world. */
export function describeWorld(w: Pick<World, 'type' | 'id' | 'timestamp'>): string {
  return `${w.type} ${w.id.toString(16).padStart(16, '0')} @ ${w.timestamp}`;
}

/**
 * Reads one world at the reader's position and consumes exactly its bytes.
 * @throws {ZtError} TRUNCATED, BAD_VALUE (type, endpoint type, private key, timestamp), TOO_LONG (limits).
 */
export function readWorld(r: ByteReader): World {
  const start = r.pos;
  const t = r.u8('world type');
  let type: WorldType;
  if (t === WORLD_TYPE_PLANET) type = 'planet';
  else if (t === WORLD_TYPE_MOON) type = 'moon';
  else {
    // World::deserialize also knows TYPE_NULL (0), but Topology::addWorld accepts only planets and moons.
    throw new ZtError(ZtErrorCode.BAD_VALUE, `world type: ${t} is neither a planet (1) nor a moon (127)`);
  }
  const id = r.u64('world id');
  const ts = r.u64('world timestamp');
  if (ts > BigInt(MAX_TIMESTAMP)) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `world timestamp: ${ts} ms is beyond any real time (max ${MAX_TIMESTAMP})`);
  }
  const updatesMustBeSignedBy = r.bytes(C25519_PUBLIC_KEY_LENGTH, 'world updatesMustBeSignedBy').slice();
  const signature = r.bytes(C25519_SIGNATURE_LENGTH, 'world signature').slice();
  const rootCount = r.u8('world root count');
  if (rootCount > WORLD_MAX_ROOTS) {
    throw new ZtError(ZtErrorCode.TOO_LONG, `world root count: ${rootCount} roots, limit is ${WORLD_MAX_ROOTS} (ZT_WORLD_MAX_ROOTS)`);
  }
  const roots: WorldRoot[] = [];
  for (let i = 0; i < rootCount; i++) {
    const n = i + 1;
    let identity: Identity;
    try {
      identity = Identity.read(r);
    } catch (e) {
      if (e instanceof ZtError) throw new ZtError(e.code, `root ${n} identity: ${e.message}`, { cause: e });
      throw e;
    }
    if (identity.privateKey !== null) {
      // ZeroTier writes roots public-only; a secret here is a leak and would not survive re-serialization.
      throw new ZtError(ZtErrorCode.BAD_VALUE, `root ${n} identity: carries a private key; worlds hold public identities only`);
    }
    const epCount = r.u8(`root ${n} endpoint count`);
    if (epCount > WORLD_MAX_STABLE_ENDPOINTS_PER_ROOT) {
      throw new ZtError(
        ZtErrorCode.TOO_LONG,
        `root ${n}: ${epCount} stable endpoints, limit is ${WORLD_MAX_STABLE_ENDPOINTS_PER_ROOT} (ZT_WORLD_MAX_STABLE_ENDPOINTS_PER_ROOT)`,
      );
    }
    const stableEndpoints: InetAddress[] = [];
    for (let j = 0; j < epCount; j++) {
      const what = `root ${n} endpoint ${j + 1}`;
      if (r.remaining < 1) r.u8(what); // throws TRUNCATED naming the endpoint
      const at = r.buf[r.pos]!;
      // Only IPv4/IPv6 make sense as a root's endpoint; nil and the skipped placeholder types would not
      // round-trip byte for byte, and no ZeroTier generator writes them.
      if (at !== 0x04 && at !== 0x06) {
        throw new ZtError(ZtErrorCode.BAD_VALUE, `${what}: address type 0x${at.toString(16).padStart(2, '0')} is not IPv4 (0x04) or IPv6 (0x06)`);
      }
      const epStart = r.pos;
      let a: InetAddress | null;
      try {
        a = readInetAddress(r);
      } catch (e) {
        if (e instanceof ZtError) throw new ZtError(e.code, `${what}: ${e.message}`, { cause: e });
        throw e;
      }
      if (a === null) throw new ZtError(ZtErrorCode.BAD_VALUE, `${what}: empty address`);
      if (inetAddressWireLength(a) !== r.pos - epStart) {
        // writeInetAddress writes an IPv4-mapped IPv6 address as type 4 (§5.1), so this one could not be
        // written back byte for byte (and its signature would then fail); no generator makes it.
        throw new ZtError(ZtErrorCode.BAD_VALUE, `${what}: IPv4-mapped IPv6 address ${a.ip} (write it as IPv4)`);
      }
      stableEndpoints.push(a);
    }
    roots.push({ identity, stableEndpoints });
  }
  const world: World = { type, id, timestamp: Number(ts), updatesMustBeSignedBy, signature, roots };
  if (type === 'moon') {
    const dictLen = r.u16('moon dictionary length');
    if (r.pos - start + dictLen > WORLD_MAX_SERIALIZED_LENGTH) {
      throw new ZtError(
        ZtErrorCode.TOO_LONG,
        `moon dictionary: ${dictLen} bytes make the world ${r.pos - start + dictLen} bytes, limit is ${WORLD_MAX_SERIALIZED_LENGTH}`,
      );
    }
    world.moonDictionary = r.bytes(dictLen, 'moon dictionary').slice();
  }
  return world;
}

/**
 * Parses a buffer holding exactly one world (a `planet` or `*.moon` file).
 * @throws {ZtError} TOO_LONG over 8480 bytes, TRAILING_BYTES after the world, or any {@link readWorld} error.
 */
export function parseWorld(bytes: Uint8Array): World {
  if (bytes.length > WORLD_MAX_SERIALIZED_LENGTH) {
    // World::deserialize works in a Buffer<ZT_WORLD_MAX_SERIALIZED_LENGTH>: nothing longer can be a world.
    throw new ZtError(ZtErrorCode.TOO_LONG, `world: ${bytes.length} bytes, limit is ${WORLD_MAX_SERIALIZED_LENGTH} (ZT_WORLD_MAX_SERIALIZED_LENGTH)`);
  }
  const r = new ByteReader(bytes);
  const w = readWorld(r);
  r.expectEnd(`${describeWorld(w)}: world ends at byte ${r.pos}`);
  return w;
}

/**
 * Parses worlds back to back until the end (the world-update blob of OK(HELLO), §5.4).
 * @throws {ZtError} as {@link readWorld}.
 */
export function parseWorlds(bytes: Uint8Array): World[] {
  const r = new ByteReader(bytes);
  const out: World[] = [];
  while (r.remaining > 0) {
    try {
      out.push(readWorld(r));
    } catch (e) {
      if (e instanceof ZtError) throw new ZtError(e.code, `world ${out.length + 1}: ${e.message}`, { cause: e });
      throw e;
    }
  }
  return out;
}

function checkLimits(w: UnsignedWorld): void {
  if (w.type !== 'planet' && w.type !== 'moon') {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `world type: "${String(w.type)}" is neither "planet" nor "moon"`);
  }
  if (w.id < 0n || w.id > 0xffffffffffffffffn) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `world id: ${w.id} does not fit in 64 bits`);
  }
  if (!Number.isSafeInteger(w.timestamp) || w.timestamp < 0) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `world timestamp: ${w.timestamp} is not a non-negative integer of ms`);
  }
  if (w.updatesMustBeSignedBy.length !== C25519_PUBLIC_KEY_LENGTH) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `updatesMustBeSignedBy: ${w.updatesMustBeSignedBy.length} bytes, must be ${C25519_PUBLIC_KEY_LENGTH}`);
  }
  if (w.roots.length > WORLD_MAX_ROOTS) {
    throw new ZtError(ZtErrorCode.TOO_LONG, `world: ${w.roots.length} roots, limit is ${WORLD_MAX_ROOTS} (ZT_WORLD_MAX_ROOTS)`);
  }
  w.roots.forEach((root, i) => {
    if (root.stableEndpoints.length > WORLD_MAX_STABLE_ENDPOINTS_PER_ROOT) {
      throw new ZtError(
        ZtErrorCode.TOO_LONG,
        `root ${i + 1} (${hexAddress(root.identity.address)}): ${root.stableEndpoints.length} stable endpoints, limit is ${WORLD_MAX_STABLE_ENDPOINTS_PER_ROOT} (ZT_WORLD_MAX_STABLE_ENDPOINTS_PER_ROOT)`,
      );
    }
  });
  if (w.type === 'planet' && w.moonDictionary && w.moonDictionary.length > 0) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, 'planet: only moons carry a dictionary');
  }
  if (w.moonDictionary && w.moonDictionary.length > 0xffff) {
    throw new ZtError(ZtErrorCode.TOO_LONG, `moon dictionary: ${w.moonDictionary.length} bytes, limit is 65535`);
  }
}

/**
 * Exact byte length of what {@link writeFields} writes. The writer is sized with it up front: ByteWriter's
 * growth path (vl1/bytes.ts) evaluates `this.buf` before `room()` reallocates, so a write that makes it grow
 * lands in the discarded buffer — never letting it grow sidesteps that.
 */
function fieldsLength(world: UnsignedWorld, withSignature: boolean): number {
  let n = 1 + 8 + 8 + C25519_PUBLIC_KEY_LENGTH + (withSignature ? C25519_SIGNATURE_LENGTH : 0) + 1;
  for (const root of world.roots) {
    n += 71 + 1; // public identity (§2.2) + endpoint count
    for (const ep of root.stableEndpoints) n += inetAddressWireLength(ep);
  }
  if (world.type === 'moon') n += 2 + (withSignature ? (world.moonDictionary?.length ?? 0) : 0);
  return n;
}

function writeFields(w: ByteWriter, world: UnsignedWorld, signature: Uint8Array | null): void {
  w.u8(typeByte(world.type));
  w.u64(world.id);
  w.u64(BigInt(world.timestamp));
  w.bytes(world.updatesMustBeSignedBy);
  if (signature) w.bytes(signature);
  w.u8(world.roots.length);
  for (const root of world.roots) {
    w.bytes(root.identity.toBinary(false));
    w.u8(root.stableEndpoints.length);
    for (const ep of root.stableEndpoints) writeInetAddress(w, ep);
  }
  if (world.type === 'moon') {
    // World::serialize always writes an empty dictionary; the signed message therefore covers length 0.
    const dict = signature ? (world.moonDictionary ?? new Uint8Array(0)) : new Uint8Array(0);
    w.u16(dict.length);
    w.bytes(dict);
  }
}

/**
 * The world's bytes: the file/wire form, or with `forSigning` the exact message the signature covers.
 * @throws {ZtError} TOO_LONG (over 4 roots, 32 endpoints per root, 8480 bytes), BAD_VALUE (malformed fields).
 */
export function serializeWorld(world: World | UnsignedWorld, opts: { forSigning?: boolean } = {}): Uint8Array {
  checkLimits(world);
  const w = new ByteWriter(fieldsLength(world, !opts.forSigning) + SIGN_PREFIX.length + SIGN_SUFFIX.length);
  if (opts.forSigning) {
    w.bytes(SIGN_PREFIX);
    writeFields(w, world, null);
    w.bytes(SIGN_SUFFIX);
    return w.finish();
  }
  const sig = world.signature;
  if (!sig || sig.length !== C25519_SIGNATURE_LENGTH) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `${describeWorld(world)}: signature must be ${C25519_SIGNATURE_LENGTH} bytes, got ${sig ? sig.length : 'none'}`);
  }
  writeFields(w, world, sig);
  const out = w.finish();
  if (out.length !== fieldsLength(world, true)) {
    // A contract slip (e.g. an endpoint whose family does not match its bytes) must not reach a file.
    throw new ZtError(ZtErrorCode.BAD_VALUE, `${describeWorld(world)}: serialized to ${out.length} bytes, expected ${fieldsLength(world, true)}`);
  }
  if (out.length > WORLD_MAX_SERIALIZED_LENGTH) {
    throw new ZtError(ZtErrorCode.TOO_LONG, `${describeWorld(world)}: ${out.length} bytes, limit is ${WORLD_MAX_SERIALIZED_LENGTH} (ZT_WORLD_MAX_SERIALIZED_LENGTH)`);
  }
  return out;
}

/**
 * Signs a world with `signer` (the key named by the PREVIOUS world's updatesMustBeSignedBy, or for a first
 * world any key — usually the one it names itself) and returns the signed world.
 * @throws {ZtError} BAD_VALUE if the key pair is malformed or its halves do not match; limit errors as {@link serializeWorld}.
 */
export function signWorld(unsigned: UnsignedWorld, signer: SigningKeyPair): World {
  checkKeyPair(signer, 'signing key');
  const msg = serializeWorld(unsigned, { forSigning: true });
  const world: World = { ...unsigned, signature: c25519Sign(signer.privateKey, msg) };
  serializeWorld(world); // enforce the size limit on the final form now rather than at write time
  return world;
}

/**
 * Checks that `pair.publicKey` is the public key of `pair.privateKey`.
 * @throws {ZtError} BAD_VALUE naming `what`.
 */
export function checkKeyPair(pair: SigningKeyPair, what: string): void {
  if (pair.publicKey.length !== C25519_PUBLIC_KEY_LENGTH || pair.privateKey.length !== C25519_PRIVATE_KEY_LENGTH) {
    throw new ZtError(
      ZtErrorCode.BAD_VALUE,
      `${what}: public/private must be ${C25519_PUBLIC_KEY_LENGTH}/${C25519_PRIVATE_KEY_LENGTH} bytes, got ${pair.publicKey.length}/${pair.privateKey.length}`,
    );
  }
  if (!equalBytes(c25519PublicFromPrivate(pair.privateKey), pair.publicKey)) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `${what}: public half ${toHex(pair.publicKey).slice(0, 16)}… does not belong to its private half`);
  }
}

/** True if the world's signature verifies with `publicKey64` (only its Ed25519 half matters). */
export function verifyWorldSignature(world: World, publicKey64: Uint8Array): boolean {
  let msg: Uint8Array;
  try {
    msg = serializeWorld(world, { forSigning: true });
  } catch {
    return false;
  }
  return c25519Verify(publicKey64, msg, world.signature);
}

/** Why an update is refused (stable strings for tools and metrics). */
export type WorldUpdateRejection = 'other-type' | 'other-id' | 'not-newer' | 'bad-signature';

/** Outcome of {@link worldUpdateVerdict}. */
export type WorldUpdateVerdict = { accepted: true } | { accepted: false; reason: WorldUpdateRejection; message: string };

/**
 * Would a node holding `current` replace it with `next`? (`World::shouldBeReplacedBy`, `Topology::addWorld`, §8.3:
 * same type, same id, strictly newer timestamp, signed by `current.updatesMustBeSignedBy`.)
 */
export function worldUpdateVerdict(current: World, next: World): WorldUpdateVerdict {
  if (next.type !== current.type) {
    return { accepted: false, reason: 'other-type', message: `update is a ${next.type} but the held world is a ${current.type}` };
  }
  if (next.id !== current.id) {
    return {
      accepted: false,
      reason: 'other-id',
      message: `update has world id ${next.id.toString(16).padStart(16, '0')} but the held ${current.type} is ${current.id.toString(16).padStart(16, '0')}`,
    };
  }
  if (!(next.timestamp > current.timestamp)) {
    return {
      accepted: false,
      reason: 'not-newer',
      message: `update timestamp ${next.timestamp} is not newer than the held ${current.type}'s ${current.timestamp}`,
    };
  }
  if (!verifyWorldSignature(next, current.updatesMustBeSignedBy)) {
    return {
      accepted: false,
      reason: 'bad-signature',
      message: `update is not signed by the held ${current.type}'s update key ${toHex(current.updatesMustBeSignedBy.subarray(32, 64)).slice(0, 16)}… (Ed25519 half)`,
    };
  }
  return { accepted: true };
}

/**
 * Throws unless a node holding `current` would accept `next` as its replacement.
 * @throws {ZtError} WORLD_UPDATE_REJECTED with the reason (other type / other id / not newer / bad signature).
 */
export function checkWorldUpdate(current: World, next: World): void {
  const v = worldUpdateVerdict(current, next);
  if (!v.accepted) throw new ZtError(ZtErrorCode.WORLD_UPDATE_REJECTED, `${describeWorld(next)} rejected: ${v.message}`);
}

/**
 * Would a node that ran `zerotier-cli orbit <orbitId> <seed>` and holds no moon of that id accept `moon`?
 * (`Topology::addWorld`, §8.3: it must be a moon with that id, and one of its roots must be the seed.)
 * @throws {ZtError} WORLD_UPDATE_REJECTED naming what does not match.
 */
export function checkNewMoon(moon: World, orbitId: bigint, seed: number): void {
  const name = describeWorld(moon);
  if (moon.type !== 'moon') throw new ZtError(ZtErrorCode.WORLD_UPDATE_REJECTED, `${name} rejected: not a moon`);
  if (moon.id !== orbitId) {
    throw new ZtError(ZtErrorCode.WORLD_UPDATE_REJECTED, `${name} rejected: id is not the orbited id ${orbitId.toString(16).padStart(16, '0')}`);
  }
  if (!moon.roots.some((r) => r.identity.address === seed)) {
    throw new ZtError(ZtErrorCode.WORLD_UPDATE_REJECTED, `${name} rejected: seed ${hexAddress(seed)} is not one of its roots`);
  }
}

/** Text form of a root's endpoints, "ip/port" each. */
export function formatEndpoints(root: WorldRoot): string[] {
  return root.stableEndpoints.map(formatInetAddress);
}
