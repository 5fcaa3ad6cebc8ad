/**
 * `ztroot bench flood` (also `npm run soak`): issue 11's floods at full scale against a real root process, each
 * in a network namespace of its own (needs root and iproute2; see test/flood/). Not part of `npm test` (the
 * scaled-down versions are, in test/flood/floods.test.ts) nor of the default `ztroot bench`: it takes minutes.
 *
 *   hello4  600 k HELLOs in 60 s (10 k/s) from 200 IPv4 /24s: 4,000 invalid-PoW and 290 valid identities
 *   hello6  the same from 200 IPv6 /48s, and from 200 /64s of one /48
 *   whois   20 k WHOIS/s from one authenticated peer
 *
 * Each prints the known pair's loss and latency during the flood beside the same pair's figures just
 * before it (the reference, same run), the root's socket drops and CPU, the newcomer's admission time and the
 * root's log volume, with the issue's thresholds. ZTROOT_BENCH_FLOOD_SECONDS scales every duration (default
 * 60 for hello4, half that for the others). On a machine shared with other work the figures move with the
 * load: say so when quoting them.
 */
import { loadavg } from 'node:os';
import { describeReport, floodUnavailableReason, runFloodScenario } from '../../test/flood/netns-flood.js';
import { ensureValidIdentities } from '../../test/flood/identities.js';
import type { ScenarioReport, ScenarioSpec } from '../../test/flood/scenario.js';

/** Valid identities in the flood (issue 11) and those the vectors provide (the rest come from the file). */
const VALID = 290;
const FROM_VECTORS = 11;

export async function run(names: string[] = []): Promise<void> {
  console.log('\n## flood: issue 11 §3 at full scale (a real root process; flood from separate processes)');
  const why = floodUnavailableReason();
  if (why !== null) {
    console.log(`  skipped: ${why}`);
    return;
  }
  const seconds = Number(process.env.ZTROOT_BENCH_FLOOD_SECONDS ?? 60);
  const ms = (f: number) => Math.round(seconds * f * 1000);
  const identitiesFile = await ensureValidIdentities(VALID - FROM_VECTORS);
  const hello = (family: 4 | 6, prefixes: number, perPrefix: number, durationMs: number): ScenarioSpec => ({
    kind: 'hello',
    family,
    rate: 10_000,
    flooders: 2,
    durationMs,
    prefixes,
    perPrefix,
    validIdentities: VALID,
    invalidIdentities: 4000,
    identitiesFile,
    pairRate: 100,
    baselineMs: 5000,
    newcomer: true,
  });
  const scenarios: Array<[string, string, ScenarioSpec]> = [
    ['hello4', 'HELLOs from 200 IPv4 /24s (2 addresses each), 10 k/s', hello(4, 200, 2, ms(1))],
    ['hello6', 'HELLOs from 200 IPv6 /48s, 10 k/s', hello(6, 200, 1, ms(0.5))],
    ['hello6', 'HELLOs from 200 /64s of one IPv6 /48, 10 k/s', hello(6, 1, 200, ms(0.5))],
    ['whois', 'WHOIS from one authenticated peer, 20 k/s', { kind: 'whois', family: 4, rate: 20_000, flooders: 2, durationMs: ms(0.5), pairRate: 100, baselineMs: 5000 }],
  ];
  for (const [name, title, spec] of scenarios) {
    if (names.length > 0 && !names.includes(name)) continue;
    console.log(`\n### ${title} for ${spec.durationMs / 1000} s (load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')})`);
    const r = await runFloodScenario(spec);
    for (const l of describeReport(r)) console.log(`  ${l}`);
    for (const l of verdicts(r)) console.log(`  ${l}`);
  }
}

/** The issue's thresholds, each with its figure. */
function verdicts(r: ScenarioReport): string[] {
  const mark = (ok: boolean) => (ok ? 'ok  ' : 'FAIL');
  if (r.spec.kind === 'whois') return [`${mark(r.pairFlood.lossPct < 2)} others lose < 2 % of their relayed packets: ${r.pairFlood.lossPct} %`];
  const n = r.newcomer?.admittedAfterMs ?? null;
  return [
    `${mark(n !== null && n <= 10_000)} a newcomer from a quiet prefix is admitted within 10 s: ${n === null ? 'never' : `${n} ms`}`,
    `${mark(r.pairFlood.lossPct < 5)} known peers' relayed traffic loses < 5 %: ${r.pairFlood.lossPct} %`,
  ];
}
