/**
 * UPnP IGD v2 (WANIPConnection:2, AddAnyPortMapping) through `@achingbrain/nat-port-mapper`'s `upnpNat`.
 *
 * The library (4.0.5) is used for the device description and the SOAP calls that work (AddAnyPortMapping,
 * GetExternalIPAddress), around these defects:
 * - its gateway discovery can kill the process (see `leaf/ssdp-search.ts`): we search ourselves and hand the
 *   LOCATION to `upnpNat().getGateway(url)`;
 * - a gateway object re-runs that discovery once its description is an hour old, and it remembers every
 *   mapping it ever made (one more per refresh): we make a fresh gateway object from the LOCATION for each
 *   exchange (one HTTP GET of the description, which also notices a gateway that went away);
 * - its `unmap()` sends DeletePortMapping with an empty NewProtocol and the internal port as NewExternalPort,
 *   which deletes nothing (miniupnpd 2.3.1 answers, and the mapping stays): we send DeletePortMapping ourselves
 *   through the gateway object's SOAP client (`gateway.run`, not in its public types; checked at run time);
 * - it only knows IGD v2: a gateway that answers only as IGD v1 is reported as such.
 */
import { upnpNat, type Gateway } from '@achingbrain/nat-port-mapper';
import { defaultGateway4 } from './default-gateway.js';
import { ssdpSearch, type SsdpGateway } from './ssdp-search.js';
import { GatewayRefusedError, localAddressToward, raceAbort, withTimeout, type GatewaySession, type GrantedMapping, type MapRequest, type MappingMethod } from './port-mapping-method.js';

const WAN_IP_CONNECTION_2 = 'urn:schemas-upnp-org:service:WANIPConnection:2';

/** The library's lease floor: it asks for max(ttl, 3600) seconds whatever we pass (internet-gateway-service-4.ts). */
export const UPNP_MIN_LEASE_SECONDS = 3600;

export interface UpnpMethodOptions {
  /** How long an SSDP search collects answers, in ms. Default 1500. */
  searchMs?: number;
  /** Time limit of one HTTP/SOAP exchange with the gateway, in ms. Default 3000. */
  requestMs?: number;
  /** The address whose answer is preferred (and ends the search early); default: the IPv4 default gateway. */
  preferred?: () => Promise<string | null>;
}

/** The library's SOAP client inside a gateway object (`InternetGatewayService.gateway: Device`). */
interface SoapDevice {
  run(service: string, action: string, args: Array<[string, string | number]>, opts?: { signal?: AbortSignal }): Promise<unknown>;
}

function soapDeviceOf(gw: Gateway): SoapDevice | null {
  const device = (gw as unknown as { gateway?: Partial<SoapDevice> }).gateway;
  return typeof device?.run === 'function' ? (device as SoapDevice) : null;
}

/** A SOAP fault (UPnPError, "Code 718 - ConflictInMappingEntry") or an HTTP error status is the gateway refusing. */
function refusal(gateway: string, e: unknown): GatewayRefusedError | null {
  if (!(e instanceof Error)) return null;
  if (e.name === 'UPnPError' || /^Request failed:|^Bad content type|^Device type was not/.test(e.message)) {
    return new GatewayRefusedError(`UPnP gateway ${gateway} refused: ${e.message}`);
  }
  return null;
}

class UpnpSession implements GatewaySession {
  readonly method = 'upnp';
  constructor(
    readonly gateway: string,
    private readonly location: URL,
    private readonly localAddress: string,
    private readonly requestMs: number,
  ) {}

  private async exchange<T>(op: (gw: Gateway, signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<T> {
    const s = withTimeout(signal, this.requestMs);
    try {
      const gw = await raceAbort(upnpNat({ autoRefresh: false }).getGateway(this.location, { signal: s }), s);
      return await raceAbort(op(gw, s), s);
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      throw refusal(this.gateway, e) ?? e;
    }
  }

  async map({ internalPort, externalPort, leaseSeconds, description }: MapRequest, signal: AbortSignal): Promise<GrantedMapping> {
    const m = await this.exchange(
      (gw, s) => gw.map(internalPort, this.localAddress, { protocol: 'udp', externalPort, ttl: leaseSeconds * 1000, description, signal: s }),
      signal,
    );
    return { ip: m.externalHost, port: m.externalPort };
  }

  async unmap(_internalPort: number, externalPort: number, signal: AbortSignal): Promise<void> {
    await this.exchange(async (gw, s) => {
      const device = soapDeviceOf(gw);
      if (device === null) throw new Error('@achingbrain/nat-port-mapper has no gateway.run() any more: cannot delete the UPnP mapping (it expires with its lease)');
      await device.run(WAN_IP_CONNECTION_2, 'DeletePortMapping', [['NewRemoteHost', ''], ['NewExternalPort', externalPort], ['NewProtocol', 'UDP']], { signal: s });
    }, signal);
  }

  async close(): Promise<void> {
    /* nothing held between exchanges */
  }
}

export class UpnpMethod implements MappingMethod {
  readonly name = 'upnp';
  private readonly searchMs: number;
  private readonly requestMs: number;
  private readonly preferred: () => Promise<string | null>;

  constructor(opts: UpnpMethodOptions = {}) {
    this.searchMs = opts.searchMs ?? 1500;
    this.requestMs = opts.requestMs ?? 3000;
    this.preferred = opts.preferred ?? (() => defaultGateway4());
  }

  async open(signal: AbortSignal): Promise<GatewaySession | null> {
    const preferred = await this.preferred();
    const localToward = preferred === null ? null : await localAddressToward(preferred);
    const found = await ssdpSearch({ waitMs: this.searchMs, signal, ...(preferred ? { preferred } : {}), ...(localToward ? { localAddress: localToward } : {}) });
    if (signal.aborted) throw signal.reason;
    const v2 = found.find((g) => g.version === 2);
    if (v2 === undefined) {
      const v1 = found[0];
      if (v1 !== undefined) throw new GatewayRefusedError(igdV1Only(v1));
      return null;
    }
    const local = await localAddressToward(v2.address);
    if (local === null) return null;
    const location = new URL(v2.location);
    // Fetch the description once now: it must be reachable, and it must really be IGD v2 (miniupnpd 2.3.1 in
    // v1 mode answers the v2 search too; its description then says v1, which the library refuses).
    const s = withTimeout(signal, this.requestMs);
    try {
      await raceAbort(upnpNat({ autoRefresh: false }).getGateway(location, { signal: s }), s);
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      if (e instanceof Error && /^Device type was not .*InternetGatewayDevice:1"/.test(e.message)) throw new GatewayRefusedError(igdV1Only(v2));
      throw refusal(v2.address, e) ?? new GatewayRefusedError(`UPnP gateway ${v2.address} answered the search but its description ${v2.location} cannot be read: ${String(e)}`);
    }
    return new UpnpSession(v2.address, location, local, this.requestMs);
  }
}

function igdV1Only(g: SsdpGateway): string {
  return `UPnP gateway ${g.address} (${g.location}) offers only IGD v1, which @achingbrain/nat-port-mapper does not support: enable IGD v2 or NAT-PMP on it`;
}
