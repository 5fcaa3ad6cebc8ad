/**
 * The TCP relay's allow-list: ZeroTier addresses that may use it, from a file the operator edits (one
 * 10-hex-digit address per line, `#` comments, blank lines), re-read when it changes.
 *
 * A file that cannot be read or has a bad line is not half-applied: the list fails as a whole, open
 * (everyone may use the relay) or closed (no one), as configured — an operator who restricts the relay
 * usually wants closed, one who uses the list to spot strangers may prefer open. The last good list is
 * not kept: then a typo would silently keep a revoked address in.
 */
import { readFileSync, statSync } from 'node:fs';

export type AllowListState = 'ok' | 'failed-open' | 'failed-closed';

export class AllowList {
  private addresses = new Set<number>();
  private mtimeMs = -1;
  private size = -1;
  state: AllowListState = 'failed-closed';

  constructor(
    readonly file: string,
    readonly failOpen: boolean,
    private readonly logger?: { warn(o: object, m?: string): void; info(o: object, m?: string): void },
  ) {
    this.refresh();
  }

  /** Whether `address` may use the relay under the list as it stands. */
  allowed(address: number): boolean {
    if (this.state === 'ok') return this.addresses.has(address);
    return this.state === 'failed-open';
  }

  /** How many addresses the list holds (0 when failed). */
  get count(): number {
    return this.state === 'ok' ? this.addresses.size : 0;
  }

  /** Re-reads the file if its modification time or size changed (or it appeared or vanished). */
  refresh(): void {
    let mtimeMs: number;
    let size: number;
    try {
      const st = statSync(this.file);
      mtimeMs = st.mtimeMs;
      size = st.size;
    } catch (e) {
      if (this.mtimeMs !== -2) this.fail(`cannot read ${this.file}: ${(e as Error).message}`);
      this.mtimeMs = -2;
      return;
    }
    if (mtimeMs === this.mtimeMs && size === this.size) return;
    this.mtimeMs = mtimeMs;
    this.size = size;
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      return this.fail(`cannot read ${this.file}: ${(e as Error).message}`);
    }
    const next = new Set<number>();
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.replace(/#.*/, '').trim();
      if (line === '') continue;
      if (!/^[0-9a-fA-F]{10}$/.test(line)) return this.fail(`${this.file} line ${i + 1}: "${line}" is not a 10-hex-digit ZeroTier address`);
      next.add(parseInt(line, 16));
    }
    this.addresses = next;
    this.state = 'ok';
    this.logger?.info({ file: this.file, addresses: next.size }, 'TCP relay allow-list loaded');
  }

  private fail(why: string): void {
    this.addresses = new Set();
    this.state = this.failOpen ? 'failed-open' : 'failed-closed';
    this.logger?.warn({ file: this.file, failOpen: this.failOpen }, `TCP relay allow-list unusable (${why}): ${this.failOpen ? 'everyone may use the relay' : 'no one may use the relay'} until it is fixed`);
  }
}
