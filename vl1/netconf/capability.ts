/**
 * Capability credential (`node/Capability.hpp/.cpp`; shared/protocol/vl2.md §4.5): a rule table the controller
 * grants a member, evaluated when the network's own table does not match.
 *
 *   nwid u64 | timestamp u64 | id u32 | ruleCount u16 (≤ 64) | rules | maxCustodyChainLength[1] (1..7)
 *   | custody entries: to[5] | from[5] | sigType[1] | sigLength u16 | sig     — ended by a to[5] of zeros
 *   | extLength u16 | ext
 *
 * Signed (by every custody entry, the same message): 7f×8 ‖ nwid … maxCustodyChainLength ‖ 0000 ‖ 7f×8 — the
 * chain itself is not covered. The first entry must come from the controller; each later one from the previous
 * holder. 1.14 controllers issue chains of length 1.
 */
import { networkController } from '../address.js';
import { ByteReader, ByteWriter } from '../bytes.js';
import { ZtError, ZtErrorCode } from '../errors.js';
import type { Identity } from '../identity.js';
import { checkInt, readSafeU64, writeAddress, writeLengthPrefixed, writeSafeU64, writeU64 } from '../verbs/common.js';
import { MAX_CAPABILITY_CUSTODY_CHAIN_LENGTH, MAX_CAPABILITY_RULES } from './constants.js';
import { framedForSigning, readExtension, readSignatureBlock, SIGNATURE_TYPE_C25519, type SignatureBlock, writeSignatureBlock } from './credential.js';
import { readRuleCount, writeRules, type Rule } from './rules.js';

export interface CapabilityCustody extends SignatureBlock {
  to: number;
  from: number;
}

export interface Capability {
  networkId: bigint;
  timestamp: number;
  id: number;
  rules: Rule[];
  maxCustodyChainLength: number;
  custody: CapabilityCustody[];
  ext: Uint8Array;
}

/** Outcome of checking a credential whose signers must be looked up. */
export type CredentialCheck = 'valid' | 'invalid' | 'unknown-signer';

/**
 * Reads one Capability. @throws {ZtError} TRUNCATED; TOO_LONG above MAX_CAPABILITY_RULES rules or a chain longer
 * than its maximum; BAD_VALUE (chain maximum outside 1..7, signature length, a rule, timestamp above 2^53).
 */
export function readCapability(r: ByteReader): Capability {
  const networkId = r.u64('Capability network id');
  const timestamp = readSafeU64(r, 'Capability timestamp');
  const id = r.u32('Capability id');
  const n = r.u16('Capability rule count');
  if (n > MAX_CAPABILITY_RULES) throw new ZtError(ZtErrorCode.TOO_LONG, `Capability: ${n} rules, at most MAX_CAPABILITY_RULES = ${MAX_CAPABILITY_RULES}`);
  const rules = readRuleCount(r, n);
  const maxCustodyChainLength = r.u8('Capability max custody chain length');
  checkChainMax(maxCustodyChainLength);
  const custody: CapabilityCustody[] = [];
  for (;;) {
    const to = r.u40('Capability custody to');
    if (to === 0) break;
    if (custody.length >= maxCustodyChainLength) {
      throw new ZtError(ZtErrorCode.TOO_LONG, `Capability: custody chain longer than its maximum ${maxCustodyChainLength}`);
    }
    const from = r.u40('Capability custody from');
    custody.push({ to, from, ...readSignatureBlock(r, 'Capability custody') });
  }
  return { networkId, timestamp, id, rules, maxCustodyChainLength, custody, ext: readExtension(r, 'Capability') };
}

function checkChainMax(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_CAPABILITY_CUSTODY_CHAIN_LENGTH) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `Capability: max custody chain length ${n}, must be 1..${MAX_CAPABILITY_CUSTODY_CHAIN_LENGTH}`);
  }
}

