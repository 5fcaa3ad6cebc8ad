/**
 * NETWORK_CONFIG (verb 0x0c) and OK(NETWORK_CONFIG_REQUEST): both carry one config chunk (vl1/netconf/config-chunk.ts;
 * shared/protocol/vl2.md §2.3) — NETWORK_CONFIG as its whole payload (a controller's unsolicited push),
 * OK(NETWORK_CONFIG_REQUEST) after the OK header (decodeOk gives it as kind OTHER, `body` = the chunk).
 *
 * After accepting a complete pushed update, 1.14 answers the NETWORK_CONFIG packet with an OK whose in-re verb is
 * ECHO (0x08, a 1.14 bug controllers ignore), in-re id = the NETWORK_CONFIG packet id, payload nwid | updateId.
 */
import { ByteWriter } from '../bytes.js';
import { Verb } from '../constants.js';
import { type ConfigChunk, decodeConfigChunk, encodeConfigChunk } from '../netconf/config-chunk.js';
import { writeU64 } from './common.js';
import { encodeOk } from './ok.js';

/** NETWORK_CONFIG payload → chunk. @throws {ZtError} as `decodeConfigChunk` */
export function decodeNetworkConfigPayload(payload: Uint8Array): ConfigChunk {
  return decodeConfigChunk(payload);
}

/** Chunk → NETWORK_CONFIG payload. @throws {ZtError} as `encodeConfigChunk` */
export function encodeNetworkConfigPayload(chunk: ConfigChunk): Uint8Array {
  return encodeConfigChunk(chunk);
}

/** The OK payload a controller answers NETWORK_CONFIG_REQUEST with (one per chunk). @throws {ZtError} BAD_VALUE */
export function encodeNetworkConfigRequestOk(inRePacketId: bigint, chunk: ConfigChunk): Uint8Array {
  return encodeOk({ kind: 'OTHER', inReVerb: Verb.NETWORK_CONFIG_REQUEST, inRePacketId, body: encodeConfigChunk(chunk) });
}

/**
 * The OK payload 1.14 sends after accepting a pushed update: in-re verb ECHO (sic), in-re id = the NETWORK_CONFIG
 * packet's, body nwid | configUpdateId. @throws {ZtError} BAD_VALUE
 */
export function encodeNetworkConfigAck(networkConfigPacketId: bigint, networkId: bigint, configUpdateId: bigint): Uint8Array {
  const w = new ByteWriter(16);
  writeU64(w, networkId, 'NETWORK_CONFIG ack network id');
  writeU64(w, configUpdateId, 'NETWORK_CONFIG ack update id');
  return encodeOk({ kind: 'ECHO', inReVerb: Verb.ECHO, inRePacketId: networkConfigPacketId, payload: w.finish() });
}
