/**
 * Which `Host` (and, for WebSockets, `Origin`) headers the HTTP API answers: the defence against DNS
 * rebinding.
 *
 * A rebinding page is served from the attacker's name, which they then point at 127.0.0.1 (or at the root's
 * address): the browser treats the API as same-origin with the page and lets it read /api/peers. What the
 * browser cannot hide is the name: every request carries `Host: attacker.example`. So the API answers only
 * to Host values that cannot belong to an attacker's page:
 *
 *   - a loopback listener (127.0.0.0/8, ::1, localhost): `localhost` and loopback IP literals, any port —
 *     nothing else reaches a loopback socket unless a local proxy forwards it (add the proxy's name then);
 *   - any other listener: any IP literal (a browser that sends one navigated to the address itself, so the
 *     page is the API's own origin) and `localhost`;
 *   - on both, the names the operator lists (`httpAllowedHosts`, e.g. the name Prometheus scrapes by).
 *
 * A request without a Host header (HTTP/1.0) is not from a browser and is answered. WebSockets are not bound
 * by the same-origin policy at all, so an upgrade also needs an `Origin` that is absent (not a browser) or
 * names the very host the request was sent to (the dashboard's own page).
 */
import net from 'node:net';

/** Whether `host` (an address or a name as given in a listen setting) is a loopback address. */
export function isLoopbackHost(host: string): boolean {
  const h = stripBrackets(host.toLowerCase());
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) {
    if (h.startsWith('::ffff:') && net.isIPv4(h.slice(7))) return h.slice(7).startsWith('127.');
    return expandsToLoopback6(h);
  }
  return false;
}

function stripBrackets(h: string): string {
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

function expandsToLoopback6(h: string): boolean {
  // ::1 in any spelling (0:0:0:0:0:0:0:1, ::0:1, ...): the URL parser writes IPv6 in its canonical form.
  return new URL(`http://[${h}]/`).hostname === '[::1]';
}

/** The host part of a Host header value ("name:port", "[v6]:port", "name"), lower case, without a final dot. */
export function hostOfHeader(value: string): string | null {
  const v = value.trim().toLowerCase();
  let host: string;
  if (v.startsWith('[')) {
    const end = v.indexOf(']');
    if (end < 0) return null;
    const rest = v.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return null;
    host = v.slice(1, end);
    if (!net.isIPv6(host)) return null;
    return host;
  }
  const colon = v.lastIndexOf(':');
  if (colon >= 0) {
    if (!/^\d{1,5}$/.test(v.slice(colon + 1))) return null;
    host = v.slice(0, colon);
  } else host = v;
  if (host.endsWith('.')) host = host.slice(0, -1);
  return host === '' || host.includes(':') ? null : host;
}

/** The Host policy of one listener. */
export class HostPolicy {
  private readonly loopback: boolean;
  private readonly names: ReadonlySet<string>;

  /**
   * @param listenHost the address the API listens on (as configured: 127.0.0.1, ::, 0.0.0.0, a name)
   * @param allowedNames extra names answered on any listener (`httpAllowedHosts`), any case, no port
   */
  constructor(listenHost: string, allowedNames: readonly string[] = []) {
    this.loopback = isLoopbackHost(listenHost);
    this.names = new Set(allowedNames.map((n) => n.toLowerCase().replace(/\.$/, '')));
  }

  /** Whether a request with this Host header is answered (undefined: no header, not a browser). */
  allows(hostHeader: string | undefined): boolean {
    if (hostHeader === undefined) return true;
    const host = hostOfHeader(hostHeader);
    if (host === null) return false;
    if (this.names.has(host) || host === 'localhost') return true;
    if (net.isIP(host) === 0) return false;
    return this.loopback ? isLoopbackHost(host) : true;
  }

  /**
   * Whether a WebSocket upgrade is accepted: its Host passes, and its Origin (when a browser sent one) is the
   * page's own origin on that very host.
   */
  allowsUpgrade(hostHeader: string | undefined, origin: string | undefined): boolean {
    if (!this.allows(hostHeader)) return false;
    if (origin === undefined) return true;
    let o: URL;
    try {
      o = new URL(origin);
    } catch {
      return false; // "null" (sandboxed frames, file:) or garbage
    }
    if ((o.protocol !== 'http:' && o.protocol !== 'https:') || hostHeader === undefined) return false;
    const defaultPort = o.protocol === 'https:' ? '443' : '80';
    const originPort = o.port === '' ? defaultPort : o.port;
    const m = /:(\d{1,5})$/.exec(hostHeader.trim());
    const hostPort = m !== null && !hostHeader.trim().endsWith(']') ? m[1]! : defaultPort;
    return hostOfHeader(o.host) === hostOfHeader(hostHeader) && originPort === hostPort;
  }
}

/**
 * Why serving the HTTP API on `listen` without a token must be refused, or null when it is fine: off
 * loopback, /api/peers would show every peer's identity and address to whoever connects.
 */
export function httpExposureProblem(listen: { host: string; port: number } | null, token: string): string | null {
  if (listen === null || token !== '' || isLoopbackHost(listen.host)) return null;
  const at = listen.host.includes(':') ? `[${listen.host}]:${listen.port}` : `${listen.host}:${listen.port}`;
  return (
    `the HTTP API would listen on ${at}, beyond this host, with no metricsToken: every peer's identity and address would be public. ` +
    `Set metricsToken (--metrics-token or ZTROOT_METRICS_TOKEN; /healthz and /readyz stay open), or listen on loopback (--http 127.0.0.1:${listen.port})`
  );
}
