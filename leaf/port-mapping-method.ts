/**
 * What the port mapper asks of a mapping protocol (NAT-PMP, UPnP IGD): find the gateway, map a UDP port, refresh
 * it by mapping it again, delete it. `leaf/port-mapping.ts` drives these; the protocol modules know nothing of
 * timers, retries or events.
 */
import { createSocket } from 'node:dgram';

export type MappingMethodName = 'nat-pmp' | 'upnp';

export interface GrantedMapping {
  /** The gateway's external address as it reports it. */
  ip: string;
  /** The external port it granted (not always the one asked for). */
  port: number;
}

export interface MapRequest {
  internalPort: number;
  /** The external port asked for (gateways may grant another). */
  externalPort: number;
  leaseSeconds: number;
  /** The mapping's name on the gateway (UPnP only; NAT-PMP has none on the wire). */
  description: string;
}

/** One conversation with one gateway, opened by {@link MappingMethod.open}. */
export interface GatewaySession {
  readonly method: MappingMethodName;
  /** The gateway's IP address (for logs and the reported mapping). */
  readonly gateway: string;
  /**
   * Maps UDP `req.internalPort` of this host; mapping it again renews it.
   * @throws {GatewayRefusedError} when the gateway answers with an error; any other rejection (timeout,
   *   connection refused) means the gateway is not reachable.
   */
  map(req: MapRequest, signal: AbortSignal): Promise<GrantedMapping>;
  /** Deletes the mapping of `internalPort` (granted as `externalPort`). */
  unmap(internalPort: number, externalPort: number, signal: AbortSignal): Promise<void>;
  /** Releases what the session holds (nothing on the gateway). */
  close(): Promise<void>;
}

export interface MappingMethod {
  readonly name: MappingMethodName;
  /**
   * Looks for this protocol's gateway. Resolves null when there is none (no answer within the method's time
   * limit: the quiet case). Rejects with {@link GatewayRefusedError} when a gateway answered but cannot serve us,
   * and with the abort reason when `signal` aborts.
   */
  open(signal: AbortSignal): Promise<GatewaySession | null>;
}

/** A gateway answered, with an error: retrying at once will not help. `detail` names the gateway and its answer. */
export class GatewayRefusedError extends Error {
  override readonly name = 'GatewayRefusedError';
}

/**
 * The local IPv4 address the kernel would send from toward `ip` (a connected UDP socket's local address; nothing
 * is sent), or null when there is no route. UPnP needs it as the mapping's internal client.
 */
export async function localAddressToward(ip: string): Promise<string | null> {
  const s = createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.connect(9, ip, () => resolve());
    });
    return s.address().address;
  } catch {
    return null;
  } finally {
    s.close();
  }
}

/** An AbortSignal that fires on `signal` or after `ms`, whichever comes first. */
export function withTimeout(signal: AbortSignal, ms: number): AbortSignal {
  return AbortSignal.any([signal, AbortSignal.timeout(ms)]);
}

/** Rejects with `signal`'s reason as soon as it aborts, even if `p` never settles (library calls can hang). */
export function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e as Error);
      },
    );
  });
}
