/**
 * Finds UPnP Internet Gateway Devices on the LAN: one SSDP M-SEARCH (UDA 1.1 §1.3.2) multicast to
 * 239.255.255.250:1900 from an ephemeral port, repeated once against loss, collecting the LOCATION of every
 * IGD that answers.
 *
 * Why not `@achingbrain/nat-port-mapper`'s own discovery (4.0.5, through `@achingbrain/ssdp`): it binds UDP port
 * 1900 on every interface address, and when one bind fails (another program holds the port without SO_REUSEADDR,
 * or an IPv6 address is still tentative) it emits 'error' on an emitter that has no listener yet, which throws
 * out of the socket's event handler and kills the process (test/port-mapping.test.ts reproduces it). Answers to
 * an M-SEARCH come back unicast to its source port, so an ephemeral port is all a search needs.
 */
import { createSocket, type RemoteInfo } from 'node:dgram';

export const SSDP_ADDRESS = '239.255.255.250';
export const SSDP_PORT = 1900;
export const IGD_V1 = 'urn:schemas-upnp-org:device:InternetGatewayDevice:1';
export const IGD_V2 = 'urn:schemas-upnp-org:device:InternetGatewayDevice:2';

/** Answers longer than this are not SSDP search responses (a real one is ~300–400 bytes). */
export const MAX_SSDP_RESPONSE_BYTES = 2048;
/** At most this many gateways are collected per search (a LAN has one or two). */
export const MAX_SSDP_GATEWAYS = 8;

export interface SsdpGateway {
  /** The device description URL (an `http:` URL on the responder's own address). */
  location: string;
  /** The IGD version it answered for. */
  version: 1 | 2;
  /** Who answered. */
  address: string;
}

export interface SsdpSearchOptions {
  /** Send from (and the multicast out of) this local IPv4 address; default: the kernel's choice. */
  localAddress?: string;
  /** How long to collect answers, in ms (MX is 1 s, so devices answer within a second). Default 1500. */
  waitMs?: number;
  /** Stop early once a gateway at this address answered for IGD v2 (the default gateway is the usual IGD). */
  preferred?: string;
  signal?: AbortSignal;
}

function searchMessage(st: string): Buffer {
  return Buffer.from(`M-SEARCH * HTTP/1.1\r\nHOST: ${SSDP_ADDRESS}:${SSDP_PORT}\r\nMAN: "ssdp:discover"\r\nMX: 1\r\nST: ${st}\r\n\r\n`);
}

/**
 * Parses one SSDP search response; null unless it is an HTTP 200 for an IGD whose LOCATION is an http URL on
 * the responder's own address. The address check keeps a LAN host from pointing us at a URL elsewhere.
 */
export function parseSsdpResponse(msg: Uint8Array, from: string): SsdpGateway | null {
  if (msg.length > MAX_SSDP_RESPONSE_BYTES) return null;
  const lines = Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength).toString('latin1').split('\r\n');
  if (!/^HTTP\/1\.[01] 200\b/.test(lines[0] ?? '')) return null;
  const headers = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
  }
  const st = headers.get('st');
  const version = st === IGD_V2 ? 2 : st === IGD_V1 ? 1 : null;
  const location = headers.get('location');
  if (version === null || location === undefined) return null;
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' || url.hostname !== from) return null;
  return { location: url.href, version, address: from };
}

/**
 * Searches for IGDs; resolves with what answered within `waitMs` (empty when none did), v2 devices first and the
 * preferred address first among them. Never rejects: socket errors end the search with what was found.
 */
export function ssdpSearch(opts: SsdpSearchOptions = {}): Promise<SsdpGateway[]> {
  const found: SsdpGateway[] = [];
  const waitMs = opts.waitMs ?? 1500;
  return new Promise((resolve) => {
    const sock = createSocket({ type: 'udp4' });
    const timers: NodeJS.Timeout[] = [];
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      opts.signal?.removeEventListener('abort', finish);
      sock.close();
      const rank = (g: SsdpGateway): number => (g.version === 2 ? 0 : 2) + (g.address === opts.preferred ? 0 : 1);
      resolve(found.sort((a, b) => rank(a) - rank(b)));
    };
    if (opts.signal?.aborted) {
      done = true;
      resolve([]);
      return;
    }
    opts.signal?.addEventListener('abort', finish);
    sock.on('error', finish);
    sock.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      const g = parseSsdpResponse(msg, rinfo.address);
      if (g === null || found.length >= MAX_SSDP_GATEWAYS || found.some((f) => f.location === g.location && f.version === g.version)) return;
      found.push(g);
      if (g.version === 2 && g.address === opts.preferred) finish();
    });
    const send = (): void => {
      if (done) return;
      for (const st of [IGD_V2, IGD_V1]) {
        sock.send(searchMessage(st), SSDP_PORT, SSDP_ADDRESS, () => {
          /* a failed send (no multicast route) just means nobody answers */
        });
      }
    };
    sock.bind({ port: 0, address: opts.localAddress ?? '0.0.0.0' }, () => {
      try {
        if (opts.localAddress !== undefined) sock.setMulticastInterface(opts.localAddress);
        sock.setMulticastTTL(2); // UDA 1.1: TTL defaults to 2
      } catch {
        /* keep the kernel's defaults */
      }
      send();
      timers.push(setTimeout(send, Math.min(500, waitMs / 3)));
      timers.push(setTimeout(finish, waitMs));
    });
  });
}
