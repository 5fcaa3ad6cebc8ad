/**
 * `ztroot mkplanet` (also installed as `mkplanet`): make, update, rotate, inspect and verify planets and moons.
 *
 * Exit codes: 0 ok / accepted, 1 rejected or bad input (the message names the file, key or value), 2 usage.
 * The world codec and rules are in `planet/world.ts`; the state directory in `planet/state.ts`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { readU64, toHex } from '../vl1/bytes.js';
import { parseCommand, UsageError, versionLine, type CommandSpec, type OptionSpec } from './args.js';
import { WORLD_ID_EARTH, WORLD_ID_MARS } from '../vl1/constants.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { CLIENT_PLANET_PATHS, readFileBytes, readSigningKeyFile, readWorldFile, writeFileAtomic, writeFileExclusive } from '../planet/files.js';
import { readSpecFile, parseTimestamp, type PlanetSpec } from '../planet/spec.js';
import { adoptState, commitNext, createState, isStateDir, loadState, type PlanetState } from '../planet/state.js';
import {
  describeWorld,
  formatEndpoints,
  parseWorld,
  verifyWorldSignature,
  worldUpdateVerdict,
  type UnsignedWorld,
  type World,
  type WorldType,
} from '../planet/world.js';

/** mkworld's hard-coded 2019 timestamp (`attic/world/mkworld.cpp`): kits that reuse it can never update. */
export const MKWORLD_FIXED_TIMESTAMP = 1567191349589;

const HELP: Record<string, string> = {
  main: `usage: mkplanet <command> [options]

commands:
  init SPEC       first planet: new signing key (0600), random world id, current time
  update SPEC     next planet from the edited SPEC, signed by the current update key
  rotate SPEC     like update, and the new planet names a NEW update key
  moon SPEC       make (or update) a moon: roots clients add with 'zerotier-cli orbit'
  inspect FILE    print a planet or moon (ours, mkworld/genmoon output, ZeroTier's Earth)
  verify NEW [--previous OLD]   would a client holding OLD accept NEW?

'mkplanet SPEC' alone = 'mkplanet init SPEC'. Run 'mkplanet <command> --help' for its options,
'mkplanet --version' for the version. Exit codes: 0 ok, 1 rejected or bad input, 2 usage.`,
  make: `SPEC (YAML or JSON):
  id: 0x000000005eed00b0          # optional: 16 hex digits, 0x..., or decimal (init: random)
  timestamp: 1700000000000        # optional: ms (default now; must be newer than the previous)
  roots:                          # 1 to 4 roots
    - identity: "<address>:0:<public key hex>"      # or identityFile: path/to/identity.public
      endpoints: ["203.0.113.10/9993", "2001:db8::10/9993"]   # 1 to 32, "ip/port"

A root's own state directory (ztroot start's --state-dir) is a state directory too: edit its planet.yaml,
then 'mkplanet update <state dir>/planet.yaml --state <state dir>'; the running root serves the result.`,
  inspect: `Prints any planet or moon file: type, id, timestamp, update key, roots and endpoints, whether its signature
verifies with its own update key, its size and SHA-256.`,
  verify: `With --previous: exit 0 if a client holding OLD would replace it with NEW (same type and id, newer
timestamp, signed by OLD's update key), else exit 1 with the reason.
Without: checks NEW is well formed (a client given it as its planet file takes it without a signature check)
and reports whether it verifies with its own update key.`,
};

interface Opts {
  state?: string;
  out?: string;
  timestamp?: string;
  'signing-key'?: string;
  adopt?: string;
  previous?: string;
  json?: boolean;
  base64?: boolean;
  'c-array'?: boolean;
  force?: boolean;
  help?: boolean;
}

