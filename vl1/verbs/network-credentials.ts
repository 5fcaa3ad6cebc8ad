/**
 * NETWORK_CREDENTIALS (verb 0x0a) payload — shared/protocol/vl2.md §4.3; built by `Membership::pushCredentials`,
 * parsed by `IncomingPacket::_doNETWORK_CREDENTIALS`.
 *
 *   COMs back to back (each starts with 0x01) | 0x00
 *   | capCount u16 | Capabilities | tagCount u16 | Tags | revocationCount u16 | Revocations | cooCount u16 | COOs
 *
 * Everything after the COMs is optional: old senders stop early, and parsing stops cleanly at the end of the payload
 * between sections (also before the 0x00). Bytes after the COO section are ignored, as 1.14 ignores them.
 * 1.14 sends its COM, all its capabilities, tags and COOs, and no revocations — `COM 00 0000 0000 0000 0000` for a
 * member with only a COM; a controller deauthorizing a member sends `00 0000 0000 0001 <revocation>`.
 */
import { ByteReader, ByteWriter } from '../bytes.js';
import { ZtError, ZtErrorCode } from '../errors.js';
import { type Capability, readCapability, writeCapability } from '../netconf/capability.js';
import { type CertificateOfOwnership, readCoo, writeCoo } from '../netconf/certificate-of-ownership.js';
import { type CertificateOfMembership, readCom, writeCom } from '../netconf/com.js';
import { readRevocation, type Revocation, writeRevocation } from '../netconf/revocation.js';
import { readTag, type Tag, writeTag } from '../netconf/tag.js';

export interface NetworkCredentials {
  coms: CertificateOfMembership[];
  /** Whether the 0x00 after the COMs is there (it is whenever any later section is). */
  terminated: boolean;
  /** Each later section: undefined when the payload ended before it. */
  capabilities?: Capability[];
  tags?: Tag[];
  revocations?: Revocation[];
  coos?: CertificateOfOwnership[];
}

function section<T>(r: ByteReader, what: string, read: (r: ByteReader) => T): T[] | undefined {
  if (r.remaining === 0) return undefined;
  const n = r.u16(`NETWORK_CREDENTIALS ${what} count`);
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(read(r));
  return out;
}

/** @throws {ZtError} TRUNCATED, BAD_VALUE, TOO_LONG (from the credential parsers) */
export function decodeNetworkCredentials(payload: Uint8Array): NetworkCredentials {
  const r = new ByteReader(payload);
  const x: NetworkCredentials = { coms: [], terminated: false };
  while (r.remaining > 0 && r.buf[r.pos] !== 0) x.coms.push(readCom(r));
  if (r.remaining === 0) return x;
  r.skip(1, 'NETWORK_CREDENTIALS terminator');
  x.terminated = true;
  const caps = section(r, 'capability', readCapability);
  if (caps === undefined) return x;
  x.capabilities = caps;
  const tags = section(r, 'tag', readTag);
  if (tags === undefined) return x;
  x.tags = tags;
  const revs = section(r, 'revocation', readRevocation);
  if (revs === undefined) return x;
  x.revocations = revs;
  const coos = section(r, 'COO', readCoo);
  if (coos !== undefined) x.coos = coos;
  return x;
}

/**
 * @throws {ZtError} BAD_VALUE when a section is given without the ones before it, or a credential is bad;
 *   TOO_LONG for more than 65535 credentials in a section.
 */
export function encodeNetworkCredentials(x: NetworkCredentials): Uint8Array {
  const w = new ByteWriter(512);
  for (const c of x.coms) writeCom(w, c);
  const sections: Array<[string, unknown[] | undefined, (w: ByteWriter, v: never) => void]> = [
    ['capabilities', x.capabilities, writeCapability],
    ['tags', x.tags, writeTag],
    ['revocations', x.revocations, writeRevocation],
    ['coos', x.coos, writeCoo],
  ];
  const last = sections.map((s) => s[1] !== undefined).lastIndexOf(true);
  if (!x.terminated && last >= 0) throw new ZtError(ZtErrorCode.BAD_VALUE, 'NETWORK_CREDENTIALS: sections after the COMs need the 0x00 terminator');
  if (x.terminated) w.u8(0);
  for (let i = 0; i <= last; i++) {
    const [what, items, write] = sections[i]!;
    if (items === undefined) throw new ZtError(ZtErrorCode.BAD_VALUE, `NETWORK_CREDENTIALS: ${what} missing before a later section`);
    if (items.length > 0xffff) throw new ZtError(ZtErrorCode.TOO_LONG, `NETWORK_CREDENTIALS: ${items.length} ${what}, at most 65535`);
    w.u16(items.length);
    for (const it of items) write(w, it as never);
  }
  return w.finish();
}

/** What 1.14 pushes to a member: our COM (if any), capabilities, tags, COOs, and no revocations. */
export function credentialsPush(p: { com: CertificateOfMembership | null; capabilities?: Capability[]; tags?: Tag[]; coos?: CertificateOfOwnership[] }): NetworkCredentials {
  return {
    coms: p.com ? [p.com] : [],
    terminated: true,
    capabilities: p.capabilities ?? [],
    tags: p.tags ?? [],
    revocations: [],
    coos: p.coos ?? [],
  };
}
