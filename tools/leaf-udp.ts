/**
 * The leaf's UDP sockets as the `ztroot leaf` process chooses them: the batched sockets of native/udp
 * (relay/udp-socket.ts: `recvmmsg`/`sendmmsg`, no Buffer, rinfo or send request per datagram) when the addon loads,
 * else the leaf's own node:dgram sockets (leaf/udp.ts). leaf/ may not import relay/ (DESIGN.md), so the choice is
 * made here and injected as a {@link UdpOpener}. `ZTROOT_UDP` and `--udp` mean what they mean for a root.
 */
import { openUdpSocket, resolveUdpPath, UdpStat, type BatchedUdpSocket, type UdpPath, type UdpPathMode } from '../relay/udp-socket.js';
import type { LeafUdpSocket, UdpOpener } from '../leaf/udp.js';

/** Datagrams a batched socket counted as not sent: send errors, a full send buffer, refused addresses. */
function failures(s: BatchedUdpSocket): number {
  return s.stats[UdpStat.TX_ERRORS]! + s.stats[UdpStat.TX_DROPPED_AGAIN]! + s.stats[UdpStat.TX_REJECTED]!;
}

/**
 * The path for `mode` and, on the batched path, the opener that gives the leaf those sockets (undefined on the
 * dgram path: the leaf's own sockets are the fallback).
 * @throws ZtError BAD_CONFIG as {@link resolveUdpPath}
 */
export function leafUdp(mode: UdpPathMode = 'auto', env: NodeJS.ProcessEnv = process.env): { path: UdpPath; opener: UdpOpener | undefined } {
  const path = resolveUdpPath(mode, env);
  if (path.path !== 'batched') return { path, opener: undefined };
  const opener: UdpOpener = async (req, onMessage) => {
    const s = (await openUdpSocket(path, { family: req.family, address: req.address, port: req.port, onError: req.onError }, onMessage)) as BatchedUdpSocket;
    const sock: LeafUdpSocket = {
      send: (data, port, ip) => s.send(data, port, ip),
      address: () => s.address(),
      close: () => s.close(),
      sendFailures: () => failures(s),
    };
    return sock;
  };
  return { path, opener };
}
