/**
 * Proves the namespace harness (test/netns.ts) really works, with real UDP sockets (node:dgram) inside the
 * namespaces, only ever to 192.0.0.0/24 and 2001:db8::/32 addresses of the topology:
 *  1. a public host reaches the root namespace (IPv4 and IPv6), and nothing routes off the machine;
 *  2. a client behind a NAT reaches the root, which sees the router's public address as the source;
 *  3. two clients behind two cone NATs (MASQUERADE) reach each other directly after classic hole punching;
 *  4. with --random-fully on both NATs, the same hole punching fails, while both still reach the root;
 *  5. destroy() and the exit hooks leave no namespace behind — after a throwing test, an uncaught exception,
 *     SIGTERM — and cleanupStale() removes what a SIGKILLed run left, but not live topologies.
 * Skipped (with the reason) when not root or `ip`/`iptables` are missing; `bash test/system-deps.sh` installs them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  cleanupStale,
  createTopology,
  listNamespaces,
  netnsUnavailableReason,
  withTopology,
  type Topology,
} from './netns.js';

const skip = netnsUnavailableReason() ?? false;
if (skip) console.error(`# netns tests skipped: ${skip}`);

const ROOT_PORT = 9993;
const CLIENT_PORT = 41641;

/**
 * A UDP agent run inside a namespace: binds one socket, reports every datagram (and errors) as a JSON line on
 * stdout, echoes "<source ip> <source port>" back when `echo` is set (what a root's reflected address tells a
 * client), and sends what stdin asks: `count` datagrams `intervalMs` apart, then a `sent` event; `{"stop":true}`
 * ends every sender early. It exits when stdin closes, and after `lifeMs` in any case.
 */
const AGENT = `
const dgram = require('node:dgram');
const readline = require('node:readline');
const cfg = JSON.parse(process.argv[1]);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
// Separate IPv4 and IPv6-only sockets, as root.cpp does (vl1.md §5.1), so the two never collide on a port.
const sock = dgram.createSocket({ type: cfg.type, ipv6Only: cfg.type === 'udp6' });
sock.on('error', (e) => out({ ev: 'error', message: e.message }));
sock.on('message', (msg, r) => {
  out({ ev: 'recv', ip: r.address, port: r.port, data: msg.toString() });
  if (cfg.echo) sock.send(r.address + ' ' + r.port, r.port, r.address);
});
sock.bind(cfg.port, () => out({ ev: 'ready', port: sock.address().port }));
const timers = new Set();
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const c = JSON.parse(line);
  if (c.stop) { for (const t of timers) clearTimeout(t); timers.clear(); return; }
  let k = 0;
  const tick = (t) => {
    timers.delete(t);
    const last = ++k >= (c.count ?? 1);
    sock.send(c.data, c.port, c.ip, (e) => {
      if (e) out({ ev: 'error', message: e.message });
      else if (last) out({ ev: 'sent', data: c.data });
    });
    if (!last) { const n = setTimeout(() => tick(n), c.intervalMs ?? 20); timers.add(n); }
  };
  tick();
}).on('close', () => process.exit(0));
setTimeout(() => process.exit(3), cfg.lifeMs ?? 30000).unref();
`;

interface AgentEvent {
  ev: 'ready' | 'recv' | 'sent' | 'error';
  ip?: string;
  port?: number;
  data?: string;
  message?: string;
}

class Agent {
  readonly events: AgentEvent[] = [];
  private waiters: Array<() => void> = [];

