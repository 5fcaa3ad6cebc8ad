/**
 * The leaf's TAP devices (leaf/tap.ts) for real, in network namespaces this test creates: each device is opened
 * by a driver process inside its namespace (test/tap-driver.ts), and what the kernel made of it is read back
 * with `ip`.
 *  1. created as 1.14 creates it (name, MAC, MTU, flags, `tun type tap pi off vnet_hdr off persist off`); MTU and
 *     MAC changes; managed addresses and routes added, replaced and removed; multicast groups; close() removes it;
 *     the devicemap keeps the name.
 *  2. two devices in two namespaces joined by a UDP forwarder: ARP, NDP, IPv4 and IPv6 ping, and a TCP stream
 *     arrives intact — frames the kernel sends arrive as 'frame' events, frames written reach the kernel.
 *  3. oversize and runt frames are dropped and counted both ways; writes to a down device and after close too.
 *  4. an idle device costs no CPU; a device deleted under the leaf ends with a 'close' event saying so.
 *  5. without CAP_NET_ADMIN, /dev/net/tun or the addon, the reason says exactly what is missing.
 * Skipped, saying why, without root/namespaces or without the addon (the reason names how to build it).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTopology, netnsUnavailableReason, type Topology } from './netns.js';
import { watchJsonLines, type JsonLine, type JsonLineWatch } from './json-lines.js';
import { ADDON_PATH, nativeUnavailableReason } from '../leaf/tap-native.js';

const skip = netnsUnavailableReason() ?? nativeUnavailableReason() ?? false;
if (skip) console.error(`# TAP tests skipped: ${skip}`);

const DRIVER = fileURLToPath(new URL('./tap-driver.js', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const NWID = '8056c2e21c000001';
/** The MAC of address 89e92ceee5 on NWID (vl2.md §5.3). */
const MAC = '0289e9300c27';

interface Driver {
  name: string;
  child: ChildProcess;
  watch: JsonLineWatch;
  call(op: string, ...args: unknown[]): Promise<JsonLine>;
  stop(): Promise<void>;
}

let nextId = 1;

