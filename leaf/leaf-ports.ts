/**
 * Which UDP ports a leaf takes (shared/protocol/vl1.md §10), as 1.14 picks them: the primary port from local.conf
 * (default 9993, fatal when busy: the local API needs it too), the secondary and tertiary ports from local.conf or
 * the first of 1.14's random candidates that a trial bind finds free.
 *
 * A trial bind can race another process taking the port before the node binds it for real; 1.14 has the same
 * window, and the node's own bind then fails with the port named.
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { randomPortCandidates, randomPrimaryPortCandidates } from './home-ports.js';
import type { LeafLocalSettings } from './home-local-conf.js';

/** True when UDP and TCP `port` can both be bound on `address` (1.14 checks both: the API shares the primary). */
export async function portIsFree(port: number, address?: string): Promise<boolean> {
  const family = address !== undefined && address.includes(':') ? 'udp6' : 'udp4';
  const udpFree = await new Promise<boolean>((resolve) => {
    const s = createSocket(family);
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind({ port, address, exclusive: true }, () => s.close(() => resolve(true)));
  });
  if (!udpFree) return false;
  return new Promise<boolean>((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: address, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

async function firstFree(candidates: Iterable<number>, taken: Set<number>, address?: string): Promise<number> {
  for (const p of candidates) if (!taken.has(p) && (await portIsFree(p, address))) return p;
  return 0;
}

export interface LeafPorts {
  primary: number;
  /** 0: none (allowSecondaryPort false, or no free one found). */
  secondary: number;
  /** The port-mapping port; 0: none (portMappingEnabled false, or no free one found). */
  tertiary: number;
}

/**
 * The three ports for `settings`.
 * @throws {ZtError} UNAVAILABLE naming the port when a configured primary port is busy, or no random one is free
 */
export async function pickLeafPorts(settings: LeafLocalSettings, address?: string): Promise<LeafPorts> {
  const taken = new Set<number>();
  let primary = settings.primaryPort;
  if (primary === 0) {
    primary = await firstFree(randomPrimaryPortCandidates(), taken, address);
    if (primary === 0) throw new ZtError(ZtErrorCode.UNAVAILABLE, 'no free UDP/TCP port found for the primary port in 256 random tries (20000..65499)');
  } else if (!(await portIsFree(primary, address))) {
    throw new ZtError(
      ZtErrorCode.UNAVAILABLE,
      `port ${primary} (local.conf settings.primaryPort, UDP and TCP) is in use: another zerotier-one or leaf runs on this host; stop it or set another primaryPort`,
    );
  }
  taken.add(primary);
  let secondary = 0;
  if (settings.allowSecondaryPort) {
    secondary = settings.secondaryPort !== 0 && !taken.has(settings.secondaryPort) && (await portIsFree(settings.secondaryPort, address)) ? settings.secondaryPort : await firstFree(randomPortCandidates(), taken, address);
    if (secondary !== 0) taken.add(secondary);
  }
  if (!settings.portMappingEnabled) return { primary, secondary, tertiary: 0 };
  const tertiary =
    settings.tertiaryPort !== 0 && !taken.has(settings.tertiaryPort) && (await portIsFree(settings.tertiaryPort, address)) ? settings.tertiaryPort : await firstFree(randomPortCandidates(), taken, address);
  return { primary, secondary, tertiary };
}

/** A new random secondary port (1.14's candidates, the trial bind), other than those `taken`; 0 when none is free. */
export function pickRandomPort(taken: Set<number>, address?: string): Promise<number> {
  return firstFree(randomPortCandidates(), taken, address);
}
