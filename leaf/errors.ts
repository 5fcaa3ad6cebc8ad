/**
 * The leaf node's two kinds of failure (shared/STYLE.md point 5):
 * - API errors the caller can act on: {@link Vl1NodeError} with a stable `ZT_ERR_*` code.
 * - Network garbage: never thrown to anyone, only counted in `stats.drops` under a {@link DropReason}.
 */
import { ZtErrorCode } from '../vl1/errors.js';

/** API errors of the node (not network garbage, which is only counted). */
export type Vl1NodeErrorCode = 'ZT_ERR_TIMEOUT' | 'ZT_ERR_STOPPED' | 'ZT_ERR_NOT_RUNNING' | 'ZT_ERR_NO_ROUTE' | 'ZT_ERR_REMOTE';

export class Vl1NodeError extends Error {
  override readonly name = 'Vl1NodeError';
  readonly code: Vl1NodeErrorCode;
  constructor(code: Vl1NodeErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** Why a datagram was not used. Stable strings (metric labels). */
export type DropReason =
  | 'runt'
  | 'beacon'
  | 'malformed'
  | 'bad-mac'
  | 'unsupported-cipher'
  | 'bad-compression'
  | 'bad-fragment'
  | 'from-self'
  /** Addressed to someone else: a leaf does not relay (that is the root's job, `relay/`). */
  | 'not-for-me'
  | 'unknown-peer'
  | 'unexpected-ok'
  | 'old-protocol'
  | 'hello-mismatch'
  | 'invalid-identity'
  /** A second HELLO from an identity whose validation is still running. */
  | 'validation-pending'
  /** A HELLO claiming a known peer's address with another key (only roots answer these, §6.2). */
  | 'identity-collision'
  | 'whois-not-from-root'
  /** WHOIS is the root's job; see `Vl1Node` for why a leaf does not answer it. */
  | 'whois-ignored'
  | 'rendezvous-not-from-root'
  | 'rendezvous-unknown-peer'
  | 'rendezvous-bad-address'
  | 'rate-limited'
  | 'internal';

/** Maps the `ZtError` a vl1 codec threw on a received datagram to the drop it is counted as. */
export function dropReasonOf(code: string): DropReason {
  switch (code) {
    case ZtErrorCode.BAD_MAC:
      return 'bad-mac';
    case ZtErrorCode.UNSUPPORTED_CIPHER:
      return 'unsupported-cipher';
    case ZtErrorCode.BAD_COMPRESSION:
      return 'bad-compression';
    case ZtErrorCode.BAD_FRAGMENT:
      return 'bad-fragment';
    default:
      return 'malformed';
  }
}
