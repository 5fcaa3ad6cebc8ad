/**
 * The Ansible rollout against real targets: three roots and a Redis on systemd-nspawn machines (Debian booted
 * with systemd, each in its own network namespace and address), driven over SSH from a control node in another
 * namespace, which is also the monitoring host.
 *
 *   1. site.yml converges; root3, given no compiler and ztroot_native_addons_required: false, comes up on the
 *      fallback (node:dgram, pure-JS hash) with the play warning why. A second run (compiler back) builds root3's
 *      addons and restarts it on them, and changes nothing anywhere else. Every root then runs on the native
 *      addons the role built on it (/api/status: batched UDP, a native identity hash), and no compiler is left.
 *   2. Our leaves, given the planet made on the control node, go ONLINE through the deployed roots; each reaches
 *      only one root (different ones) and they ping each other across the fleet (Redis, forwarding). With
 *      ZT_ONE_BIN set, two real ZeroTier One leaves (the planet file in their homes) do the same: ONLINE with a
 *      path to their one reachable root, both on the ad-hoc network, one pings the other's 6PLANE address while
 *      they cannot reach each other (so every frame crosses root1 → Redis → root3).
 *   3. rolling_restart.yml runs while both leaves ping every root each second: at no moment does a leaf lose every
 *      root, and both stay online. The real leaves (now reaching every root, still not each other) say ONLINE
 *      at every poll; and they ping each other through the restarted roots again within seconds: the restarted
 *      roots adopt them from their first packets (root/peer-adoption.ts), before their next HELLO (1.14: ~225 s).
 *   4. planet_update.yml moves one root to a new address; the leaves adopt the new planet over the air and reach
 *      the moved root at its new address once the old one is gone.
 *   5. A failed addon build where the addons are required (the default) fails the play for that root with the
 *      build's reason, and the root keeps serving.
 *
 * Part of `npm run test:deploy`, not `npm test` (about 12 minutes; the first run also debootstraps the machines'
 * template).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Identity } from '../../vl1/identity.js';
import { toHex } from '../../vl1/bytes.js';
import { formatAddress } from '../../vl1/address.js';
import { createTopology, netnsUnavailableReason, type Host, type Topology } from '../netns.js';
import { block } from '../fleet-hosts.js';
import { cli } from '../interop-harness.js';
import { watchJsonLines, type JsonLine, type JsonLineWatch } from '../json-lines.js';
import { REPO_ROOT } from '../vectors.js';
import { FIND_TOOLCHAIN, assertNativeAddons } from './native-status.js';
import { bootMachine, machineTemplate, machinesUnavailableReason, stopMachine, waitForSsh, type Machine } from './machines.js';
import { describe as describeRealLeaf, echoWithin, info, joinNetwork, pingAcross, realLeavesSkipReason, rootPaths, startRealLeaf, waitOnline, type RealLeaf } from './real-leaves.js';

const skip = machinesUnavailableReason() ?? netnsUnavailableReason() ?? false;
const PING_LEAF = join(REPO_ROOT, 'dist', 'test', 'ping-leaf.js');
const ANSIBLE = join(REPO_ROOT, 'ansible');
const MOVED_IP = '192.0.0.20';
/** Why no real ZeroTier One leaves take part, or false. */
const realSkip = realLeavesSkipReason();
const REAL_PINGS = 10;
/**
 * A restarted root takes a fleet peer back from its first packet, once a probe proves the path
 * (root/peer-adoption.ts), so real leaves relay again within seconds of the rolling restart, not at their next
 * HELLO (every 224 s in 1.14: 172 s in this test before adoption). The bound leaves room for a loaded machine.
 */
const REAL_RECOVERY_MS = 30_000;

interface Recap {
  output: string;
  hosts: Record<string, { ok: number; changed: number; unreachable: number; failed: number; ignored: number }>;
}

/** ansible-playbook in the control node's namespace; resolves with the output and the PLAY RECAP per host. */
/** What a failed play adds to its message: the machines' own account of their units (set once they are up). */
let diagnose: (() => Promise<string>) | undefined;