/** Starts a driver in `ns` (through `prefix`, e.g. setpriv, when given) and waits for its first line. */
async function startDriver(t: Topology, ns: string, opts: object, prefix: string[] = []): Promise<Driver> {
  const cmd = [...prefix, process.execPath, DRIVER, JSON.stringify(opts)];
  const child = t.spawn(ns, cmd[0]!, cmd.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  const watch = watchJsonLines(child, `tap driver in ${ns}`);
  const first = await watch.waitFor((l) => l.event === 'ready' || l.event === 'open-failed' || l.event === 'crash', 10_000, 'the device to open');
  if (first.event !== 'ready') throw new Error(`driver in ${ns}: ${JSON.stringify(first)}\n${watch.stderr()}`);
  return {
    name: first.name as string,
    child,
    watch,
    async call(op, ...args) {
      const id = nextId++;
      child.stdin!.write(`${JSON.stringify({ id, op, args })}\n`);
      return watch.waitFor((l) => l.id === id, 15_000, `the answer to ${op}`);
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.stdin!.end();
      await exited;
    },
  };
}

/** Runs a one-shot process in `ns` and returns its exit code and output (never rejects). */
function runIn(t: Topology, ns: string, cmd: string, args: string[], timeoutMs = 20_000): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const c = t.spawn(ns, cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

async function ipJson<T>(t: Topology, ns: string, ...args: string[]): Promise<T> {
  const { stdout } = await t.exec(ns, 'ip', ['-j', ...args]);
  return JSON.parse(stdout || '[]') as T;
}

interface AddrInfo {
  family: string;
  local: string;
  prefixlen: number;
  broadcast?: string;
  scope: string;
  tentative?: boolean;
}

async function addrs(t: Topology, ns: string, dev: string): Promise<AddrInfo[]> {
  const links = await ipJson<Array<{ addr_info: AddrInfo[] }>>(t, ns, 'addr', 'show', 'dev', dev);
  return links[0]?.addr_info ?? [];
}

/** Waits until no address of `dev` is tentative (IPv6 duplicate address detection takes about a second). */
async function waitDad(t: Topology, ns: string, dev: string): Promise<void> {
  for (let i = 0; i < 60; i++) {
    if (!(await addrs(t, ns, dev)).some((a) => a.tentative)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`addresses of ${dev} in ${ns} still tentative after 6 s`);
}

describe('TAP devices in network namespaces', { skip }, () => {
  let t: Topology;
  let home: string;
  before(async () => {
    t = await createTopology({ publicHosts: 1, ipv6: false });
    home = mkdtempSync(join(tmpdir(), 'ztroot-tap-home-'));
  });
  after(async () => {
    await t?.destroy();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  test('created, configured and removed as 1.14 does it', async () => {
    const ns = t.root.ns;
    const d = await startDriver(t, ns, { nwid: NWID, mac: MAC, mtu: 2800, home });
    try {
      assert.equal(d.name, 'ztmjfmfyq5'); // vl2.md §7.1
      const link = (await t.exec(ns, 'ip', ['-d', 'link', 'show', d.name])).stdout;
      assert.match(link, /<BROADCAST,MULTICAST,UP,LOWER_UP> mtu 2800 /);
      assert.match(link, /link\/ether 02:89:e9:30:0c:27 /);
      assert.match(link, /tun type tap pi off vnet_hdr off persist off/);
      assert.equal(readFileSync(join(home, 'devicemap'), 'utf8'), `${NWID}=ztmjfmfyq5\n`);
      // The kernel's own IPv6 link-local address, from our MAC (EUI-64), as with 1.14.
      assert.ok((await addrs(t, ns, d.name)).some((a) => a.local === 'fe80::89:e9ff:fe30:c27'));

      assert.deepEqual((await d.call('setMtu', 1500)).ok, true);
      assert.deepEqual((await d.call('setMac', '02aabbccddee')).ok, true);
      const link2 = (await t.exec(ns, 'ip', ['link', 'show', d.name])).stdout;
      assert.match(link2, / mtu 1500 /);
      assert.match(link2, /link\/ether 02:aa:bb:cc:dd:ee /);
      const badMtu = await d.call('setMtu', 1279);
      assert.equal(badMtu.code, 'ZT_ERR_BAD_CONFIG');
      assert.match(badMtu.message as string, /TAP MTU 1279 is not an integer in 1280\.\.10000/);
      const badMac = await d.call('setMac', '01005e000001');
      assert.equal(badMac.code, 'ZT_ERR_BAD_CONFIG');
      assert.match(badMac.message as string, /01:00:5e:00:00:01 is not a non-zero unicast/);

      // Addresses: added (IPv4 with its broadcast), then one replaced with another prefix, one removed, one added.
      assert.equal((await d.call('setAddresses', [{ ip: '10.147.17.5', bits: 24 }, { ip: 'fd00:1::5', bits: 64 }])).ok, true);
      let a = await addrs(t, ns, d.name);
      assert.deepEqual(
        a.filter((x) => x.scope === 'global').map((x) => [x.local, x.prefixlen, x.broadcast ?? null]),
        [
          ['10.147.17.5', 24, '10.147.17.255'],
          ['fd00:1::5', 64, null],
        ],
      );
      assert.equal((await d.call('setAddresses', [{ ip: '10.147.17.5', bits: 16 }, { ip: '10.9.0.1', bits: 24 }])).ok, true);
      a = await addrs(t, ns, d.name);
      assert.deepEqual(
        a.filter((x) => x.scope === 'global').map((x) => [x.local, x.prefixlen]).sort(),
        [
          ['10.147.17.5', 16],
          ['10.9.0.1', 24],
        ],
      );
      assert.ok(a.some((x) => x.local.startsWith('fe80::')), 'the kernel link-local address is not ours to remove');
      const badAddr = await d.call('setAddresses', [{ ip: '10.1.1.1', bits: 24 }, { ip: '10.999.1.1', bits: 24 }]);
      assert.equal(badAddr.code, 'ZT_ERR_BAD_CONFIG');
      assert.match(badAddr.message as string, /address 1: "10\.999\.1\.1" is not an IPv4 or IPv6 address/);
      assert.equal((await addrs(t, ns, d.name)).filter((x) => x.scope === 'global').length, 2, 'a bad list changes nothing');

      // Routes: the default as two halves, each with the source its gateway lies in; then all removed.
      assert.equal(
        (
          await d.call('setRoutes', [
            { target: '0.0.0.0', bits: 0, via: '10.147.17.1' },
            { target: '10.50.0.0', bits: 16, via: '10.9.0.254' },
          ])
        ).ok,
        true,
      );
      type Route = { dst: string; gateway?: string; prefsrc?: string };
      const mine = async () =>
        (await ipJson<Route[]>(t, ns, '-4', 'route', 'show', 'dev', d.name)).filter((r) => r.gateway !== undefined).map((r) => [r.dst, r.gateway, r.prefsrc]).sort();
      assert.deepEqual(await mine(), [
        ['0.0.0.0/1', '10.147.17.1', '10.147.17.5'],
        ['10.50.0.0/16', '10.9.0.254', '10.9.0.1'],
        ['128.0.0.0/1', '10.147.17.1', '10.147.17.5'],
      ]);
      // A gateway the kernel cannot reach: the error names the device, the command and what the kernel said;
      // the other route is still applied.
      const unreachable = await d.call('setRoutes', [
        { target: '10.60.0.0', bits: 16, via: '192.168.99.1' },
        { target: '10.50.0.0', bits: 16, via: '10.9.0.254' },
      ]);
      assert.equal(unreachable.code, 'ZT_ERR_UNAVAILABLE');
      assert.equal(
        unreachable.message,
        'TAP device ztmjfmfyq5: setting routes failed: ip -4 route replace 10.60.0.0/16 via 192.168.99.1 dev ztmjfmfyq5: Error: Nexthop has invalid gateway.',
      );
      assert.deepEqual(await mine(), [['10.50.0.0/16', '10.9.0.254', '10.9.0.1']]);
      assert.equal((await d.call('setRoutes', [])).ok, true);
      assert.deepEqual(await mine(), []);

      // Multicast groups the kernel joined (vl2.md §7.5): all-nodes IPv6 and all-hosts IPv4 at least.
      const groups = (await d.call('multicastGroups')).result as string[];
      assert.ok(groups.includes('33:33:00:00:00:01'), groups.join(' '));
      assert.ok(groups.includes('01:00:5e:00:00:01'), groups.join(' '));

      assert.equal((await d.call('close')).ok, true);
      await d.watch.waitFor((l) => l.event === 'close' && l.error === null, 5000, 'the close event');
      const gone = await runIn(t, ns, 'ip', ['link', 'show', 'ztmjfmfyq5']);
      assert.notEqual(gone.code, 0);
      assert.match(gone.err, /does not exist/);
      const afterClose = await d.call('setMtu', 2800);
      assert.equal(afterClose.code, 'ZT_ERR_CLOSED');
    } finally {
      await d.stop();
    }
    // The devicemap's name is used when free (1.14 keeps a network's device name across restarts this way).
    writeFileSync(join(home, 'devicemap'), `${NWID}=ztkept0\n`);
    const again = await startDriver(t, ns, { nwid: NWID, mac: MAC, mtu: 2800, home });
    assert.equal(again.name, 'ztkept0');
    await again.stop();
  });

  test('two devices joined by a UDP forwarder: ARP, NDP, ping both ways and a TCP stream intact', async () => {
    const [nsA, nsB] = [t.root.ns, t.publicHosts[0]!.ns];
    const a = await startDriver(t, nsA, { nwid: 'ff00160016000000', mac: '020c4d17373b', mtu: 2800, listen: 5000, peer: `${t.publicHosts[0]!.ip4}:5000` });
    const b = await startDriver(t, nsB, { nwid: 'ff00160016000000', mac: '0211223344aa', mtu: 2800, listen: 5000, peer: `${t.root.ip4}:5000` });
    let server: ChildProcess | undefined;
    try {
      assert.equal(a.name, 'zt74lbmaaw');
      assert.equal((await a.call('setAddresses', [{ ip: '10.147.17.1', bits: 24 }, { ip: 'fd00:2::1', bits: 64 }])).ok, true);
      assert.equal((await b.call('setAddresses', [{ ip: '10.147.17.2', bits: 24 }, { ip: 'fd00:2::2', bits: 64 }])).ok, true);
      await waitDad(t, nsA, a.name);
      await waitDad(t, nsB, b.name);

      await t.exec(nsA, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '10.147.17.2']);
      await t.exec(nsB, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '10.147.17.1']);
      await t.exec(nsA, 'ping', ['-6', '-c', '3', '-i', '0.2', '-W', '2', 'fd00:2::2']);
      await t.exec(nsB, 'ping', ['-6', '-c', '3', '-i', '0.2', '-W', '2', 'fd00:2::1']);
      // Address resolution went across: A learnt B's MAC by ARP (broadcast) and by NDP (multicast).
      const neigh = (await t.exec(nsA, 'ip', ['neigh', 'show', 'dev', a.name])).stdout;
      assert.match(neigh, /10\.147\.17\.2 lladdr 02:11:22:33:44:aa/);
      assert.match(neigh, /fd00:2::2 lladdr 02:11:22:33:44:aa/);

      // 8 MB over TCP (MSS from the 2800 MTU: frames up to 2814 bytes, fragmented by the 1500-byte underlay).
      const bytes = 8 << 20;
      const serverJs =
        "const h=require('node:crypto').createHash('sha256');let n=0;" +
        "require('node:net').createServer((s)=>{s.on('data',(d)=>{n+=d.length;h.update(d)});s.on('end',()=>{console.log(JSON.stringify({n,hash:h.digest('hex')}));process.exit(0)})})" +
        ".listen(7000,'10.147.17.2',()=>console.log(JSON.stringify({listening:true})))";
      server = t.spawn(nsB, process.execPath, ['-e', serverJs], { stdio: ['ignore', 'pipe', 'pipe'] });
      const sw = watchJsonLines(server, 'tcp server');
      await sw.waitFor((l) => l.listening === true, 5000, 'the TCP server');
      const clientJs =
        `const c=require('node:crypto');const data=c.randomBytes(${bytes});` +
        "const s=require('node:net').connect(7000,'10.147.17.2',()=>{s.end(data)});" +
        "s.on('close',()=>console.log(JSON.stringify({hash:c.createHash('sha256').update(data).digest('hex')})))";
      const client = await runIn(t, nsA, process.execPath, ['-e', clientJs], 60_000);
      assert.equal(client.code, 0, client.err);
      const sent = JSON.parse(client.out) as { hash: string };
      const got = await sw.waitFor((l) => typeof l.hash === 'string', 30_000, 'the server to receive everything');
      assert.equal(got.n, bytes);
      assert.equal(got.hash, sent.hash);

      for (const d of [a, b]) {
        const s = (await d.call('stats')).result as { rxFrames: number; txFrames: number; drops: Record<string, number> };
        assert.ok(s.rxFrames > 1000 && s.txFrames > 1000, JSON.stringify(s));
        assert.deepEqual(Object.values(s.drops), [0, 0, 0, 0, 0, 0], JSON.stringify(s.drops));
      }
    } finally {
      server?.kill();
      await a.stop();
      await b.stop();
    }
  });

  test('oversize and runt frames are dropped and counted both ways; writes to a down device and after close too', async () => {
    const ns = t.root.ns;
    const d = await startDriver(t, ns, { nwid: '00000000000000aa', mac: '020000000001', mtu: 1500 });
    try {
      const frame = (len: number): string => `${'ff'.repeat(6)}020000000002${'88b5'}${'00'.repeat(Math.max(0, len - 14))}`.slice(0, len * 2);
      assert.equal((await d.call('write', frame(1514))).result, true); // MTU + 14: the largest frame
      assert.equal((await d.call('write', frame(1515))).result, false);
      assert.equal((await d.call('write', frame(9000))).result, false);
      assert.equal((await d.call('write', frame(13))).result, false);
      assert.equal((await d.call('write', frame(14))).result, true); // a header alone is a frame

      // The kernel sends frames longer than our MTU once someone raises the device's MTU behind our back.
      assert.equal((await d.call('setAddresses', [{ ip: '10.7.0.1', bits: 24 }])).ok, true);
      await t.exec(ns, 'ip', ['neigh', 'replace', '10.7.0.2', 'lladdr', '02:00:00:00:00:02', 'dev', d.name, 'nud', 'permanent']);
      await t.exec(ns, 'ip', ['link', 'set', 'dev', d.name, 'mtu', '3000']);
      await runIn(t, ns, 'ping', ['-c', '1', '-W', '1', '-s', '2900', '10.7.0.2']); // no answer: only the frame matters
      await runIn(t, ns, 'ping', ['-c', '1', '-W', '1', '-s', '1000', '10.7.0.2']);

      const s = (await d.call('stats')).result as { rxFrames: number; txFrames: number; drops: Record<string, number> };
      assert.equal(s.txFrames, 2);
      assert.deepEqual(s.drops, { 'tx-oversize': 2, 'tx-runt': 1, 'tx-closed': 0, 'tx-error': 0, 'rx-oversize': 1, 'rx-runt': 0 });
      assert.ok(s.rxFrames >= 1, 'the 1042-byte ping frame arrived');

      // A device taken down by hand refuses writes (EIO): counted, not thrown.
      await t.exec(ns, 'ip', ['link', 'set', 'dev', d.name, 'down']);
      assert.equal((await d.call('write', frame(100))).result, false);
      assert.equal(((await d.call('stats')).result as { drops: Record<string, number> }).drops['tx-error'], 1);

      assert.equal((await d.call('close')).ok, true);
      assert.equal((await d.call('write', frame(100))).result, false);
      assert.equal(((await d.call('stats')).result as { drops: Record<string, number> }).drops['tx-closed'], 1);
    } finally {
      await d.stop();
    }
  });

  test('an idle device costs no CPU (nothing polls); a device deleted under the leaf ends with a close event saying so', async () => {
    const ns = t.root.ns;
    const d = await startDriver(t, ns, { nwid: '00000000000000bb', mac: '020000000003', mtu: 2800 });
    try {
      // Busy polling a non-blocking fd would burn the whole second; waiting in epoll costs next to nothing.
      const cpuMs = (await d.call('cpuDuring', 1000)).result as number;
      assert.ok(cpuMs < 100, `${cpuMs} ms of CPU in 1 s idle`);

      await t.exec(ns, 'ip', ['link', 'del', d.name]);
      const c = await d.watch.waitFor((l) => l.event === 'close', 5000, 'the close event');
      assert.equal(c.error, `TAP device ${d.name} is gone (its fd failed with EBADF): it was deleted outside the leaf`);
      const w = await d.call('write', 'ff'.repeat(60));
      assert.equal(w.result, false);
    } finally {
      await d.stop();
    }
  });

  describe('what is missing is named exactly', () => {
    const probeOpts = JSON.stringify({ probe: true, nwid: NWID, mac: MAC, mtu: 2800 });
    const NO_CAP =
      'this process lacks CAP_NET_ADMIN, which creating and configuring a TAP device needs: run it as root, or grant the capability ' +
      '(systemd: AmbientCapabilities=CAP_NET_ADMIN; or `setcap cap_net_admin+ep` on the node binary)';
    const NO_TUN = '/dev/net/tun does not exist: load the tun module (`modprobe tun`), or in a container pass the device in (docker run --device /dev/net/tun)';
    const NO_ADDON = `the TAP addon is not built (${ADDON_PATH} is missing): install g++, make and python3, then run \`npm run build:native\` in ${REPO}`;

    /** Runs the probe under `wrapper` (a shell line ending in `exec "$@"`) and returns what it printed. */
    async function probe(shell: string | null, prefix: string[] = []): Promise<{ reason: string | null; open: { code?: string; message?: string; name?: string } }> {
      const node = [process.execPath, DRIVER, probeOpts];
      const args = shell === null ? [...prefix, ...node] : [...prefix, 'unshare', '-m', 'sh', '-c', `${shell} && exec "$@"`, 'sh', ...node];
      const r = await runIn(t, t.root.ns, args[0]!, args.slice(1));
      assert.equal(r.code, 0, r.err);
      return JSON.parse(r.out.trim().split('\n').pop()!) as never;
    }
    const expectRefused = (p: Awaited<ReturnType<typeof probe>>, reason: string): void => {
      assert.equal(p.reason, reason);
      assert.equal(p.open.code, 'ZT_ERR_UNAVAILABLE');
      assert.equal(p.open.message, `cannot create a TAP device: ${reason}`);
    };

    test('with everything there, nothing is missing', async () => {
      const p = await probe(null);
      assert.equal(p.reason, null);
      assert.equal(p.open.name, 'ztmjfmfyq5');
    });

    test('without CAP_NET_ADMIN', async () => {
      expectRefused(await probe(null, ['setpriv', '--inh-caps=-net_admin', '--bounding-set=-net_admin']), NO_CAP);
    });

    test('without /dev/net/tun', async () => {
      expectRefused(await probe('mount -t tmpfs none /dev/net'), NO_TUN);
    });

    test('without the addon', async () => {
      expectRefused(await probe(`mount -t tmpfs none ${join(REPO, 'native/tap/build')}`), NO_ADDON);
    });

    test('everything missing at once is listed at once', async () => {
      const p = await probe(`mount -t tmpfs none /dev/net && mount -t tmpfs none ${join(REPO, 'native/tap/build')}`, [
        'setpriv',
        '--inh-caps=-net_admin',
        '--bounding-set=-net_admin',
      ]);
      expectRefused(p, `${NO_TUN}; ${NO_CAP}; ${NO_ADDON}`);
    });
  });
});
