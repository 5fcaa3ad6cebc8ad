/**
 * The leaf's model (leaf/model.ts) in ZeroTier One 1.14.1's local-API JSON shapes (service/OneService.cpp
 * `_networkToJson`, `_peerToJson`, `_moonToJson`, the /status and /health handlers; shared/protocol/vl2.md
 * §8.2). Pure: no I/O. Every key 1.14 writes is written, with 1.14's type, because zerotier-cli reads them
 * with strict casts (`int64_t vmaj = p["versionMajor"]` throws on a string or null; `if (path["preferred"])`
 * needs a boolean) and GUIs do the same. Keys only present in 1.14 for bonding or SSO are left out, as 1.14
 * leaves them out when those are off.
 */
import { formatAddress, formatNetworkId } from '../vl1/address.js';
import { formatMac } from '../vl1/mac-ip.js';
import { toHex } from '../vl1/bytes.js';
import { formatInetAddress } from '../vl1/inet-address.js';
import type { World } from '../planet/world.js';
import type { JsonOut } from './api-json.js';
import type { LeafNetwork, LeafPath, LeafPeer, LeafStatus } from './model.js';

type Obj = { [key: string]: JsonOut };

/** 1.14's defaults for the `softwareUpdate` keys /status always shows (Linux builds: updates disabled). */
const SOFTWARE_UPDATE_DEFAULT = 'disable';
const SOFTWARE_UPDATE_CHANNEL_DEFAULT = 'release';