  private constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      this.events.push(JSON.parse(l) as AgentEvent);
      for (const w of this.waiters) w();
    });
  }

  static async start(t: Topology, ns: string, type: 'udp4' | 'udp6', port: number, echo = false): Promise<Agent> {
    const child = t.spawn(ns, process.execPath, ['-e', AGENT, JSON.stringify({ type, port, echo })], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const a = new Agent(child);
    await a.waitFor((e) => e.ev === 'ready', 5000, `agent in ${ns} did not bind ${type} port ${port}`);
    return a;
  }

  send(ip: string, port: number, data: string, count = 1, intervalMs = 20): void {
    this.child.stdin!.write(JSON.stringify({ ip, port, data, count, intervalMs }) + '\n');
  }

  /** Stops every sender of this agent. */
  stopSending(): void {
    this.child.stdin!.write('{"stop":true}\n');
  }

  /** The first event (already seen or future) matching `pred`, or null after `timeoutMs`. */
  find(pred: (e: AgentEvent) => boolean, timeoutMs: number): Promise<AgentEvent | null> {
    return new Promise((resolve) => {
      const check = () => {
        const e = this.events.find(pred);
        if (e === undefined) return false;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve(e);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve(null);
      }, timeoutMs);
      if (!check()) this.waiters.push(check);
    });
  }

  async waitFor(pred: (e: AgentEvent) => boolean, timeoutMs: number, what: string): Promise<AgentEvent> {
    const e = await this.find(pred, timeoutMs);
    if (e === null) assert.fail(`${what} within ${timeoutMs} ms; events: ${JSON.stringify(this.events)}`);
    return e;
  }

  /** Asks the root's echo agent what source address it saw: the reflected ("mapped") address. */
  async mappedVia(rootIp: string, timeoutMs = 5000): Promise<{ ip: string; port: number }> {
    const from = (e: AgentEvent) => e.ev === 'recv' && e.ip === rootIp && e.port === ROOT_PORT;
    this.send(rootIp, ROOT_PORT, 'who', 3, 50);
    const e = await this.waitFor(from, timeoutMs, `no echo from the root ${rootIp}`);
    const [ip, port] = e.data!.split(' ');
    return { ip: ip!, port: Number(port) };
  }

  stop(): void {
    this.child.stdin!.end();
  }
}

function namespacesWithTag(tag: string): string[] {
  return listNamespaces().filter((n) => n.includes(`-${tag}-`));
}

/**
 * Both agents learn their mapped address from the root, then send to each other's at the same time, until each
 * has received the other's punch or `windowMs` has passed. With `aFirst`, one packet of a's has reached b's router
 * before b sends anything — the usual case on a real network, where the two start at different times.
 * (Punching goes on for the whole window rather than a fixed count so that a CPU-starved agent — other test files
 * run in parallel on 2 cores — cannot finish sending before its peer even starts.)
 */
async function holePunch(a: Agent, b: Agent, rootIp: string, opts: { aFirst?: boolean; windowMs?: number } = {}) {
  const windowMs = opts.windowMs ?? 6000;
  const ma = await a.mappedVia(rootIp);
  const mb = await b.mappedVia(rootIp);
  if (opts.aFirst) {
    a.send(mb.ip, mb.port, 'early');
    await a.waitFor((e) => e.ev === 'sent' && e.data === 'early', 5000, 'a could not send its early packet');
    await new Promise((r) => setTimeout(r, 100)); // veth + bridge forwarding is synchronous in softirq; 100 ms is ample
  }
  const count = Math.ceil(windowMs / 25);
  a.send(mb.ip, mb.port, 'punch-a', count, 25);
  b.send(ma.ip, ma.port, 'punch-b', count, 25);
  const [aGot, bGot] = await Promise.all([
    a.find((e) => e.ev === 'recv' && e.data === 'punch-b', windowMs),
    b.find((e) => e.ev === 'recv' && e.data === 'punch-a', windowMs),
  ]);
  a.stopSending();
  b.stopSending();
  return { ma, mb, aGot, bGot };
}

const esc = (ip: string) => ip.replace(/[.:]/g, '\\$&');

/**
 * The public port a NAT router's conntrack gave the flow from `priv:port` to `dst`, read from the router's
 * /proc/net/nf_conntrack (reply direction: "src=dst dst=routerPublic sport=… dport=<mapped>").
 */