function writeBody(w: ByteWriter, c: Capability): void {
  writeU64(w, c.networkId, 'Capability network id');
  writeSafeU64(w, c.timestamp, 'Capability timestamp');
  checkInt(c.id, 0xffffffff, 'Capability id');
  if (c.rules.length > MAX_CAPABILITY_RULES) {
    throw new ZtError(ZtErrorCode.TOO_LONG, `Capability: ${c.rules.length} rules, at most MAX_CAPABILITY_RULES = ${MAX_CAPABILITY_RULES}`);
  }
  w.u32(c.id).u16(c.rules.length);
  writeRules(w, c.rules);
  checkChainMax(c.maxCustodyChainLength);
  w.u8(c.maxCustodyChainLength);
}

/** @throws {ZtError} BAD_VALUE, TOO_LONG */
export function writeCapability(w: ByteWriter, c: Capability): void {
  writeBody(w, c);
  if (c.custody.length > c.maxCustodyChainLength) {
    throw new ZtError(ZtErrorCode.TOO_LONG, `Capability: ${c.custody.length} custody entries, its maximum is ${c.maxCustodyChainLength}`);
  }
  for (const e of c.custody) {
    if (e.to === 0) throw new ZtError(ZtErrorCode.BAD_VALUE, 'Capability custody: "to" 0 would end the chain');
    writeAddress(w, e.to, 'Capability custody to');
    writeAddress(w, e.from, 'Capability custody from');
    writeSignatureBlock(w, e, 'Capability custody');
  }
  w.u40(0);
  writeLengthPrefixed(w, c.ext, 'Capability extension');
}

export function decodeCapability(b: Uint8Array): Capability {
  const r = new ByteReader(b);
  const c = readCapability(r);
  r.expectEnd('Capability');
  return c;
}

export function encodeCapability(c: Capability): Uint8Array {
  const w = new ByteWriter(256);
  writeCapability(w, c);
  return w.finish();
}

/** What every custody entry signs. */
export function capabilitySignedMessage(c: Capability): Uint8Array {
  return framedForSigning((w) => {
    writeBody(w, c);
    w.u16(0);
  });
}

/**
 * A Capability the controller `signer` issues to `issuedTo`, with a custody chain of length 1 (as 1.14 controllers).
 * @throws {ZtError} NO_PRIVATE_KEY, BAD_VALUE, TOO_LONG.
 */
export function signCapability(c: Pick<Capability, 'networkId' | 'timestamp' | 'id' | 'rules'>, signer: Identity, issuedTo: number): Capability {
  const cap: Capability = { ...c, maxCustodyChainLength: 1, custody: [], ext: new Uint8Array(0) };
  const signature = signer.sign(capabilitySignedMessage(cap));
  cap.custody.push({ to: issuedTo, from: signer.address, signatureType: SIGNATURE_TYPE_C25519, signature });
  return cap;
}

/**
 * `Capability::verify`: the first custody entry from the network's controller, each later one from the previous
 * holder, every signature valid. `identityOf` returns a known identity or undefined ('unknown-signer': ask WHOIS).
 */
export function verifyCapability(c: Capability, identityOf: (address: number) => Identity | undefined): CredentialCheck {
  if (c.maxCustodyChainLength < 1 || c.maxCustodyChainLength > MAX_CAPABILITY_CUSTODY_CHAIN_LENGTH) return 'invalid';
  const message = capabilitySignedMessage(c);
  for (let i = 0; i < c.maxCustodyChainLength; i++) {
    const e = c.custody[i];
    if (i === 0) {
      if (e === undefined || e.to === 0 || e.from === 0 || e.from !== networkController(c.networkId)) return 'invalid';
    } else if (e === undefined) {
      return 'valid';
    } else if (e.from === 0 || e.from !== c.custody[i - 1]!.to) {
      return 'invalid';
    }
    const id = identityOf(e.from);
    if (id === undefined) return 'unknown-signer';
    if (e.signatureType !== SIGNATURE_TYPE_C25519 || !id.verify(message, e.signature)) return 'invalid';
  }
  return 'valid';
}