const MAKE_OPTIONS: Record<string, OptionSpec> = {
  state: { type: 'string', arg: 'dir', help: 'state directory (default: SPEC without extension + ".state", beside SPEC)' },
  out: { type: 'string', arg: 'file', help: 'also write the planet/moon to FILE (replaces an older version of the same world only)' },
  timestamp: { type: 'string', arg: 'ms', help: "override the spec's timestamp" },
  'signing-key': { type: 'string', arg: 'file', help: 'init/moon only: use this key (mkworld .c25519, 128 bytes) instead of a new one' },
  adopt: { type: 'string', arg: 'file', help: "init only: start from an existing planet (e.g. mkworld's world.bin) instead of SPEC;\n--signing-key must then be the key it names (mkworld's current.c25519)" },
  json: { type: 'boolean', help: 'print a JSON summary {id, id_hex, timestamp, roots, sha256, ...}' },
  base64: { type: 'boolean', help: 'print the file as base64' },
  'c-array': { type: 'boolean', help: 'print the file as a C array (like mkworld)' },
  force: { type: 'boolean', help: 'allow the Earth id, mkworld\'s 2019 timestamp, unusable endpoints, and replacing --out' },
};

/** The command line of each mkplanet command. */
function specFor(cmd: string): CommandSpec {
  if (cmd === 'inspect') {
    return { command: 'mkplanet inspect', usage: 'mkplanet inspect FILE [--json]', about: HELP.inspect!, options: { json: { type: 'boolean', help: 'print JSON' } }, positionals: [1, 1] };
  }
  if (cmd === 'verify') {
    return {
      command: 'mkplanet verify',
      usage: 'mkplanet verify NEW [--previous OLD] [--json]',
      about: HELP.verify!,
      options: { previous: { type: 'string', arg: 'file', help: 'the planet or moon clients hold now' }, json: { type: 'boolean', help: 'print JSON' } },
      positionals: [1, 1],
    };
  }
  // init without SPEC is --adopt's form; the commands check the rest.
  return { command: `mkplanet ${cmd}`, usage: `mkplanet ${cmd} SPEC [options]`, about: HELP.make!, options: MAKE_OPTIONS, positionals: [cmd === 'init' ? 0 : 1, 1] };
}

function hexId(id: bigint): string {
  return id.toString(16).padStart(16, '0');
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** JSON summary of a world (ids as strings: they can exceed 2^53). */
export function worldSummary(w: World, bytes: Uint8Array, file?: string): Record<string, unknown> {
  return {
    ...(file ? { file } : {}),
    type: w.type === 'planet' ? 1 : 127,
    type_name: w.type,
    id: w.id.toString(),
    id_hex: hexId(w.id),
    timestamp: w.timestamp,
    timestamp_iso: new Date(w.timestamp).toISOString(),
    updates_must_be_signed_by: toHex(w.updatesMustBeSignedBy),
    signature: toHex(w.signature),
    signature_verifies_with_embedded_update_key: verifyWorldSignature(w, w.updatesMustBeSignedBy),
    roots: w.roots.map((r) => ({
      address: r.identity.toString(false).slice(0, 10),
      identity: r.identity.toString(false),
      stable_endpoints: formatEndpoints(r),
    })),
    size: bytes.length,
    sha256: sha256(bytes),
  };
}

function worldText(w: World, bytes: Uint8Array, file?: string): string {
  const lines: string[] = [];
  if (file) lines.push(`file:         ${file}`);
  const known = w.id === WORLD_ID_EARTH ? " (ZeroTier's Earth)" : w.id === WORLD_ID_MARS ? " (ZeroTier's Mars id)" : '';
  lines.push(`type:         ${w.type} (${w.type === 'planet' ? 1 : 127})`);
  lines.push(`id:           ${hexId(w.id)} = ${w.id}${known}`);
  lines.push(`timestamp:    ${w.timestamp} (${new Date(w.timestamp).toISOString()})${w.timestamp === MKWORLD_FIXED_TIMESTAMP ? " (mkworld's fixed 2019 value)" : ''}`);
  lines.push(`update key:   ${toHex(w.updatesMustBeSignedBy)}`);
  lines.push(`self-signed:  ${verifyWorldSignature(w, w.updatesMustBeSignedBy) ? 'yes' : 'no'} (signature ${verifyWorldSignature(w, w.updatesMustBeSignedBy) ? 'verifies' : 'does not verify'} with its own update key)`);
  lines.push(`size:         ${bytes.length} bytes, sha256 ${sha256(bytes)}`);
  lines.push(`roots (${w.roots.length}):`);
  for (const r of w.roots) lines.push(`  ${r.identity.toString(false).slice(0, 10)}  ${formatEndpoints(r).join('  ')}`);
  return lines.join('\n');
}

function cArray(bytes: Uint8Array, name: string): string {
  const rows: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) {
    rows.push('  ' + Array.from(bytes.subarray(i, i + 16), (b) => `0x${b.toString(16).padStart(2, '0')}`).join(','));
  }
  return `#define ${name}_LENGTH ${bytes.length}\nstatic const unsigned char ${name}[${name}_LENGTH] = {\n${rows.join(',\n')}\n};`;
}

