/**
 * 1.14's secondary-port re-pick (shared/protocol/vl1.md §10): a node that has been offline — no root heard within
 * the activity timeout, the node's `online` — for longer than 120 s binds a new random secondary port. The NAT in
 * front of it may have dropped the mapping of the old one (the "coffee shop" case 1.14's comment names), and a
 * fresh port is a fresh mapping; the primary port stays, for the local API and for peers that know it. Only a
 * random secondary port moves: one fixed in local.conf (`settings.secondaryPort`) stays where it was put.
 */

/** How long a node is offline before its secondary port moves (1.14: 120 s). */
export const SECONDARY_REPICK_OFFLINE_MS = 120_000;

/** When the next re-pick is due: offline for `afterMs` since the node was last online (or since the last re-pick). */
export class SecondaryPortRepick {
  private offlineSince: number;

  constructor(
    private readonly afterMs: number,
    now: number,
  ) {
    this.offlineSince = now;
  }

  /** Called on each housekeeping tick. True when a new port is due; the offline clock then starts again. */
  due(online: boolean, now: number): boolean {
    if (online || now - this.offlineSince < this.afterMs) {
      if (online) this.offlineSince = now;
      return false;
    }
    this.offlineSince = now;
    return true;
  }
}