function versionText(v: { major: number; minor: number; revision: number }): string {
  return `${v.major}.${v.minor}.${v.revision}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A JSON-safe deep copy of what JSON.parse gave (local.conf): only plain data survives. */
function plainCopy(v: unknown): JsonOut {
  if (v === null || typeof v === 'boolean' || typeof v === 'string' || typeof v === 'bigint') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (Array.isArray(v)) return v.map(plainCopy);
  if (isObject(v)) {
    const o: Obj = {};
    // defineProperty: a "__proto__" key in local.conf stays a key, it never becomes the copy's prototype.
    for (const [k, x] of Object.entries(v)) Object.defineProperty(o, k, { value: plainCopy(x), enumerable: true, writable: true, configurable: true });
    return o;
  }
  return null;
}

/**
 * GET /status. `localConf` is the local.conf object as held (null: none; then the status's own settings
 * stand in); its `settings` come back augmented as 1.14 augments them.
 */
export function statusJson(s: LeafStatus, now: number, localConf: Record<string, unknown> | null): Obj {
  const config = plainCopy(localConf ?? { settings: s.settings }) as Obj;
  const settings: Obj = isObject(config['settings']) ? (config['settings'] as Obj) : {};
  config['settings'] = settings;
  settings['allowTcpFallbackRelay'] = s.allowTcpFallbackRelay;
  settings['forceTcpRelay'] = s.forceTcpRelay;
  settings['primaryPort'] = s.primaryPort;
  settings['secondaryPort'] = s.secondaryPort;
  settings['tertiaryPort'] = s.tertiaryPort;
  settings['homeDir'] = s.homeDir;
  settings['listeningOn'] = [...s.listeningOn];
  settings['surfaceAddresses'] = [...s.surfaceAddresses];
  settings['portMappingEnabled'] = s.portMappingEnabled;
  if (typeof settings['softwareUpdate'] !== 'string') settings['softwareUpdate'] = SOFTWARE_UPDATE_DEFAULT;
  if (typeof settings['softwareUpdateChannel'] !== 'string') settings['softwareUpdateChannel'] = SOFTWARE_UPDATE_CHANNEL_DEFAULT;
  return {
    address: formatAddress(s.address),
    clock: now,
    config,
    online: s.online,
    planetWorldId: s.planetWorldId,
    planetWorldTimestamp: s.planetWorldTimestamp,
    publicIdentity: s.publicIdentity,
    tcpFallbackActive: s.tcpFallbackActive,
    version: versionText(s.version),
    versionBuild: s.version.build,
    versionMajor: s.version.major,
    versionMinor: s.version.minor,
    versionRev: s.version.revision,
  };
}

/** GET /health (answered without the token, but only to allowed addresses). */
export function healthJson(s: LeafStatus, now: number): Obj {
  return {
    clock: now,
    online: s.online,
    version: versionText(s.version),
    versionBuild: s.version.build,
    versionMajor: s.version.major,
    versionMinor: s.version.minor,
    versionRev: s.version.revision,
  };
}

/** "ip/port" → "ip" (1.14 writes a route's `via` with `toIpString`). */
function ipOnly(a: string): string {
  const slash = a.lastIndexOf('/');
  return slash < 0 ? a : a.slice(0, slash);
}

/** One network, as GET /network/<id> and each element of GET /network. */
export function networkJson(n: LeafNetwork): Obj {
  const id = formatNetworkId(n.nwid);
  return {
    allowDNS: n.settings.allowDNS,
    allowDefault: n.settings.allowDefault,
    allowGlobal: n.settings.allowGlobal,
    allowManaged: n.settings.allowManaged,
    assignedAddresses: [...n.assignedAddresses],
    bridge: n.bridge,
    broadcastEnabled: n.broadcastEnabled,
    dhcp: false,
    dns: { domain: n.dns.domain, servers: n.dns.servers.map(ipOnly) },
    id,
    mac: formatMac(n.mac),
    mtu: n.mtu,
    multicastSubscriptions: n.multicastSubscriptions.map((m) => ({ adi: m.adi, mac: formatMac(m.mac) })),
    name: n.name,
    netconfRevision: n.netconfRevision,
    nwid: id,
    portDeviceName: n.portDeviceName,
    portError: n.portError,
    routes: n.routes.map((r) => ({ flags: r.flags, metric: r.metric, target: r.target, via: r.via === null ? null : ipOnly(r.via) })),
    status: n.status,
    type: n.type,
  };
}

function pathJson(p: LeafPath): Obj {
  return {
    active: !p.expired,
    address: p.address,
    expired: p.expired,
    lastReceive: Math.max(0, p.lastReceive),
    lastSend: Math.max(0, p.lastSend),
    // 1.14.1 reports 0 here whatever the socket (vl2.md §8.2 [run]).
    localPort: 0,
    localSocket: p.localSocket,
    preferred: p.preferred,
    trustedPathId: 0,
  };
}

/** One peer, as GET /peer/<addr> and each element of GET /peer. Unknown version/latency are −1, as in 1.14. */
export function peerJson(p: LeafPeer): Obj {
  const v = p.version ?? { major: -1, minor: -1, revision: -1 };
  return {
    address: formatAddress(p.address),
    isBonded: false,
    latency: p.latencyMs === null ? -1 : Math.round(p.latencyMs),
    paths: p.paths.map(pathJson),
    role: p.role,
    tunneled: p.tunneled,
    version: versionText(v),
    versionMajor: v.major,
    versionMinor: v.minor,
    versionRev: v.revision,
  };
}

/** One moon (GET /moon, /moon/<id>). */
export function moonJson(w: World): Obj {
  return {
    id: formatNetworkId(w.id),
    roots: w.roots.map((r) => ({ identity: r.identity.toString(false), stableEndpoints: r.stableEndpoints.map(formatInetAddress) })),
    signature: toHex(w.signature),
    timestamp: w.timestamp,
    updatesMustBeSignedBy: toHex(w.updatesMustBeSignedBy),
    waiting: false,
  };
}

/** What POST /moon/<id> answers for a moon being fetched from its seed (1.14's placeholder). */
export function waitingMoonJson(id: bigint): Obj {
  return { id: formatNetworkId(id), roots: [], signature: null, timestamp: 0, updatesMustBeSignedBy: null, waiting: true };
}