async function playbook(topo: Topology, control: Host, work: string, name: string, extra: string[] = [], expect: 'success' | 'failure' = 'success'): Promise<Recap> {
  const t0 = Date.now();
  const proc = topo.spawn(control.ns, 'ansible-playbook', ['-i', join(work, 'inventory', 'hosts.yml'), join(ANSIBLE, 'playbooks', name), ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ANSIBLE_CONFIG: join(ANSIBLE, 'ansible.cfg'), ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0', ANSIBLE_LOCAL_TEMP: join(work, 'ansible-tmp') },
  });
  let output = '';
  proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  writeFileSync(join(work, `${name}-${t0}.log`), output);
  console.log(`# ${name}: exit ${code} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const hosts: Recap['hosts'] = {};
  for (const m of output.matchAll(/^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=\d+\s+rescued=\d+\s+ignored=(\d+)/gm)) {
    hosts[m[1]!] = { ok: Number(m[2]), changed: Number(m[3]), unreachable: Number(m[4]), failed: Number(m[5]), ignored: Number(m[6]) };
  }
  if (expect === 'success' && code !== 0 && diagnose !== undefined) output += `\n${await diagnose().catch((e: Error) => `(diagnosis failed: ${e.message})`)}`;
  if (expect === 'success') assert.equal(code, 0, `${name} failed (exit ${code}):\n${output.slice(-8000)}`);
  else assert.notEqual(code, 0, `${name} succeeded, but was to fail:\n${output.slice(-6000)}`);
  return { output, hosts };
}

interface Leaf {
  host: Host;
  identity: Identity;
  proc: ChildProcess;
  events: JsonLineWatch;
  send(cmd: object): void;
}

async function startLeaf(topo: Topology, host: Host, planet: Uint8Array): Promise<Leaf> {
  const identity = Identity.generate();
  // HELLOs every 5 s (1.14: 224 s) so a planet update reaches the leaf within the test's patience.
  const opts = { identity: identity.toString(true), planetHex: toHex(planet), bind4: host.ip4, port: 9994, helloIntervalMs: 5000 };
  const proc = topo.spawn(host.ns, process.execPath, [PING_LEAF, JSON.stringify(opts)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const events = watchJsonLines(proc, `leaf@${host.ip4}`);
  await events.waitFor((l) => l.event === 'online', 30_000, `leaf ${host.ip4} online`);
  return { host, identity, proc, events, send: (cmd) => proc.stdin!.write(`${JSON.stringify(cmd)}\n`) };
}

const pings = (leaf: Leaf, tag: string): JsonLine[] => leaf.events.lines.filter((l) => (l.event === 'ping' || l.event === 'ping-failed') && l.tag === tag);

test('Ansible rollout to three nspawn roots: converge, idempotence, leaves online, rolling restart, planet move', { skip, timeout: 40 * 60_000 }, async () => {
  const work = mkdtempSync('/var/tmp/ztroot-deploy-');
  const key = join(work, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  const template = machineTemplate(`${key}.pub`);
  execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: REPO_ROOT, stdio: 'ignore' });
  const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

  const topo = await createTopology({ publicHosts: 8, ipv6: false });
  const [h0, h1, redisHost, control, leafA, leafB, realHostA, realHostB] = topo.publicHosts as [Host, Host, Host, Host, Host, Host, Host, Host];
  const rootHosts = [topo.root, h0, h1];
  const machines: Machine[] = [];
  const leaves: Leaf[] = [];
  const real: RealLeaf[] = [];
  let realRecovery: Promise<number | null> | undefined;
  let finished = false;
  if (realSkip) console.log(`# real ZeroTier One leaves: ${realSkip} (only our leaves are checked)`);
  // A failing real-leaf step comes with what zerotier-one said and saw.
  const withRealDump = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      const dumps = await Promise.all(real.map((c) => describeRealLeaf(topo, c)));
      throw new Error(`${(e as Error).message}\n${dumps.join('\n')}`, { cause: e });
    }
  };
  try {
    rootHosts.forEach((h, i) => machines.push(bootMachine(template, work, `root${i + 1}`, h)));
    machines.push(bootMachine(template, work, 'redis1', redisHost));
    await Promise.all(machines.map((m) => waitForSsh(topo, control, key, m)));

    const token = randomBytes(24).toString('hex');
    const redisPassword = randomBytes(16).toString('hex');
    const inventory = (endpoints: string[], root3Vars: Record<string, unknown> = {}) => ({
      all: {
        vars: { ansible_user: 'root', ansible_ssh_private_key_file: key, ansible_ssh_common_args: '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null' },
        children: {
          ztroot_roots: {
            vars: {
              ztroot_release_tarball: join(work, `ztroot-${version}.tgz`),
              ztroot_nodejs_install: 'none',
              ztroot_node_bin: '/usr/local/bin/node',
              ztroot_metrics_token: token,
              ztroot_planet_dir: join(work, 'planet'),
              ztroot_probe_port: 9995,
              ztroot_extra_config: { validationWorkers: 1 },
            },
            hosts: Object.fromEntries(rootHosts.map((h, i) => [`root${i + 1}`, { ansible_host: h.ip4, ztroot_endpoints: [endpoints[i]!], ztroot_firewall_address: h.ip4, ...(i === 2 ? root3Vars : {}) }])),
          },
          ztroot_redis: { hosts: { redis1: { ansible_host: redisHost.ip4, ztroot_redis_bind: redisHost.ip4, ztroot_redis_password: redisPassword, ztroot_firewall_address: redisHost.ip4 } } },
          ztroot_monitoring: { hosts: { monitor: { ansible_host: control.ip4, ansible_connection: 'local', ztroot_firewall_address: control.ip4 } } },
        },
      },
    });
    mkdirSync(join(work, 'inventory'), { recursive: true });
    // JSON is YAML: Ansible's YAML inventory reads it.
    const writeInventory = (endpoints: string[], root3Vars: Record<string, unknown> = {}) => writeFileSync(join(work, 'inventory', 'hosts.yml'), JSON.stringify(inventory(endpoints, root3Vars), null, 2));
    const endpoints = rootHosts.map((h) => `${h.ip4}/9993`);
    // root3 first gets no compiler (its addons' build fails) and may run on the fallback: it must come up on it,
    // with the play saying why; the next run builds its addons and restarts it on them.
    writeInventory(endpoints, { ztroot_native_build_packages: [], ztroot_native_addons_required: false });
    const ssh = (ip: string, cmd: string) => topo.exec(control.ns, 'ssh', ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-i', key, `root@${ip}`, cmd], { timeoutMs: 30_000 });
    diagnose = async () => {
      const parts: string[] = [];
      for (const h of rootHosts) {
        const r = await ssh(h.ip4, 'systemctl --no-pager status nftables.service 2>&1 | tail -15; journalctl -u nftables.service -o cat --no-pager | tail -15').catch((e: Error) => ({ stdout: e.message }));
        parts.push(`--- ${h.ip4}: nftables\n${r.stdout}`);
      }
      return parts.join('\n');
    };
    const apiStatus = async (ip: string) => (await topo.exec(control.ns, 'curl', ['-s', '-m', '5', '-H', `Authorization: Bearer ${token}`, `http://${ip}:9980/api/status`])).stdout;

    // 1. First rollout, then idempotence. The monitoring host is this machine's namespace: not converged.
    const first = await playbook(topo, control, work, 'site.yml', ['--limit', 'all:!monitor']);
    for (const m of machines) assert.ok((first.hosts[m.name]?.changed ?? 0) > 0, `first run changed nothing on ${m.name}:\n${first.output.slice(-3000)}`);
    // root3, without a compiler, runs on the fallback, and the play says so loudly (an ignored failure) with why.
    assert.ok((first.hosts['root3']?.ignored ?? 0) > 0, `root3's failed build is not reported in the recap:\n${first.output.slice(-6000)}`);
    assert.match(first.output, /WARNING root3 runs on the fallback \(node:dgram, pure-JS hash, node:crypto AES\): ztroot: the batched UDP addon was not built: node-gyp exited/, 'the warning names the build\'s reason');
    const fallback = JSON.parse(await apiStatus(rootHosts[2]!.ip4)) as { udp: { path: string }; identityHash: string; aes: string };
    console.log(`# root3 without a compiler: serving, on udp ${fallback.udp.path}, identity hash ${fallback.identityHash} and AES ${fallback.aes}`);
    assert.deepEqual([fallback.udp.path, fallback.identityHash, fallback.aes], ['dgram', 'js', 'js'], 'root3 serves on the fallback');
    // With a compiler, the next run builds root3's addons and restarts it on them; it changes nothing elsewhere.
    writeInventory(endpoints);
    const second = await playbook(topo, control, work, 'site.yml', ['--limit', 'all:!monitor']);
    for (const m of machines) {
      const r = second.hosts[m.name];
      assert.ok(r !== undefined, `no recap for ${m.name}:\n${second.output.slice(-3000)}`);
      if (m.name === 'root3') assert.ok(r.changed > 0, `the second run did not build root3's addons:\n${second.output.slice(-6000)}`);
      else assert.equal(r.changed, 0, `second run changed ${r.changed} task(s) on ${m.name}:\n${second.output.slice(-6000)}`);
      assert.equal(r.ignored, 0, `second run ignored a failure on ${m.name}:\n${second.output.slice(-6000)}`);
    }

    // Hardening as deployed: the unit's user, capabilities and protections; metrics closed to non-monitoring hosts.
    const unit = (await topo.exec(control.ns, 'ssh', ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-i', key, `root@${topo.root.ip4}`,
      'systemctl show ztroot.service -p User -p NoNewPrivileges -p ProtectSystem -p AmbientCapabilities -p LimitNOFILE -p Restart -p ActiveState; ls -l /var/lib/ztroot; ss -lntu'])).stdout;
    for (const want of ['User=ztroot', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'AmbientCapabilities=cap_net_bind_service', 'LimitNOFILE=1048576', 'Restart=on-failure', 'ActiveState=active', ':443']) {
      assert.ok(unit.includes(want), `the deployed root lacks ${want}:\n${unit}`);
    }
    assert.doesNotMatch(unit, /update-key/, 'no signing key on a root');
    const metricsFromControl = await topo.exec(control.ns, 'sh', ['-c', `curl -s -o /dev/null -w '%{http_code}' -m 5 -H 'Authorization: Bearer ${token}' http://${topo.root.ip4}:9980/metrics || true`]);
    assert.equal(metricsFromControl.stdout.trim(), '200', 'the monitoring host scrapes /metrics');
    const metricsFromLeaf = await topo.exec(leafA.ns, 'sh', ['-c', `curl -s -o /dev/null -w '%{http_code}' -m 3 http://${topo.root.ip4}:9980/metrics || true`]);
    assert.equal(metricsFromLeaf.stdout.trim(), '000', '/metrics is firewalled from other hosts');

    // The native addons the role built on each root, as each root reports them; the compiler is gone again.
    for (const [i, h] of rootHosts.entries()) {
      const journal = (await ssh(h.ip4, 'journalctl -u ztroot.service -o cat --no-pager | tail -100')).stdout;
      console.log(`# root${i + 1}: ${assertNativeAddons(await apiStatus(h.ip4), `root${i + 1} (${h.ip4})`, journal)}`);
      const toolchain = (await ssh(h.ip4, FIND_TOOLCHAIN)).stdout.trim();
      assert.equal(toolchain, '', `root${i + 1} (${h.ip4}) keeps build tools after the rollout: ${toolchain}`);
    }

    // 2. Leaves online through the deployed roots, each through a different root, pinging across the fleet.
    const planet = new Uint8Array(readFileSync(join(work, 'planet', 'planet.state', 'planet')));
    const rootAddrs = machines.slice(0, 3).map((m) => readFileSync(join(m.dir, 'var', 'lib', 'ztroot', 'identity.public'), 'utf8').slice(0, 10));
    const unblockA = await block(topo, leafA, [h0.ip4, h1.ip4, leafB.ip4]);
    const unblockB = await block(topo, leafB, [topo.root.ip4, h0.ip4, leafA.ip4]);
    // The real leaves likewise: A reaches only root1, B only root3; they never reach each other directly, so
    // their frames always go through the roots.
    const realRootBlocks: Array<() => Promise<void>> = [];
    let realStartedAt = 0;
    if (!realSkip) {
      realRootBlocks.push(await block(topo, realHostA, [h0.ip4, h1.ip4]), await block(topo, realHostB, [topo.root.ip4, h0.ip4]));
      await block(topo, realHostA, [realHostB.ip4]);
      realStartedAt = Date.now();
      real.push(startRealLeaf(topo, work, 'real-a', realHostA, planet), startRealLeaf(topo, work, 'real-b', realHostB, planet));
    }
    leaves.push(await startLeaf(topo, leafA, planet), await startLeaf(topo, leafB, planet));
    const [a, b] = leaves as [Leaf, Leaf];
    a.send({ cmd: 'ping', peer: formatAddress(b.identity.address), count: 10, intervalMs: 300, timeoutMs: 3000, tag: 'across' });
    await a.events.waitFor((l) => l.event === 'ping-done' && l.tag === 'across', 30_000, 'pings across the fleet');
    const across = pings(a, 'across');
    const ok = across.filter((l) => l.event === 'ping').length;
    console.log(`# across the fleet (leaf A via root1 → leaf B via root3): ${ok}/10 answered`);
    assert.ok(ok >= 8, `only ${ok}/10 pings across the fleet answered: ${JSON.stringify(across)}`);
    await unblockA();
    await unblockB();

    if (!realSkip) {
      await withRealDump(async () => {
        const [ra, rb] = real as [RealLeaf, RealLeaf];
        for (const [c, root, ip] of [[ra, rootAddrs[0]!, topo.root.ip4], [rb, rootAddrs[2]!, h1.ip4]] as const) {
          const ms = await waitOnline(topo, c, realStartedAt);
          const roots = await rootPaths(topo, c);
          const via = roots.find((r) => r.address === root);
          console.log(`# real leaf ${c.address} (${(await info(topo, c)).version}) at ${c.host.ip4}: ONLINE ${ms} ms after start; roots ${JSON.stringify(roots)}`);
          assert.ok(via?.paths.includes(`${ip}/9993`), `real leaf ${c.address} has no live path to root ${root} at ${ip}/9993: ${JSON.stringify(roots)}`);
        }
        for (const c of real) await joinNetwork(topo, c);
        const run = await pingAcross(topo, ra, rb, REAL_PINGS);
        console.log(`# real leaves across the fleet (via root1 → root3), 6PLANE: first echo after ${run.firstEchoMs} ms, then ${run.summary}`);
        assert.ok(run.received >= REAL_PINGS - 2, `real leaves across the fleet: ${run.summary}`);
      });
      // For the rolling restart the real leaves reach every root, like ours; still not each other.
      for (const lift of realRootBlocks) await lift();
    }

    // 3. Rolling restart while both leaves ping every root once a second (and the real leaves are polled).
    const t0 = Date.now();
    const count = 300;
    for (const leaf of leaves) for (const r of rootAddrs) leaf.send({ cmd: 'ping', peer: r, count, intervalMs: 1000, timeoutMs: 2500, tag: `rr-${r}` });
    const realPolls: Array<{ leaf: string; at: number; online: boolean | string }> = [];
    let polling = !realSkip;
    const poller = (async () => {
      while (polling) {
        for (const c of real) {
          realPolls.push({ leaf: c.address, at: Date.now() - t0, online: await info(topo, c).then((x) => x.online, (e: Error) => `error: ${e.message}`) });
        }
        await new Promise((r) => setTimeout(r, 2000));
      }
    })();
    try {
      await playbook(topo, control, work, 'rolling_restart.yml', ['--limit', 'ztroot_roots', '-e', 'ztroot_restart_settle_seconds=5']);
    } finally {
      polling = false;
      await poller;
    }
    const t1 = Date.now();
    if (!realSkip) {
      await withRealDump(async () => {
        for (const c of real) {
          const mine = realPolls.filter((p) => p.leaf === c.address);
          const offline = mine.filter((p) => p.online === false);
          const errors = mine.filter((p) => typeof p.online === 'string');
          console.log(`# rolling restart, real leaf ${c.address}: ${mine.length} polls of zerotier-cli info over ${((t1 - t0) / 1000).toFixed(0)} s, ${offline.length} OFFLINE, ${errors.length} failed`);
          assert.ok(mine.length >= 5, `too few polls of real leaf ${c.address}: ${JSON.stringify(mine)}`);
          assert.deepEqual(offline, [], `real leaf ${c.address} went OFFLINE during the rolling restart`);
          assert.ok(errors.length * 2 < mine.length, `zerotier-cli info failed too often: ${JSON.stringify(errors)}`);
        }
        for (const c of real) console.log(`# after the rolling restart, real leaf ${c.address} peers:\n${(await cli(topo, c, 'peers')).trimEnd().replace(/^/gm, '#   ')}`);
      });
      // 1.14 keeps ONLINE for 500 s without hearing a root (vl1.md §7.3), so also: frames cross the restarted
      // fleet again. A restarted root takes a real leaf back from its first packet once a probe proves its path
      // (root/peer-adoption.ts), not at its next HELLO (~225 s, vl1.md §7.2): measured in the background.
      const [ra, rb] = real as [RealLeaf, RealLeaf];
      realRecovery = echoWithin(topo, ra, rb, REAL_RECOVERY_MS, () => finished);
    }
    for (const leaf of leaves) {
      // Seconds in which no root answered this leaf's ping sent then.
      const answeredAt = new Set<number>();
      let lost = 0;
      for (const r of rootAddrs) {
        for (const l of pings(leaf, `rr-${r}`)) {
          const at = Number(l.sentAt);
          if (at < t0 || at > t1 - 3000) continue;
          if (l.event === 'ping') answeredAt.add(Math.floor((at - t0) / 1000));
          else lost++;
        }
      }
      const seconds = Math.floor((t1 - 3000 - t0) / 1000);
      const dark: number[] = [];
      for (let s = 0; s < seconds; s++) if (!answeredAt.has(s)) dark.push(s);
      console.log(`# rolling restart, leaf ${leaf.host.ip4}: ${seconds} s, ${lost} root pings lost, seconds with no root answering: ${dark.length}`);
      assert.deepEqual(dark, [], `leaf ${leaf.host.ip4} had no root answering in seconds ${dark.join(',')} of the rolling restart`);
    }

    // 4. Planet update: root2 moves to MOVED_IP. It answers at both until the leaves have the new planet.
    // (promote_secondaries: the new address must outlive the old, primary one.)
    await topo.exec(h0.ns, 'sysctl', ['-w', `net.ipv4.conf.${h0.iface}.promote_secondaries=1`]);
    await topo.exec(h0.ns, 'ip', ['addr', 'add', `${MOVED_IP}/25`, 'dev', h0.iface]);
    writeInventory([endpoints[0]!, `${MOVED_IP}/9993`, endpoints[2]!]);
    await playbook(topo, control, work, 'planet_update.yml', ['--limit', 'ztroot_roots']);
    const newPlanet = new Uint8Array(readFileSync(join(work, 'planet', 'planet.state', 'planet')));
    assert.notDeepEqual(newPlanet, planet, 'the planet changed');
    for (const leaf of leaves) await leaf.events.waitFor((l) => l.event === 'planet', 60_000, `leaf ${leaf.host.ip4} adopts the new planet over the air`);
    // The old address goes; with the other roots out of reach, root2 answers only at its new address.
    await topo.exec(h0.ns, 'ip', ['addr', 'del', `${h0.ip4}/25`, 'dev', h0.iface]);
    const unblock = await block(topo, leafA, [topo.root.ip4, h1.ip4]);
    // The leaf keeps the old path until it expires (ZT_PEER_PATH_EXPIRATION, 243 s, as 1.14), then HELLOs the
    // root at the endpoints of the planet it holds: the new one.
    const a2 = leaves[0]!;
    const movedAt = Date.now();
    a2.send({ cmd: 'ping', peer: rootAddrs[1]!, count: 330, intervalMs: 1000, timeoutMs: 2000, tag: 'moved' });
    const reached = async (): Promise<boolean> => {
      while (Date.now() - movedAt < 330_000) {
        const answered = pings(a2, 'moved').slice(-3);
        if (answered.length === 3 && answered.every((l) => l.event === 'ping')) return true;
        await new Promise((r) => setTimeout(r, 1000));
      }
      return false;
    };
    const ok2 = await reached();
    const moved = pings(a2, 'moved');
    console.log(`# moved root: reached at ${MOVED_IP} after ${((Date.now() - movedAt) / 1000).toFixed(0)} s (${moved.filter((l) => l.event === 'ping').length}/${moved.length} answered)`);
    assert.ok(ok2, `the leaf does not reach root2 at its new address: ${JSON.stringify(moved.slice(-10))}`);
    await unblock();

    if (realRecovery !== undefined) {
      await withRealDump(async () => {
        const ms = await realRecovery!;
        console.log(`# real leaves across the restarted fleet: first relayed echo ${ms === null ? `none within ${REAL_RECOVERY_MS / 1000} s` : `${(ms / 1000).toFixed(0)} s`} after the rolling restart's checks (${((Date.now() - realStartedAt) / 1000).toFixed(0)} s after the real leaves started)`);
        assert.ok(ms !== null, `real leaves do not reach each other across the restarted fleet within ${REAL_RECOVERY_MS / 1000} s`);
        const [ra, rb] = real as [RealLeaf, RealLeaf];
        const run = await pingAcross(topo, ra, rb, REAL_PINGS);
        console.log(`# real leaves across the restarted fleet, 6PLANE: ${run.summary}`);
        assert.ok(run.received >= REAL_PINGS - 2, `real leaves across the restarted fleet: ${run.summary}`);
      });
    }

    // 5. A failed build where the addons are required (the default) fails the play for that root, with the build's
    // reason, and the root keeps serving. (root3 loses its built addons and gets no compiler.)
    await ssh(h1.ip4, 'rm -rf /opt/ztroot/current/native/udp/build /opt/ztroot/current/native/hash/build');
    const failed = await playbook(topo, control, work, 'site.yml', ['--limit', 'root3', '-e', JSON.stringify({ ztroot_native_build_packages: [] })], 'failure');
    assert.equal(failed.hosts['root3']?.failed, 1, `root3's failed build does not fail the play:\n${failed.output.slice(-6000)}`);
    assert.match(failed.output, /root3: ztroot: the batched UDP addon was not built: node-gyp exited/, 'the failure names the build\'s reason');
    assert.match(failed.output, /set ztroot_native_addons_required: false/, 'the failure names the way to the fallback');
    const stillUp = (await ssh(h1.ip4, 'systemctl is-active ztroot.service || true')).stdout.trim();
    const stillServing = JSON.parse(await apiStatus(h1.ip4)) as { address?: string };
    assert.equal(stillUp, 'active', 'root3 keeps running after its failed build');
    assert.equal(stillServing.address, rootAddrs[2], 'root3 keeps serving its API after its failed build');
  } finally {
    finished = true;
    for (const l of leaves) l.proc.kill('SIGTERM');
    for (const c of real) c.proc.kill('SIGTERM');
    await Promise.all(machines.map((m) => stopMachine(m)));
    await topo.destroy();
    if (process.env.ZTROOT_KEEP_DEPLOY !== '1') rmSync(work, { recursive: true, force: true });
  }
});
