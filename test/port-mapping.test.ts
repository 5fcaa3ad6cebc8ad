/**
 * Port mapping against a real gateway: Debian's miniupnpd in a NAT router namespace (test/miniupnpd.ts), a
 * process standing in for the leaf behind it (test/port-mapper-driver.ts: the leaf's UDP socket and a
 * PortMapper), and a public host outside that sends to the mapped address without the leaf ever having sent it
 * anything. Also: no gateway at all, a gateway that dies, an IGD v1-only gateway, and two ways the library's
 * own code could kill the leaf (a short datagram on the NAT-PMP client port; UDP 1900 held by another program).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import { netnsUnavailableReason, withTopology, type Host, type Topology } from './netns.js';
import { miniupnpdUnavailableReason, startMiniupnpd } from './miniupnpd.js';
import { watchJsonLines, type JsonLine, type JsonLineWatch } from './json-lines.js';
import { REPO_ROOT } from './vectors.js';

const DRIVER = join(REPO_ROOT, 'dist', 'test', 'port-mapper-driver.js');
const netnsSkip = netnsUnavailableReason();
const skip = netnsSkip ?? miniupnpdUnavailableReason();
if (skip) console.log(`# port-mapping tests skipped: ${skip}`);

/** One NAT router with one client behind it, and one host outside: IPv4 only (NAT-PMP and our UPnP are IPv4). */
const TOPO = { nats: [{ clients: 1 }], publicHosts: 1, ipv6: false };

interface Driver extends JsonLineWatch {
  child: ChildProcess;
  send(cmd: object): void;
  /** Asks it to stop and resolves with how long `stop()` took, once the process exited 0. */
  stop(): Promise<number>;
}

