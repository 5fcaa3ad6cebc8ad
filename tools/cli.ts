#!/usr/bin/env node
/**
 * `ztroot` — one CLI, with subcommands. Each subcommand lives in its own module and is loaded only
 * when used, so `ztroot id` does not pay for the root server's imports.
 */
import { ZtError } from '../vl1/errors.js';

interface Subcommand {
  summary: string;
  load: () => Promise<{ main: (argv: string[]) => Promise<number> }>;
}

const SUBCOMMANDS: Record<string, Subcommand> = {
  id: { summary: 'make, validate and use identities (zerotier-idtool compatible)', load: () => import('./id.js') },
  mkplanet: { summary: 'make, update, rotate, inspect and verify planets and moons', load: () => import('./mkplanet.js') },
  start: { summary: 'run a root server', load: () => import('./start.js') },
  relay: { summary: 'run a standalone TCP fallback relay (for a host apart from the roots)', load: () => import('./relay.js') },
  fleet: { summary: "the fleet's roots as Redis sees them (fleet status)", load: () => import('./fleet.js') },
  bench: { summary: 'run the benchmarks (npm run bench)', load: () => import('./bench/index.js') },
  fuzz: { summary: 'mutated captured traffic against a real root: no crash, drops by reason, RSS (npm run fuzz)', load: () => import('./fuzz.js') },
};

function usage(): string {
  const lines = ['usage: ztroot <command> [args]', '', 'commands:'];
  for (const [name, s] of Object.entries(SUBCOMMANDS)) lines.push(`  ${name.padEnd(10)} ${s.summary}`);
  lines.push('', "Run 'ztroot <command> --help' for a command's options.");
  return lines.join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(usage());
    return cmd ? 0 : 2;
  }
  const sub = SUBCOMMANDS[cmd];
  if (!sub) {
    console.error(`ztroot: unknown command "${cmd}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await (await sub.load()).main(rest);
  } catch (e) {
    if (e instanceof ZtError) {
      console.error(`ztroot ${cmd}: ${e.message} (${e.code})`);
      return 1;
    }
    throw e;
  }
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(e);
    process.exitCode = 70;
  },
);