/** Prints the requested outputs: formats to stdout; the human summary to stdout, or stderr if a format was asked. */
function emit(v: Opts, w: World, bytes: Uint8Array, file: string, note?: string): void {
  const formats = Boolean(v.json || v.base64 || v['c-array']);
  const human = (note ? note + '\n' : '') + worldText(w, bytes, file);
  if (formats) console.error(human);
  else console.log(human);
  if (v.json) console.log(JSON.stringify(worldSummary(w, bytes, file), null, 2));
  if (v.base64) console.log(Buffer.from(bytes).toString('base64'));
  if (v['c-array']) console.log(cArray(bytes, w.type === 'planet' ? 'ZT_DEFAULT_WORLD' : 'ZT_MOON_WORLD'));
}

function installHint(w: World, path: string): string {
  if (w.type === 'planet') return `install: copy ${path} to ${CLIENT_PLANET_PATHS.linux} (Linux; see README for macOS/Windows) and restart zerotier-one`;
  const seed = w.roots[0]?.identity.toString(false).slice(0, 10) ?? '<seed>';
  return `install: on clients run 'zerotier-cli orbit ${hexId(w.id)} ${seed}', or copy ${path} into moons.d/`;
}

function defaultStateDir(specPath: string): string {
  const abs = resolve(specPath);
  return join(dirname(abs), basename(abs, extname(abs)) + '.state');
}

function stateDirFor(v: Opts, spec: string): string {
  return v.state ? resolve(v.state) : defaultStateDir(spec);
}

function noState(dir: string): ZtError {
  const parent = dirname(dir);
  const others = existsSync(parent) ? readdirSync(parent).filter((n) => n.endsWith('.state') && isStateDir(join(parent, n))) : [];
  const hint = others.length ? ` (state directories here: ${others.join(', ')}; pass --state)` : " (run 'mkplanet init' first, or pass --state)";
  return new ZtError(ZtErrorCode.FILE, `no mkplanet state at ${dir}${hint}`);
}

function checkTimestamp(ts: number, v: Opts, prev?: World): void {
  if (ts === MKWORLD_FIXED_TIMESTAMP && !v.force) {
    throw new ZtError(
      ZtErrorCode.BAD_CONFIG,
      `timestamp ${ts} is mkworld's fixed 2019 value; planets made with it can never be updated (use --force to keep it)`,
    );
  }
  if (prev && !(ts > prev.timestamp)) {
    throw new ZtError(
      ZtErrorCode.BAD_CONFIG,
      `timestamp ${ts} is not newer than the current ${prev.type}'s ${prev.timestamp}; clients would ignore it`,
    );
  }
}

function pickTimestamp(spec: PlanetSpec, v: Opts, prev?: World): number {
  if (v.timestamp !== undefined) return parseTimestamp(v.timestamp, '--timestamp');
  if (spec.timestamp !== undefined) return spec.timestamp;
  const now = Date.now();
  // A clock behind the previous world's timestamp would make an update clients ignore: step past it instead.
  return prev && now <= prev.timestamp ? prev.timestamp + 1 : now;
}

function randomWorldId(): bigint {
  for (;;) {
    const id = readU64(new Uint8Array(randomBytes(8)), 0);
    if (id !== 0n && id !== WORLD_ID_EARTH && id !== WORLD_ID_MARS) return id;
  }
}

function checkId(id: bigint, v: Opts, type: WorldType): void {
  if (type === 'planet' && id === WORLD_ID_EARTH && !v.force) {
    throw new ZtError(
      ZtErrorCode.BAD_CONFIG,
      `world id ${id} is ZeroTier's Earth: clients would compare it with the compiled-in planet (use --force if you mean it)`,
    );
  }
}

