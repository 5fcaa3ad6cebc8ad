/**
 * NAT-PMP (RFC 6886) through `@achingbrain/nat-port-mapper`'s `pmpNat`, to the host's default gateway.
 *
 * The library (4.0.5) is used for the wire exchange only, around these defects of its NAT-PMP client:
 * - it never retransmits, and a request that times out stays at the head of its queue, so every later request
 *   on that gateway object waits forever: each attempt here uses a fresh gateway object (one socket on UDP 5350,
 *   closed after the attempt) and the retransmission schedule is ours (RFC 6886 §3.1: 250 ms, doubling);
 * - `ttl` is sent as-is as the lifetime in seconds (its docs say ms): we pass seconds;
 * - `unmap()` deletes the TCP mapping unless told `protocol: 'udp'`, and with `autoRefresh` (its default) the
 *   delete itself schedules a refresh that fires at once and a later `stop()` then throws
 *   ERR_SOCKET_ALREADY_BOUND: we turn `autoRefresh` off and refresh ourselves;
 * - a socket error is emitted as 'error' on the gateway object, which has no listener: we add one;
 * - it parses any datagram on its port with unchecked reads, so a short one kills the process: see
 *   {@link guardReplies}.
 */
import type { RemoteInfo } from 'node:dgram';
import { pmpNat, type Gateway } from '@achingbrain/nat-port-mapper';
import { defaultGateway4 } from './default-gateway.js';
import { GatewayRefusedError, localAddressToward, raceAbort, withTimeout, type GatewaySession, type GrantedMapping, type MapRequest, type MappingMethod } from './port-mapping-method.js';

/** Per-attempt time limits of one NAT-PMP request: RFC 6886 §3.1's 250 ms, doubling (three tries, 1.75 s). */
export const DEFAULT_PMP_ATTEMPTS_MS = [250, 500, 1000] as const;

export interface PmpMethodOptions {
  /** The gateway to ask; default: the host's IPv4 default gateway (`/proc/net/route`). */
  gateway?: () => Promise<string | null>;
  /** Time limit of each try of one request; as many tries as entries. Default {@link DEFAULT_PMP_ATTEMPTS_MS}. */
  attemptsMs?: readonly number[];
}

/** Result codes of RFC 6886 §3.5, for the message of a refusal. */
const RESULT_CODES: Record<number, string> = {
  1: 'unsupported version',
  2: 'not authorized/refused (NAT-PMP disabled on the gateway, or the port is not allowed)',
  3: 'network failure (the gateway has no usable external address)',
  4: 'out of resources',
  5: 'unsupported opcode',
};

function refusal(gateway: string, e: unknown): GatewayRefusedError | null {
  // Only the library's result-code errors carry a numeric code 1..255 (DOMException's codes are numbers too).
  const code = (e as { code?: unknown }).code;
  if (e instanceof DOMException || typeof code !== 'number') return null;
  return new GatewayRefusedError(`NAT-PMP gateway ${gateway} refused: result code ${code} (${RESULT_CODES[code] ?? 'unknown'})`);
}

/**
 * True when `msg` is long enough for what the library reads from it: 8 bytes of header (version, opcode, result,
 * epoch), then 4 more for an external-address answer (opcode 128) or 8 more for a mapping answer (129, 130),
 * unless the result code is an error (RFC 6886 §3.5: then only the header is read).
 */
export function isCompletePmpReply(msg: Uint8Array): boolean {
  if (msg.length < 8) return false;
  if (((msg[2]! << 8) | msg[3]!) !== 0) return true;
  return msg[1] === 128 ? msg.length >= 12 : msg.length >= 16;
}

/**
 * The library parses every datagram that reaches its socket on UDP 5350 while a request is pending, from
 * anyone, with unchecked reads: a datagram shorter than an answer throws out of the socket's 'message' handler
 * and kills the process (test/port-mapping.test.ts reproduces it). Its handler calls `this.onMessage`, so an
 * instance method placed in front lets only complete answers from the gateway through.
 * @throws Error when the library no longer has that method (a version other than the pinned one)
 */
