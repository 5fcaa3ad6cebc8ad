/**
 * What a raw test client received, in order, with waits that end on arrival (no polling): `next` for one
 * item or null after a deadline (or once the source closed and nothing is left), `drain` for everything
 * until the source goes quiet.
 */
export class Inbox<T> {
  readonly items: T[] = [];
  private waiters: Array<() => void> = [];
  private ended = false;

  push(item: T): void {
    this.items.push(item);
    this.wake();
  }

  /** The source is gone: waits end now, and `next` returns null once the items run out. */
  end(): void {
    this.ended = true;
    this.wake();
  }

  get length(): number {
    return this.items.length;
  }

  async next(ms = 1500): Promise<T | null> {
    const deadline = Date.now() + ms;
    while (this.items.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0 || this.ended) return null;
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.items.shift()!;
  }

  /** Everything that arrives until `ms` pass without an item. */
  async drain(ms = 300): Promise<T[]> {
    const out: T[] = [];
    for (;;) {
      const m = await this.next(ms);
      if (m === null) return out;
      out.push(m);
    }
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
