/**
 * Identity validation that remembers: an identity validated once — by this root before a restart (its state
 * directory, root/validated-identities.ts) or by any root of its fleet (the fleet store's validated tags) — is
 * admitted without the memory-hard hash; anything else goes to the worker pool (root/identity-validator.ts),
 * and a pass is remembered in both places. Issue 15: a restarted root re-validated every client at ~40/s.
 *
 * Order for an identity the root does not hold: the remembered set (in memory, O(1)); then the fleet store
 * (one read, off the packet path; an unreachable store means "not known", never "valid"); then the hash.
 * The tag binds address and key, so a HELLO claiming a remembered address with another key is hashed like
 * any newcomer and refused. Failures are not remembered here (see validated-identities.ts for why); the pool's
 * in-memory verdict cache still answers replays of a failed key.
 */
import type { Identity } from '../vl1/identity.js';
import type { PeerStore } from '../fleet/peer-store.js';
import type { IdentityValidatorLike, Logger } from './root-server.js';
import { validatedIdentityTag, type ValidatedIdentities } from './validated-identities.js';

/** What the remembering validator needs of the fleet store. */
export type ValidatedStore = Pick<PeerStore, 'isValidated' | 'putValidated'> & { readonly healthy: boolean };

export interface RememberingValidatorStats {
  /** Identities admitted from the state directory's set, without hashing. */
  rememberedHits: number;
  /** Identities admitted because a root of the fleet had validated them. */
  fleetHits: number;
  /** Fleet lookups that failed (store down or slow): the identity was hashed instead. */
  fleetErrors: number;
  /** Identities sent to the worker pool (hashed, or answered by its verdict cache). */
  hashed: number;
  /** Identities in the remembered set. */
  remembered: number;
}

export class RememberingValidator implements IdentityValidatorLike {
  private fleet: ValidatedStore | null = null;
  private readonly counters = { rememberedHits: 0, fleetHits: 0, fleetErrors: 0, hashed: 0 };

  constructor(
    private readonly pool: IdentityValidatorLike,
    readonly remembered: ValidatedIdentities,
    private readonly log?: Logger,
  ) {}

  /** Consult and feed the fleet store too (set once the store exists). */
  useFleet(store: ValidatedStore | null): void {
    this.fleet = store;
  }

  validate(identity: Identity, source?: string): Promise<boolean> {
    const tag = validatedIdentityTag(identity);
    if (this.remembered.has(tag)) {
      this.counters.rememberedHits++;
      return Promise.resolve(true);
    }
    const fleet = this.fleet;
    if (fleet === null || !fleet.healthy) return this.hash(identity, source, tag);
    return fleet.isValidated(tag).then(
      (known) => {
        if (!known) return this.hash(identity, source, tag);
        this.counters.fleetHits++;
        this.remembered.add(tag);
        return true;
      },
      (e: unknown) => {
        this.counters.fleetErrors++;
        this.log?.debug({ err: (e as Error).message }, 'fleet store: validated-identity lookup failed; hashing instead');
        return this.hash(identity, source, tag);
      },
    );
  }

  /**
   * Whether exactly this identity (address and key: the tag binds both) passed validation before — on this root
   * (state directory) or any root of the fleet — without ever hashing: what peer adoption admits on
   * (root/peer-adoption.ts). An unreachable store means "not known". Never rejects.
   */
  validatedBefore(identity: Identity): Promise<boolean> {
    const tag = validatedIdentityTag(identity);
    if (this.remembered.has(tag)) {
      this.counters.rememberedHits++;
      return Promise.resolve(true);
    }
    const fleet = this.fleet;
    if (fleet === null || !fleet.healthy) return Promise.resolve(false);
    return fleet.isValidated(tag).then(
      (known) => {
        if (known) {
          this.counters.fleetHits++;
          this.remembered.add(tag);
        }
        return known;
      },
      () => {
        this.counters.fleetErrors++;
        return false;
      },
    );
  }

  cached(identity: Identity): boolean | undefined {
    return this.pool.cached?.(identity);
  }

  get stats(): RememberingValidatorStats {
    return { ...this.counters, remembered: this.remembered.size };
  }

  private hash(identity: Identity, source: string | undefined, tag: Uint8Array): Promise<boolean> {
    this.counters.hashed++;
    return this.pool.validate(identity, source).then((valid) => {
      if (valid) {
        this.remembered.add(tag);
        this.fleet?.putValidated(tag).catch((e: unknown) => this.log?.warn({ err: (e as Error).message }, 'fleet store: could not record a validated identity'));
      }
      return valid;
    });
  }
}