function guardReplies(gw: Gateway, gatewayIp: string): void {
  const inner = gw as unknown as { onMessage?: (msg: Buffer, rinfo: RemoteInfo) => void };
  const parse = inner.onMessage;
  if (typeof parse !== 'function') {
    throw new Error('@achingbrain/nat-port-mapper has no PMPGateway.onMessage: NAT-PMP cannot be used safely with this version (pinned: 4.0.5)');
  }
  inner.onMessage = (msg, rinfo) => {
    if (rinfo.address === gatewayIp && isCompletePmpReply(msg)) parse.call(gw, msg, rinfo);
  };
}

class PmpSession implements GatewaySession {
  readonly method = 'nat-pmp';
  constructor(
    readonly gateway: string,
    private readonly localAddress: string,
    private readonly attemptsMs: readonly number[],
  ) {}

  /** Runs `op` on a fresh gateway object per try, until one answers (see the module comment for why fresh). */
  async request<T>(op: (gw: Gateway, signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<T> {
    let last: unknown;
    for (const ms of this.attemptsMs) {
      const gw = pmpNat(this.gateway, { autoRefresh: false });
      (gw as unknown as { on?: (e: string, f: (err: Error) => void) => void }).on?.('error', (err) => (last = err));
      try {
        guardReplies(gw, this.gateway);
      } catch (e) {
        await gw.stop().catch(() => undefined);
        throw e;
      }
      const attempt = withTimeout(signal, ms);
      try {
        return await raceAbort(op(gw, attempt), attempt);
      } catch (e) {
        if (signal.aborted) throw signal.reason;
        const refused = refusal(this.gateway, e);
        if (refused) throw refused;
        last = e;
      } finally {
        await gw.stop().catch(() => undefined);
      }
    }
    throw new Error(`no NAT-PMP answer from ${this.gateway} after ${this.attemptsMs.length} tries (${String(last)})`);
  }

  externalIp(signal: AbortSignal): Promise<string> {
    return this.request((gw, s) => gw.externalIp({ signal: s }), signal);
  }

  async map({ internalPort, externalPort, leaseSeconds }: MapRequest, signal: AbortSignal): Promise<GrantedMapping> {
    // NAT-PMP maps for the request's source address; the library uses localHost only to decide whether to ask
    // for the external address (it does when localHost is private, as behind a NAT it is).
    const m = await this.request((gw, s) => gw.map(internalPort, this.localAddress, { protocol: 'udp', externalPort, ttl: leaseSeconds, signal: s }), signal);
    return { ip: m.externalHost, port: m.externalPort };
  }

  async unmap(internalPort: number, _externalPort: number, signal: AbortSignal): Promise<void> {
    await this.request((gw, s) => gw.unmap(internalPort, { protocol: 'udp', signal: s } as Parameters<Gateway['unmap']>[1]), signal);
  }

  async close(): Promise<void> {
    /* every attempt closes its own socket */
  }
}

export class PmpMethod implements MappingMethod {
  readonly name = 'nat-pmp';
  private readonly gatewayOf: () => Promise<string | null>;
  private readonly attemptsMs: readonly number[];

  constructor(opts: PmpMethodOptions = {}) {
    this.gatewayOf = opts.gateway ?? (() => defaultGateway4());
    this.attemptsMs = opts.attemptsMs ?? DEFAULT_PMP_ATTEMPTS_MS;
  }

  async open(signal: AbortSignal): Promise<GatewaySession | null> {
    const gateway = await this.gatewayOf();
    if (gateway === null) return null;
    const local = await localAddressToward(gateway);
    if (local === null) return null;
    const session = new PmpSession(gateway, local, this.attemptsMs);
    try {
      // The external-address request is NAT-PMP's "are you there": cheap and side-effect free.
      await session.externalIp(signal);
    } catch (e) {
      if (signal.aborted || e instanceof GatewayRefusedError) throw e;
      return null; // nobody answers NAT-PMP there: the quiet case
    }
    return session;
  }
}
