/**
 * A raw VL1 client for root tests: one UDP socket on 127.0.0.1, its identity, and packets built by hand
 * with the vl1 codecs, so a test can poke any behaviour (forged MACs, hop counts, collisions, extended
 * armor). Our own test clients may use loopback; real zerotier-one clients are tested in namespaces.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import type { Identity } from '../vl1/identity.js';
import { PeerKey } from '../vl1/peer-key.js';
import { buildHelloPacket } from '../vl1/hello-packet.js';
import { Inbox } from './inbox.js';
import { answerRootEcho } from './probe-answer.js';

export interface RawClientTarget {
  /** The root's identity (public is enough). */
  root: Identity;
  /** The root's UDP port (read at each send: the root may start after the client is made). */
  port(): number;
  /** The planet the client claims to hold. */
  planetId: bigint;
  planetTimestamp: number;
}

export interface RawClientOptions {
  /**
   * Answer the root's path probes (an ECHO from the root) with OK(ECHO), as a 1.14 client does, instead of putting
   * them in the inbox (default true): the root adopts a path only once it is answered (root/path-probes.ts).
   */
  answerProbes?: boolean;
}

export class RawClient {
  readonly sock = dgram.createSocket('udp4');
  readonly inbox = new Inbox<Uint8Array>();
  /** Root probes answered so far. */
  probesAnswered = 0;
  private rootKey: PeerKey | null = null;

  constructor(readonly id: Identity, readonly target: RawClientTarget, opts: RawClientOptions = {}) {
    const answer = opts.answerProbes ?? true;
    this.sock.on('message', (m, rinfo) => {
      const d = new Uint8Array(m);
      const ok = answer ? answerRootEcho(d, this.id, this.target.root, (this.rootKey ??= this.keyWith(this.target.root))) : null;
      if (ok === null) return this.inbox.push(d);
      this.probesAnswered++;
      this.sock.send(ok, rinfo.port, rinfo.address);
    });
  }

  async open(): Promise<this> {
    this.sock.bind(0, '127.0.0.1');
    await once(this.sock, 'listening');
    return this;
  }

  get port(): number {
    return this.sock.address().port;
  }

  keyWith(other: Identity): PeerKey {
    return new PeerKey(this.id.agree(other));
  }

  send(buf: Uint8Array, port = this.target.port()): void {
    this.sock.send(buf, port, '127.0.0.1');
  }

  /** Next datagram, or null after `ms`. */
  next(ms = 1500): Promise<Uint8Array | null> {
    return this.inbox.next(ms);
  }

  /** Everything that arrives until `ms` pass without a datagram. */
  drain(ms = 300): Promise<Uint8Array[]> {
    return this.inbox.drain(ms);
  }

  /** A HELLO as 1.14.1 builds it (suite 0, cryptField-encrypted moon list), optionally with extended armor. */
  hello(opts: { planetTimestamp?: number; identity?: Identity; moons?: Array<{ id: bigint; timestamp: number }>; extended?: boolean; port?: number } = {}): Uint8Array {
    return buildHelloPacket({
      from: opts.identity ?? this.id,
      to: this.target.root,
      physicalDestination: { family: 4, ip: '127.0.0.1', port: opts.port ?? this.target.port() },
      planet: { id: this.target.planetId, timestamp: opts.planetTimestamp ?? this.target.planetTimestamp },
      moons: (opts.moons ?? []).map((m) => ({ type: 0x7f, ...m })),
      timestamp: 1_795_330_104_559,
      extended: opts.extended === true,
    });
  }

  close(): void {
    this.sock.close();
  }
}