/** Writes the --out copy: a new file, or a replacement of an older version of the same world; else needs --force. */
function writeOut(v: Opts, world: World, bytes: Uint8Array): void {
  if (!v.out) return;
  const out = resolve(v.out);
  if (!existsSync(out)) return writeFileExclusive(out, bytes, 0o644);
  if (!v.force) {
    let old: World | null = null;
    try {
      old = parseWorld(readFileBytes(out));
    } catch {
      old = null;
    }
    if (!old || old.type !== world.type || old.id !== world.id || !(old.timestamp < world.timestamp)) {
      throw new ZtError(ZtErrorCode.FILE, `${out} exists and is not an older version of ${describeWorld(world)}; refusing to overwrite it (use --force)`);
    }
  }
  writeFileAtomic(out, bytes, 0o644);
}

function unsignedFrom(spec: PlanetSpec, type: WorldType, id: bigint, timestamp: number): UnsignedWorld {
  return { type, id, timestamp, updatesMustBeSignedBy: new Uint8Array(64), roots: spec.roots };
}

function warn(st: PlanetState): void {
  for (const w of st.warnings) console.error(`mkplanet: warning: ${w}`);
}

function cmdInit(pos: string[], v: Opts, type: WorldType): number {
  if (v.adopt) {
    if (type !== 'planet') throw new UsageError('--adopt is for init only');
    if (!v['signing-key']) throw new UsageError('--adopt needs --signing-key (the key the planet names; mkworld: current.c25519)');
    if (!v.state) throw new UsageError('--adopt needs --state DIR');
    const world = readWorldFile(resolve(v.adopt));
    const st = adoptState(resolve(v.state), world, readSigningKeyFile(resolve(v['signing-key'])));
    warn(st);
    writeOut(v, st.world, st.bytes);
    emit(v, st.world, st.bytes, st.worldPath, `adopted ${describeWorld(st.world)} into ${st.dir}`);
    return 0;
  }
  const specPath = pos[0];
  if (!specPath || pos.length > 1) throw new UsageError('expected exactly one SPEC file');
  const spec = readSpecFile(resolve(specPath), { force: Boolean(v.force) });
  const dir = stateDirFor(v, specPath);
  let id = spec.id;
  if (id === undefined) id = type === 'moon' ? BigInt(spec.roots[0]!.identity.address) : randomWorldId(); // initmoon: id = seed address
  checkId(id, v, type);
  const ts = pickTimestamp(spec, v);
  checkTimestamp(ts, v);
  const key = v['signing-key'] ? readSigningKeyFile(resolve(v['signing-key'])) : undefined;
  const st = createState(dir, unsignedFrom(spec, type, id, ts), key);
  warn(st);
  writeOut(v, st.world, st.bytes);
  emit(
    v,
    st.world,
    st.bytes,
    st.worldPath,
    `created ${describeWorld(st.world)} in ${st.dir} (signing key ${st.keyPath}, mode 0600: back up the whole directory)\n${installHint(st.world, st.worldPath)}`,
  );
  return 0;
}

function cmdNext(pos: string[], v: Opts, rotate: boolean, type: WorldType): number {
  const specPath = pos[0];
  if (!specPath || pos.length > 1) throw new UsageError('expected exactly one SPEC file');
  if (v['signing-key'] || v.adopt) throw new UsageError('--signing-key/--adopt are for init; update and rotate use the state directory');
  const dir = stateDirFor(v, specPath);
  if (!isStateDir(dir)) throw noState(dir);
  const spec = readSpecFile(resolve(specPath), { force: Boolean(v.force) });
  const st = loadState(dir);
  warn(st);
  const prev = st.world;
  if (prev.type !== type) throw new ZtError(ZtErrorCode.BAD_CONFIG, `state ${dir} holds a ${prev.type}, not a ${type}`);
  if (spec.id !== undefined && spec.id !== prev.id) {
    throw new ZtError(ZtErrorCode.BAD_CONFIG, `spec ${spec.path}: id ${hexId(spec.id)} differs from the current ${prev.type}'s ${hexId(prev.id)}; clients accept updates of the same id only`);
  }
  const ts = pickTimestamp(spec, v, prev);
  checkTimestamp(ts, v, prev);
  const after = commitNext(st, unsignedFrom(spec, type, prev.id, ts), { rotate });
  warn(after);
  writeOut(v, after.world, after.bytes);
  const what = rotate ? `rotated the update key: ${describeWorld(after.world)} names a new key (old one kept in ${after.dir}/retired-keys/)` : `made ${describeWorld(after.world)}`;
  emit(v, after.world, after.bytes, after.worldPath, `${what}; verified: a client holding ${describeWorld(prev)} accepts it`);
  return 0;
}

