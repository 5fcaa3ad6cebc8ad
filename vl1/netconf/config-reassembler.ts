/**
 * Reassembly of chunked config updates, as `Network::handleConfigChunk` does it (shared/protocol/vl2.md §2.3
 * steps 3 and 6): up to NETWORK_MAX_INCOMING_UPDATES updates at once (the least recently touched one is replaced),
 * up to NETWORK_MAX_UPDATE_CHUNKS chunks each, duplicates (same chunk id) dropped, each chunk's bytes placed at its
 * index; an update is complete when the received lengths add up to its total (overlaps are not checked, as in
 * 1.14: later bytes overwrite earlier ones).
 *
 * Memory: one buffer of the update's total per update held (≤ NETWORK_MAX_INCOMING_UPDATES × NETWORKCONFIG_DICT_CAPACITY).
 * Pure state, no clock: the caller verifies signatures (or, for legacy chunks, that the sender is the controller)
 * before {@link ConfigReassembler.add}, and decodes the completed dictionary.
 */
import { ZtError, ZtErrorCode } from '../errors.js';
import { NETWORK_MAX_INCOMING_UPDATES, NETWORK_MAX_UPDATE_CHUNKS, NETWORKCONFIG_DICT_CAPACITY } from './constants.js';
import { configChunkId, type ConfigChunk } from './config-chunk.js';

export type ChunkAddResult =
  /** The update is complete: its dictionary text (`total` bytes). */
  | { status: 'complete'; updateId: bigint; dictionary: Uint8Array }
  | { status: 'partial'; updateId: bigint; received: number; total: number }
  /** Nothing new: a chunk already held, or any chunk of an update already completed. */
  | { status: 'duplicate'; updateId: bigint };

interface Update {
  id: bigint;
  total: number;
  received: number;
  chunkIds: Set<bigint>;
  /** `total` bytes, filled as chunks arrive (bounded by NETWORKCONFIG_DICT_CAPACITY through the chunk decoder). */
  data: Uint8Array;
  complete: boolean;
  touched: number;
}

export interface ConfigReassemblerLimits {
  /** Updates held at once (default NETWORK_MAX_INCOMING_UPDATES = 3). */
  maxUpdates?: number;
  /** Chunks per update (default NETWORK_MAX_UPDATE_CHUNKS = 474). */
  maxChunks?: number;
}

export class ConfigReassembler {
  private readonly updates: Update[] = [];
  private clock = 0;
  private readonly maxUpdates: number;
  private readonly maxChunks: number;

  constructor(limits: ConfigReassemblerLimits = {}) {
    this.maxUpdates = limits.maxUpdates ?? NETWORK_MAX_INCOMING_UPDATES;
    this.maxChunks = limits.maxChunks ?? NETWORK_MAX_UPDATE_CHUNKS;
  }

  /** Update ids currently held (for tests and status). */
  get heldUpdates(): bigint[] {
    return this.updates.map((u) => u.id);
  }

  /** True when this chunk was already received (check it before paying for the signature, as 1.14 does). */
  isDuplicate(c: ConfigChunk, packetId?: bigint): boolean {
    const { updateId, chunkId } = ids(c, packetId);
    const u = this.updates.find((x) => x.id === updateId);
    return u !== undefined && (u.complete || u.chunkIds.has(chunkId));
  }

  /**
   * Adds a verified chunk. A legacy chunk needs the id of the packet that carried it (its update id and chunk id).
   * @throws {ZtError} TOO_LONG when the update already holds `maxChunks` chunks or its total does not fit
   *   NETWORKCONFIG_DICT_CAPACITY; BAD_VALUE when the chunk's total
   *   differs from the update's, its bytes run past the total, or a legacy chunk comes without a packet id.
   */
  add(c: ConfigChunk, packetId?: bigint): ChunkAddResult {
    const { updateId, chunkId } = ids(c, packetId);
    const total = c.kind === 'signed' ? c.totalLength : c.data.length;
    const index = c.kind === 'signed' ? c.index : 0;
    if (total >= NETWORKCONFIG_DICT_CAPACITY) {
      throw new ZtError(ZtErrorCode.TOO_LONG, `config update ${updateId.toString(16)}: total ${total} bytes, must be below NETWORKCONFIG_DICT_CAPACITY = ${NETWORKCONFIG_DICT_CAPACITY}`);
    }
    if (index + c.data.length > total) {
      throw new ZtError(ZtErrorCode.BAD_VALUE, `config update ${updateId.toString(16)}: bytes ${index}..${index + c.data.length} run past the total ${total}`);
    }
    let u = this.updates.find((x) => x.id === updateId);
    if (u !== undefined && (u.complete || u.chunkIds.has(chunkId))) return { status: 'duplicate', updateId };
    if (u === undefined) {
      u = { id: updateId, total, received: 0, chunkIds: new Set(), data: new Uint8Array(total), complete: false, touched: 0 };
      if (this.updates.length >= this.maxUpdates) {
        let oldest = 0;
        for (let i = 1; i < this.updates.length; i++) if (this.updates[i]!.touched < this.updates[oldest]!.touched) oldest = i;
        this.updates.splice(oldest, 1);
      }
      this.updates.push(u);
    }
    u.touched = ++this.clock;
    if (total !== u.total) {
      throw new ZtError(ZtErrorCode.BAD_VALUE, `config update ${updateId.toString(16)}: chunk says total ${total}, earlier chunks said ${u.total}`);
    }
    if (u.chunkIds.size >= this.maxChunks) {
      throw new ZtError(ZtErrorCode.TOO_LONG, `config update ${updateId.toString(16)}: already ${u.chunkIds.size} chunks, at most NETWORK_MAX_UPDATE_CHUNKS = ${this.maxChunks}`);
    }
    u.chunkIds.add(chunkId);
    u.data.set(c.data, index);
    u.received += c.data.length;
    if (u.received !== u.total) return { status: 'partial', updateId, received: u.received, total: u.total };
    const dictionary = u.data;
    u.complete = true;
    u.data = new Uint8Array(0);
    return { status: 'complete', updateId, dictionary };
  }
}

function ids(c: ConfigChunk, packetId: bigint | undefined): { updateId: bigint; chunkId: bigint } {
  if (c.kind === 'signed') return { updateId: c.updateId, chunkId: configChunkId(c) };
  if (packetId === undefined) throw new ZtError(ZtErrorCode.BAD_VALUE, 'legacy config chunk: the carrying packet id is its update id and must be given');
  return { updateId: packetId, chunkId: packetId };
}