async function natPortToward(t: Topology, routerNs: string, pub: string, priv: string, port: number, dst: string) {
  const ct = (await t.exec(routerNs, 'cat', ['/proc/net/nf_conntrack'])).stdout;
  const re = new RegExp(
    `src=${esc(priv)} dst=${esc(dst)} sport=${port} dport=\\d+ .*?src=${esc(dst)} dst=${esc(pub)} sport=\\d+ dport=(\\d+)`,
  );
  const m = re.exec(ct);
  assert.ok(m, `no conntrack entry ${priv}:${port} -> ${dst} in ${routerNs}:\n${ct}`);
  return Number(m[1]);
}

describe('netns harness over real UDP', { skip }, () => {
  let topo: Topology;
  let root4: Agent;
  let root6: Agent;
  const agents: Agent[] = [];
  const start = async (ns: string, type: 'udp4' | 'udp6', port: number, echo = false) => {
    const a = await Agent.start(topo, ns, type, port, echo);
    agents.push(a);
    return a;
  };

  before(async () => {
    cleanupStale();
    // NAT 0 and 1: cone (plain MASQUERADE); NAT 2 and 3: --random-fully.
    topo = await createTopology({
      publicHosts: 1,
      nats: [{}, {}, { randomFully: true }, { randomFully: true }],
    });
    root4 = await start(topo.root.ns, 'udp4', ROOT_PORT, true);
    root6 = await start(topo.root.ns, 'udp6', ROOT_PORT, true);
  });

  after(async () => {
    for (const a of agents) a.stop();
    await topo?.destroy();
  });

  test('names are unique per run, at most 15 characters, and carry the ztt- prefix', () => {
    assert.equal(topo.namespaces.length, 1 + 1 + 1 + 4 * 2);
    assert.equal(new Set(topo.namespaces).size, topo.namespaces.length);
    for (const ns of topo.namespaces) {
      assert.ok(ns.length <= 15 && ns.startsWith(`ztt-${topo.tag}-`), ns);
      assert.ok(listNamespaces().includes(ns), `${ns} exists`);
    }
  });

  test('(1) a public host reaches the root over UDP, IPv4 and IPv6; nothing routes off the machine', async () => {
    const h = topo.publicHosts[0]!;
    const h4 = await start(h.ns, 'udp4', CLIENT_PORT);
    assert.deepEqual(await h4.mappedVia(topo.root.ip4), { ip: h.ip4, port: CLIENT_PORT });
    assert.ok(root4.events.some((e) => e.ev === 'recv' && e.ip === h.ip4 && e.data === 'who'));

    const h6 = await start(h.ns, 'udp6', CLIENT_PORT);
    assert.deepEqual(await h6.mappedVia(topo.root.ip6!), { ip: h.ip6, port: CLIENT_PORT });
    assert.ok(root6.events.some((e) => e.ev === 'recv' && e.ip === h.ip6));

    // Only route lookups (no packet is sent): outside 192.0.0.0/24 and 2001:db8::/32 there is no route at all,
    // except a NATed client's default route, which ends at its router — and the router has none.
    const nat = topo.nats[0]!;
    for (const [ns, ver, dst] of [
      [h.ns, '-4', '203.0.113.7'],
      [h.ns, '-6', '2001:4860::1'],
      [topo.root.ns, '-4', '203.0.113.7'],
      [nat.ns, '-4', '203.0.113.7'],
      [nat.ns, '-6', '2001:4860::1'],
    ] as const) {
      const lookup = topo.exec(ns, 'ip', [ver, 'route', 'get', dst]);
      await assert.rejects(lookup, /unreachable/i, `${ns} has a route to ${dst}`);
    }
    const viaRouter = await topo.exec(nat.clients[0]!.ns, 'ip', ['-4', 'route', 'get', '203.0.113.7']);
    assert.match(viaRouter.stdout, new RegExp(`via ${nat.privateIp4.replaceAll('.', '\\.')} dev eth0`));
  });

  test('(2) a client behind a NAT reaches the root, which sees the NAT router public address as source', async () => {
    const nat = topo.nats[0]!;
    const c = nat.clients[0]!;
    assert.notEqual(c.ip4, nat.publicIp4);
    const c4 = await start(c.ns, 'udp4', CLIENT_PORT + 1);
    const m4 = await c4.mappedVia(topo.root.ip4);
    assert.equal(m4.ip, nat.publicIp4);
    assert.ok(root4.events.some((e) => e.ev === 'recv' && e.ip === nat.publicIp4 && e.port === m4.port));
    assert.ok(!root4.events.some((e) => e.ip === c.ip4), 'the root saw the private address');

    const c6 = await start(c.ns, 'udp6', CLIENT_PORT + 1);
    const m6 = await c6.mappedVia(topo.root.ip6!);
    assert.equal(m6.ip, nat.publicIp6);
    assert.ok(!root6.events.some((e) => e.ip === c.ip6), 'the root saw the private IPv6 address');
  });

  test('(3) clients behind two cone NATs reach each other directly after hole punching', async () => {
    const [n0, n1] = topo.nats;
    const a = await start(n0!.clients[0]!.ns, 'udp4', CLIENT_PORT);
    const b = await start(n1!.clients[0]!.ns, 'udp4', CLIENT_PORT);
    const { ma, mb, aGot, bGot } = await holePunch(a, b, topo.root.ip4);
    // MASQUERADE keeps the source port when it is free: the mapping is endpoint-independent.
    assert.deepEqual(ma, { ip: n0!.publicIp4, port: CLIENT_PORT });
    assert.deepEqual(mb, { ip: n1!.publicIp4, port: CLIENT_PORT });
    // Direct: each sees the other's NAT mapping as the source, not the root.
    assert.deepEqual(aGot && { ip: aGot.ip, port: aGot.port }, mb, 'a did not receive b directly');
    assert.deepEqual(bGot && { ip: bGot.ip, port: bGot.port }, ma, 'b did not receive a directly');
  });

  test('(3) ... also when one side punches first: the NAT firewall drops it before conntrack keeps it', async () => {
    const [n0, n1] = topo.nats;
    const a = await start(n0!.clients[0]!.ns, 'udp4', CLIENT_PORT + 2);
    const b = await start(n1!.clients[0]!.ns, 'udp4', CLIENT_PORT + 2);
    const { ma, mb, aGot, bGot } = await holePunch(a, b, topo.root.ip4, { aFirst: true });
    assert.deepEqual(aGot && { ip: aGot.ip, port: aGot.port }, mb, 'a did not receive b directly');
    assert.deepEqual(bGot && { ip: bGot.ip, port: bGot.port }, ma, 'b did not receive a directly');
  });

  test('(3) control: with no NAT firewall, an early punch makes MASQUERADE remap; punching fails', async () => {
    // What `firewall: true` (the default) prevents. The early packet reaches b's router itself, whose conntrack
    // entry (a's mapping -> b's router:port) then occupies the tuple b's own outgoing flow needs, so MASQUERADE
    // picks another source port for b and neither side's packets match the other's NAT state.
    await withTopology({ nats: [{ firewall: false }, { firewall: false }], ipv6: false }, async (t) => {
      const started: Agent[] = [];
      try {
        const root = await Agent.start(t, t.root.ns, 'udp4', ROOT_PORT, true);
        started.push(root);
        const a = await Agent.start(t, t.nats[0]!.clients[0]!.ns, 'udp4', CLIENT_PORT);
        started.push(a);
        const b = await Agent.start(t, t.nats[1]!.clients[0]!.ns, 'udp4', CLIENT_PORT);
        started.push(b);
        const { ma, mb, aGot, bGot } = await holePunch(a, b, t.root.ip4, { aFirst: true, windowMs: 2000 });
        assert.equal(aGot, null, `a received ${JSON.stringify(aGot)}`);
        assert.equal(bGot, null, `b received ${JSON.stringify(bGot)}`);
        const [na, nb] = t.nats;
        const bOut = await natPortToward(t, nb!.ns, nb!.publicIp4, nb!.clients[0]!.ip4, CLIENT_PORT, na!.publicIp4);
        assert.equal(mb.port, CLIENT_PORT, 'towards the root b kept its port');
        assert.notEqual(bOut, CLIENT_PORT, `towards a's NAT (${ma.ip}) b's port should have been remapped`);
      } finally {
        for (const a of started) a.stop();
      }
    });
  });

  test('(4) with --random-fully on both NATs hole punching fails, yet both still reach the root', async () => {
    const [, , n2, n3] = topo.nats;
    const a = await start(n2!.clients[0]!.ns, 'udp4', CLIENT_PORT);
    const b = await start(n3!.clients[0]!.ns, 'udp4', CLIENT_PORT);
    const { ma, mb, aGot, bGot } = await holePunch(a, b, topo.root.ip4, { windowMs: 2500 });
    assert.equal(ma.ip, n2!.publicIp4);
    assert.equal(mb.ip, n3!.publicIp4);
    // Each new conntrack entry gets a fresh random port, so the port the root reflected is not the one the peer's
    // punches come from or are accepted on. (Each router's two ports coincide with probability ~1/64000; that
    // both do is negligible, hence "some".)
    const aOut = await natPortToward(topo, n2!.ns, n2!.publicIp4, n2!.clients[0]!.ip4, CLIENT_PORT, n3!.publicIp4);
    const bOut = await natPortToward(topo, n3!.ns, n3!.publicIp4, n3!.clients[0]!.ip4, CLIENT_PORT, n2!.publicIp4);
    const kept = `random-fully kept the mapping: ${aOut}/${ma.port} ${bOut}/${mb.port}`;
    assert.ok(aOut !== ma.port || bOut !== mb.port, kept);
    // So nothing gets through, either way.
    assert.equal(aGot, null, `a received ${JSON.stringify(aGot)}`);
    assert.equal(bGot, null, `b received ${JSON.stringify(bGot)}`);
    assert.ok(!a.events.some((e) => e.ev === 'recv' && e.ip === n3!.publicIp4));
    assert.ok(!b.events.some((e) => e.ev === 'recv' && e.ip === n2!.publicIp4));
    // ...while the path through the root keeps working, which is what relaying rides on.
    const again = await a.mappedVia(topo.root.ip4);
    assert.deepEqual(again, ma, 'the mapping towards the root is stable');
    assert.equal((await b.mappedVia(topo.root.ip4)).ip, n3!.publicIp4);
  });
});

