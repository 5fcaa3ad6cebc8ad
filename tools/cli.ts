#!/usr/bin/env node
/**
 * `ztroot` — one CLI, with subcommands. Each subcommand lives in its own module and is loaded only
 * when used, so `ztroot id` does not pay for the root server's imports. Every subcommand parses its
 * arguments with tools/args.ts and runs under tools/run-main.ts (one-line errors, exit codes 0/1/2/70).
 */
import { UsageError, versionLine } from './args.js';
import { runMain } from './run-main.js';
import { useAesEngine } from './aes-engine.js';

interface Subcommand {
  summary: string;
  load: () => Promise<{ main: (argv: string[]) => Promise<number> }>;
}

const SUBCOMMANDS: Record<string, Subcommand> = {
  start: { summary: 'run a root server', load: () => import('./start.js') },
  id: { summary: 'make, validate and use identities (zerotier-idtool compatible)', load: () => import('./id.js') },
  mkplanet: { summary: 'make, update, rotate, inspect and verify planets and moons', load: () => import('./mkplanet.js') },
  leaf: { summary: 'run a leaf node (VL1 + VL2 with TAP devices, zerotier-cli compatible API) on a private planet', load: () => import('./leaf.js') },
  relay: { summary: 'run a standalone TCP fallback relay (for a host apart from the roots)', load: () => import('./relay.js') },
  doctor: { summary: "check a planet's roots from this host: UDP and TCP relay, NAT, planets, advice", load: () => import('./doctor/index.js') },
  fleet: { summary: "the fleet's roots as Redis sees them (fleet status)", load: () => import('./fleet.js') },
  bench: { summary: 'run the benchmarks (npm run bench)', load: () => import('./bench/index.js') },
  fuzz: { summary: 'mutated captured traffic against a real root: no crash, drops by reason, RSS (npm run fuzz)', load: () => import('./fuzz.js') },
};

function usage(): string {
  const lines = ['usage: ztroot <command> [options]', '', 'commands:'];
  for (const [name, s] of Object.entries(SUBCOMMANDS)) lines.push(`  ${name.padEnd(10)} ${s.summary}`);
  lines.push(
    '',
    "Run 'ztroot <command> --help' for a command's options; 'ztroot --version' for the version.",
    'Exit codes: 0 ok, 1 failed (the message says what and how to fix it), 2 usage, 70 a bug.',
  );
  return lines.join('\n');
}

/** `ztroot` without a subcommand: help, the version, or a usage error. */
async function top(argv: string[]): Promise<number> {
  const [first] = argv;
  if (first === undefined) {
    console.error(usage());
    return 2;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    console.log(usage());
    return 0;
  }
  if (first === '--version') {
    console.log(versionLine());
    return 0;
  }
  throw new UsageError(first.startsWith('-') ? `unknown option ${first}` : `unknown command ${JSON.stringify(first)} (commands: ${Object.keys(SUBCOMMANDS).join(', ')})`);
}

const [cmd, ...rest] = process.argv.slice(2);
const sub = cmd !== undefined && Object.hasOwn(SUBCOMMANDS, cmd) ? SUBCOMMANDS[cmd] : undefined;
// The suite-3 engine (ZTROOT_AES) is registered before any subcommand makes a key: roots, leaves, probes, benchmarks.
if (sub !== undefined) await runMain(`ztroot ${cmd}`, async (argv) => (useAesEngine(), (await sub.load()).main(argv)), rest);
else await runMain('ztroot', top, process.argv.slice(2));
