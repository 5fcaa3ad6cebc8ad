/**
 * NETWORK_CONFIG_REQUEST (verb 0x0b) payload — shared/protocol/vl2.md §2.2; sent by `Network::requestConfiguration`,
 * parsed by `IncomingPacket::_doNETWORK_CONFIG_REQUEST`.
 *
 *   nwid u64 | metadataLength u16 | metadata (Dictionary, no NUL) | revision u64 | timestamp u64
 *
 * revision/timestamp are those of the config held (0 without one); a 1.14 controller ignores them. Older senders
 * stop after the metadata, so both are optional on read. Build the metadata with `buildRequestMetadata`
 * (vl1/netconf/request-metadata.ts).
 */
import { ByteReader, ByteWriter } from '../bytes.js';
import { ZtError, ZtErrorCode } from '../errors.js';
import { checkUint, writeLengthPrefixed, writeU64 } from './common.js';

export interface NetworkConfigRequest {
  networkId: bigint;
  /** Dictionary text (view into the payload on decode). */
  metadata: Uint8Array;
  /** Revision and timestamp of the config held; both present or both absent. */
  revision?: bigint;
  timestamp?: bigint;
}

/** @throws {ZtError} TRUNCATED, TRAILING_BYTES */
export function decodeNetworkConfigRequest(payload: Uint8Array): NetworkConfigRequest {
  const r = new ByteReader(payload);
  const x: NetworkConfigRequest = { networkId: r.u64('NETWORK_CONFIG_REQUEST network id'), metadata: new Uint8Array(0) };
  if (r.remaining > 0) x.metadata = r.bytes(r.u16('NETWORK_CONFIG_REQUEST metadata length'), 'NETWORK_CONFIG_REQUEST metadata');
  if (r.remaining > 0) {
    x.revision = r.u64('NETWORK_CONFIG_REQUEST revision');
    x.timestamp = r.u64('NETWORK_CONFIG_REQUEST timestamp');
  }
  r.expectEnd('NETWORK_CONFIG_REQUEST');
  return x;
}

/**
 * Encodes the payload. 1.14 always writes revision and timestamp (0n and 0n without a config): give them; leaving
 * both out writes the old, shorter form.
 * @throws {ZtError} BAD_VALUE (only one of revision/timestamp, out of range), TOO_LONG (metadata over 65535 bytes).
 */
export function encodeNetworkConfigRequest(x: NetworkConfigRequest): Uint8Array {
  if ((x.revision === undefined) !== (x.timestamp === undefined)) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, 'NETWORK_CONFIG_REQUEST: revision and timestamp go together');
  }
  const w = new ByteWriter(28 + x.metadata.length);
  writeU64(w, x.networkId, 'NETWORK_CONFIG_REQUEST network id');
  writeLengthPrefixed(w, x.metadata, 'NETWORK_CONFIG_REQUEST metadata');
  if (x.revision !== undefined && x.timestamp !== undefined) {
    checkUint(x.revision, 64, 'NETWORK_CONFIG_REQUEST revision');
    checkUint(x.timestamp, 64, 'NETWORK_CONFIG_REQUEST timestamp');
    w.u64(x.revision).u64(x.timestamp);
  }
  return w.finish();
}