describe('netns harness cleanup', { skip }, () => {
  const netnsModule = fileURLToPath(new URL('./netns.js', import.meta.url));

  /** Runs a Node child that creates a topology, prints its tag, then does `then`. */
  function child(then: string): { proc: ChildProcess; tag: Promise<string> } {
    const script = `
      const { createTopology } = await import(${JSON.stringify(netnsModule)});
      const t = await createTopology({ nats: [{}], publicHosts: 1 });
      t.spawn(t.nats[0].clients[0].ns, 'sleep', ['60']);
      console.log(t.tag);
      ${then}`;
    const proc = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    const tag = new Promise<string>((resolve, reject) => {
      createInterface({ input: proc.stdout! }).once('line', resolve);
      proc.once('exit', (code, sig) => reject(new Error(`child exited (${code ?? sig}) before printing its tag`)));
    });
    return { proc, tag };
  }

  const exited = (p: ChildProcess) =>
    new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
      let stderr = '';
      p.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      p.once('exit', (code, signal) => resolve({ code, signal, stderr }));
    });

  test('(5) destroy() removes every namespace, kills spawned processes, and is idempotent', async () => {
    const hostLinks = () =>
      spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' })
        .stdout.split('\n')
        .map((l) => l.split(': ')[1])
        .sort();
    const linksBefore = hostLinks();
    const t = await createTopology({ nats: [{ clients: 2 }], publicHosts: 1, ipv6: false });
    assert.deepEqual(hostLinks(), linksBefore, 'the topology added an interface to the host namespace');
    assert.equal(namespacesWithTag(t.tag).length, 1 + 1 + 1 + 1 + 2);
    const sleeper = t.spawn(t.nats[0]!.clients[1]!.ns, 'sleep', ['60']);
    const gone = new Promise((r) => sleeper.once('exit', (_code, signal) => r(signal)));
    await t.destroy();
    const timeout = new Promise((r) => setTimeout(() => r('still running'), 5000).unref());
    assert.equal(await Promise.race([gone, timeout]), 'SIGKILL', 'destroy() did not kill the spawned process');
    assert.deepEqual(namespacesWithTag(t.tag), []);
    assert.deepEqual(hostLinks(), linksBefore);
    await t.destroy();
    assert.throws(() => t.spawn(t.root.ns, 'true', []), /destroyed/);
  });

  test('(5) withTopology() destroys the topology when the test body throws', async () => {
    let tag = '';
    await assert.rejects(
      withTopology({ nats: [{}] }, async (t) => {
        tag = t.tag;
        assert.ok(namespacesWithTag(tag).length > 0);
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.notEqual(tag, '');
    assert.deepEqual(namespacesWithTag(tag), []);
  });

  test('(5) exit hooks clean up after an uncaught exception and after SIGTERM', async () => {
    const crash = child(`throw new Error('crash on purpose');`);
    const crashTag = await crash.tag;
    const c = await exited(crash.proc);
    assert.notEqual(c.code, 0);
    assert.match(c.stderr, /crash on purpose/);
    assert.deepEqual(namespacesWithTag(crashTag), [], 'left behind after an uncaught exception');

    const term = child(`setInterval(() => {}, 1000);`);
    const termTag = await term.tag;
    assert.ok(namespacesWithTag(termTag).length > 0);
    const done = exited(term.proc);
    term.proc.kill('SIGTERM');
    const r = await done;
    assert.equal(r.signal, 'SIGTERM', 'the hook must not swallow the signal');
    assert.deepEqual(namespacesWithTag(termTag), [], 'left behind after SIGTERM');
  });

  test('(5) cleanupStale() removes what a SIGKILLed run left, and leaves live topologies alone', async () => {
    const mine = await createTopology({ publicHosts: 1, ipv6: false });
    try {
      const killed = child(`setInterval(() => {}, 1000);`);
      const tag = await killed.tag;
      const done = exited(killed.proc);
      killed.proc.kill('SIGKILL');
      await done;
      const left = namespacesWithTag(tag);
      assert.equal(left.length, 5, 'SIGKILL leaves the namespaces behind (no hook can run)');
      // A probe namespace of a process that died during netnsUnavailableReason() goes too.
      const deadPid = spawnSync('true').pid!;
      assert.equal(spawnSync('ip', ['netns', 'add', `ztt-p${deadPid}`]).status, 0);
      left.push(`ztt-p${deadPid}`);
      const removed = cleanupStale();
      // (A superset: leftovers of other crashed runs may go too; live ones never.)
      for (const ns of left) assert.ok(removed.includes(ns), `${ns} was not removed`);
      assert.deepEqual(namespacesWithTag(tag), []);
      assert.deepEqual(namespacesWithTag(mine.tag).sort(), [...mine.namespaces].sort(), 'a live topology was touched');
    } finally {
      await mine.destroy();
    }
  });
});