async function startDriver(t: Topology, host: Host, opts: object): Promise<Driver> {
  const child = t.spawn(host.ns, process.execPath, [DRIVER, JSON.stringify(opts)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const w = watchJsonLines(child, 'driver');
  await w.waitFor((l) => l.event === 'ready', 10_000, 'driver ready');
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    ...w,
    lines: w.lines,
    child,
    send: (cmd) => child.stdin!.write(`${JSON.stringify(cmd)}\n`),
    async stop() {
      child.stdin!.write('{"cmd":"stop"}\n');
      const stopped = await w.waitFor((l) => l.event === 'stopped', 10_000, 'stopped');
      assert.equal(await exit, 0, `driver exit code\n${w.stderr()}`);
      return stopped.ms as number;
    },
  };
}

/** Sends one UDP datagram from a fresh socket in `host`'s namespace. */
async function sendUdp(t: Topology, host: Host, ip: string, port: number, data: string): Promise<void> {
  const js = `const s=require('node:dgram').createSocket('udp4');s.send(${JSON.stringify(data)},${port},${JSON.stringify(ip)},(e)=>{if(e)throw e;s.close()})`;
  await t.exec(host.ns, process.execPath, ['-e', js]);
}

const events = (d: JsonLineWatch, event: string): JsonLine[] => d.lines.filter((l) => l.event === event);
const logs = (d: JsonLineWatch, level: string): JsonLine[] => d.lines.filter((l) => l.event === 'log' && l.level === level);

for (const method of ['nat-pmp', 'upnp'] as const) {
  test(`${method}: the leaf's ports are mapped, a host outside reaches them through the mappings, stop deletes them`, { skip: skip ?? false, timeout: 60_000 }, async (ctx) => {
    await withTopology(TOPO, async (t) => {
      const gw = await startMiniupnpd(t, 0);
      const client = t.nats[0]!.clients[0]!;
      const outside = t.publicHosts[0]!;
      const ports = [40_000, 40_001];
      const d = await startDriver(t, client, { ports, methods: [method], startOnCommand: true });

      // Control: before the mapping, the router's firewall drops what the outside sends.
      await sendUdp(t, outside, gw.externalIp, ports[0]!, 'before the mapping');
      await sleep(300);
      assert.deepEqual(events(d, 'datagram'), [], 'nothing reaches the leaf unmapped');

      d.send({ cmd: 'start' });
      await d.waitFor(() => events(d, 'mapped').length === 2, 10_000, 'both ports mapped');
      ctx.diagnostic(`${method}: both ports mapped ${String(events(d, 'mapped')[1]!.sinceStartMs)} ms after start()`);
      for (const [i, port] of ports.entries()) {
        const mapped = events(d, 'mapped').map((l) => l.mapping as Record<string, unknown>).find((m) => m.internalPort === port)!;
        assert.deepEqual(mapped.external, { family: 4, ip: gw.externalIp, port });
        assert.equal(mapped.method, method);
        assert.equal(mapped.gateway, gw.router.privateIp4);
        assert.match(await gw.natRules(), new RegExp(`--dport ${port} `));

        await sendUdp(t, outside, gw.externalIp, port, `through mapping ${i}`);
        const got = await d.waitFor((l) => l.event === 'datagram' && l.data === `through mapping ${i}`, 5000, `the datagram from outside to ${port}`);
        assert.equal(got.port, port);
        assert.match(got.from as string, new RegExp(`^${outside.ip4.replaceAll('.', '\\.')}/`), 'straight from the outside host');
      }
      // The gateway saw that protocol, with our lease (NAT-PMP: in seconds on the wire) or our mapping's name (UPnP).
      assert.match(gw.log(), method === 'nat-pmp' ? /NAT-PMP port mapping request : 40000->192\.0\.0\.\d+:40000 udp lifetime=7200s/ : /redirecting port 40000 to 192\.0\.0\.\d+:40000 protocol UDP for: ztroot@40000/);

      await d.stop();
      assert.deepEqual(
        events(d, 'lost').map((l) => l.reason),
        ['stopped', 'stopped'],
      );
      assert.doesNotMatch(await gw.natRules(), /--dport 4000[01] /, 'stop() deleted the mappings on the gateway');
      assert.deepEqual(events(d, 'error'), []);
    });
  });

  test(`${method}: renewals keep the mapping past its lease; a gateway that dies ends it with 'lost', quietly`, { skip: skip ?? false, timeout: 60_000 }, async () => {
    await withTopology(TOPO, async (t) => {
      const gw = await startMiniupnpd(t, 0);
      const client = t.nats[0]!.clients[0]!;
      const port = 40_002;
      // NAT-PMP grants the 2 s asked for (miniupnpd removes expired NAT-PMP mappings); UPnP gets the library's
      // 3600 s floor, so there only the renewals themselves are checked.
      const d = await startDriver(t, client, { ports: [port], methods: [method], leaseSeconds: 2, refreshMs: 1000, retryMinMs: 500, retryMaxMs: 1000, pmpAttemptsMs: [200, 400], upnpSearchMs: 500 });
      await d.waitFor((l) => l.event === 'mapped', 10_000, 'mapped');
      await sleep(3200);
      const requests = method === 'nat-pmp' ? gw.log().match(/NAT-PMP port mapping request : 40002->/g) : gw.log().match(/#AddAnyPortMapping/g);
      assert.ok((requests?.length ?? 0) >= 4, `renewed every second (${requests?.length ?? 0} requests in 3.2 s, the first included)`);
      await sendUdp(t, t.publicHosts[0]!, gw.externalIp, port, 'after the lease');
      await d.waitFor((l) => l.event === 'datagram' && l.data === 'after the lease', 5000, 'a datagram after the first lease ran out');
      assert.equal(events(d, 'mapped').length, 1, 'renewals of the same address are not new mappings');

      await gw.kill();
      const lost = await d.waitFor((l) => l.event === 'lost', 10_000, 'lost');
      assert.equal(lost.reason, 'gateway-unreachable');
      await sleep(2000); // several retry rounds with no gateway
      assert.deepEqual(events(d, 'error'), [], 'no gateway is not an error');
      assert.deepEqual(logs(d, 'warn'), []);
      assert.equal(logs(d, 'info').filter((l) => /no NAT-PMP or UPnP gateway/.test(l.msg as string)).length, 1, 'said once');
      await d.stop();
    });
  });
}

test('three leaves behind one NAT ask for the same port: each gets its own external port, and traffic to each reaches it', { skip: skip ?? false, timeout: 60_000 }, async (ctx) => {
  await withTopology({ nats: [{ clients: 3 }], publicHosts: 1, ipv6: false }, async (t) => {
    const gw = await startMiniupnpd(t, 0);
    const port = 40_020;
    const granted: number[] = [];
    for (const [i, method] of (['nat-pmp', 'upnp', 'nat-pmp'] as const).entries()) {
      // One after the other, so the order (and so who keeps 40020) is known.
      const d = await startDriver(t, t.nats[0]!.clients[i]!, { ports: [port], methods: [method] });
      const m = (await d.waitFor((l) => l.event === 'mapped', 10_000, `client ${i} mapped`)).mapping as { external: { ip: string; port: number } };
      assert.equal(m.external.ip, gw.externalIp);
      granted.push(m.external.port);
      ctx.diagnostic(`client ${i} (${method}) asked for ${port}, was granted ${m.external.port}`);
      await sendUdp(t, t.publicHosts[0]!, gw.externalIp, m.external.port, `to client ${i}`);
      const got = await d.waitFor((l) => l.event === 'datagram', 5000, `client ${i}'s datagram`);
      assert.equal(got.data, `to client ${i}`);
    }
    assert.equal(granted[0], port, 'the first asker gets the port it asked for');
    assert.equal(new Set(granted).size, 3, `three different external ports: ${granted.join(', ')}`);
  });
});

test('no gateway: no mapping, no errors, one info line, and a quick stop', { skip: netnsSkip ?? false, timeout: 60_000 }, async () => {
  await withTopology(TOPO, async (t) => {
    const d = await startDriver(t, t.nats[0]!.clients[0]!, { ports: [40_004], retryMinMs: 300, retryMaxMs: 600, pmpAttemptsMs: [100, 200], upnpSearchMs: 400 });
    await sleep(3000);
    const rounds = logs(d, 'debug').filter((l) => l.msg === 'no port-mapping gateway answered' && l.method === 'upnp').length;
    assert.ok(rounds >= 2, `it kept looking (${rounds} rounds)`);
    assert.deepEqual(events(d, 'mapped'), []);
    assert.deepEqual(events(d, 'error'), []);
    assert.deepEqual(logs(d, 'warn'), []);
    assert.equal(logs(d, 'info').length, 1, `one info line: ${JSON.stringify(logs(d, 'info'))}`);
    const ms = await d.stop();
    assert.ok(ms < 1000, `stop() took ${ms} ms while a search was under way`);
  });
});

test('an IGD v1-only gateway is reported once, as such, and not retried into a log flood', { skip: skip ?? false, timeout: 60_000 }, async () => {
  await withTopology(TOPO, async (t) => {
    await startMiniupnpd(t, 0, { natpmp: false, igdV1Only: true });
    const d = await startDriver(t, t.nats[0]!.clients[0]!, { ports: [40_006], methods: ['upnp'], retryMinMs: 300, retryMaxMs: 300, upnpSearchMs: 500 });
    await sleep(3500);
    const errors = events(d, 'error');
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(errors[0]!.message as string, /only IGD v1/);
    assert.equal(errors[0]!.code, 'ZT_ERR_UNAVAILABLE');
    assert.equal(logs(d, 'warn').length, 1);
    assert.ok(logs(d, 'debug').filter((l) => l.msg === 'port mapping problem persists').length >= 2, 'retried, quietly');
    await d.stop();

    // The same problem with nobody listening for 'error': logged, and the process lives on.
    const unheard = await startDriver(t, t.nats[0]!.clients[0]!, { ports: [40_006], methods: ['upnp'], upnpSearchMs: 500, noErrorListener: true });
    await unheard.waitFor((l) => l.event === 'log' && l.level === 'warn', 5000, 'the warning');
    assert.equal(unheard.child.exitCode, null);
    await unheard.stop();
  });
});

test('a short datagram on the NAT-PMP client port (5350) does not crash the leaf', { skip: netnsSkip ?? false, timeout: 60_000 }, async () => {
  await withTopology(TOPO, async (t) => {
    const client = t.nats[0]!.clients[0]!;
    // No gateway: every NAT-PMP request waits its full time, which is when the library parses what arrives.
    const d = await startDriver(t, client, { ports: [40_008], methods: ['nat-pmp'], pmpAttemptsMs: [1000, 1000], retryMinMs: 100, retryMaxMs: 100 });
    // From the gateway's own address (which the replies come from), 1, 2 and 9 bytes every 20 ms for 2.5 s.
    const js = `const s=require('node:dgram').createSocket('udp4');let i=0;const t=setInterval(()=>{s.send(Buffer.alloc([1,2,9][i++%3]),5350,${JSON.stringify(client.ip4)});if(i>=125){clearInterval(t);setTimeout(()=>s.close(),50)}},20)`;
    await t.exec(t.nats[0]!.ns, process.execPath, ['-e', js]);
    assert.equal(d.child.exitCode, null, `the leaf is still running\n${d.stderr()}`);
    await d.stop();
  });
});

test('UDP 1900 held by another program: UPnP still maps, and the leaf does not crash', { skip: skip ?? false, timeout: 60_000 }, async () => {
  await withTopology(TOPO, async (t) => {
    const gw = await startMiniupnpd(t, 0, { natpmp: false });
    const client = t.nats[0]!.clients[0]!;
    // Another SSDP user on the host, bound without SO_REUSEADDR (as a media server may be).
    const holder = t.spawn(client.ns, process.execPath, ['-e', `require('node:dgram').createSocket('udp4').bind(1900, ${JSON.stringify(client.ip4)}, () => console.log('bound'))`], { stdio: ['ignore', 'pipe', 'pipe'] });
    await watchJsonLines(holder, 'holder').waitFor((l) => l.text === 'bound', 5000, 'port 1900 held');
    const d = await startDriver(t, client, { ports: [40_010], methods: ['upnp'] });
    const mapped = await d.waitFor((l) => l.event === 'mapped', 10_000, 'mapped');
    assert.deepEqual((mapped.mapping as Record<string, unknown>).external, { family: 4, ip: gw.externalIp, port: 40_010 });
    await d.stop();
  });
});