function cmdMoon(pos: string[], v: Opts): number {
  const specPath = pos[0];
  if (!specPath || pos.length > 1) throw new UsageError('expected exactly one SPEC file');
  return isStateDir(stateDirFor(v, specPath)) ? cmdNext(pos, v, false, 'moon') : cmdInit(pos, v, 'moon');
}

function cmdInspect(pos: string[], v: Opts): number {
  if (pos.length !== 1) throw new UsageError('expected exactly one FILE');
  const file = resolve(pos[0]!);
  const bytes = readFileBytes(file);
  const w = readWorldFile(file);
  if (v.json) console.log(JSON.stringify(worldSummary(w, bytes, file), null, 2));
  else console.log(worldText(w, bytes, file));
  return 0;
}

function cmdVerify(pos: string[], v: Opts): number {
  if (pos.length !== 1) throw new UsageError('expected exactly one NEW file');
  const file = resolve(pos[0]!);
  const next = readWorldFile(file);
  const selfSigned = verifyWorldSignature(next, next.updatesMustBeSignedBy);
  if (!v.previous) {
    const msg = `${file}: well-formed ${describeWorld(next)}; a client installing it as its ${next.type === 'planet' ? 'planet file' : 'moon file'} takes it without a signature check (self-signed: ${selfSigned ? 'yes' : 'no'})`;
    if (v.json) console.log(JSON.stringify({ file, well_formed: true, signature_verifies_with_embedded_update_key: selfSigned }, null, 2));
    else console.log(msg);
    return 0;
  }
  const prevFile = resolve(v.previous);
  const prev = readWorldFile(prevFile);
  const verdict = worldUpdateVerdict(prev, next);
  if (v.json) {
    console.log(
      JSON.stringify(
        { file, previous: prevFile, accepted: verdict.accepted, ...(verdict.accepted ? {} : { reason: verdict.reason, message: verdict.message }) },
        null,
        2,
      ),
    );
  } else if (verdict.accepted) {
    console.log(`accepted: a client holding ${describeWorld(prev)} replaces it with ${describeWorld(next)}`);
  } else {
    console.log(`rejected (${verdict.reason}): ${verdict.message}`);
  }
  return verdict.accepted ? 0 : 1;
}

/** Entry point for `ztroot mkplanet` and `mkplanet`. Returns the exit code (usage errors are thrown: exit 2). */
export async function main(argv: string[]): Promise<number> {
  const commands = new Set(['init', 'update', 'rotate', 'moon', 'inspect', 'verify']);
  let cmd = argv[0];
  let rest = argv.slice(1);
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    if (cmd === undefined) console.error(HELP.main);
    else console.log(HELP.main);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === '--version') {
    console.log(versionLine());
    return 0;
  }
  if (!commands.has(cmd)) {
    if (cmd.startsWith('-')) throw new UsageError(`unknown option ${cmd}`, 'mkplanet');
    if (!existsSync(cmd)) throw new UsageError(`unknown command ${JSON.stringify(cmd)} (commands: ${[...commands].join(', ')}; or a SPEC file)`, 'mkplanet');
    rest = argv; // 'mkplanet SPEC' = 'mkplanet init SPEC'
    cmd = 'init';
  }
  const spec = specFor(cmd);
  const line = parseCommand(spec, rest);
  if (line.kind === 'print') {
    console.log(line.text);
    return 0;
  }
  const { positionals } = line;
  const values = line.values as Opts;
  try {
    switch (cmd) {
      case 'init':
        return cmdInit(positionals, values, 'planet');
      case 'update':
        return cmdNext(positionals, values, false, 'planet');
      case 'rotate':
        return cmdNext(positionals, values, true, 'planet');
      case 'moon':
        return cmdMoon(positionals, values);
      case 'inspect':
        return cmdInspect(positionals, values);
      default:
        return cmdVerify(positionals, values);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      e.command = spec.command;
      throw e;
    }
    if (e instanceof ZtError) {
      console.error(`mkplanet ${cmd}: ${e.message} (${e.code})`);
      return 1;
    }
    throw e;
  }
}
