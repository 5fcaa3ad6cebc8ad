/**
 * The one argument parser of every `ztroot` subcommand (and `mkplanet`): `node:util` `parseArgs` in strict
 * mode, plus what it lacks — `--help` and `--version` on every command, help text made from the same option
 * table that is parsed, and its errors turned into one line an operator can act on ("unknown option
 * --bogus", "option --listen needs a value"). Every usage error is a {@link UsageError}: exit code 2.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { VERSION } from './version.js';

/** The command line is wrong: the top level prints `<command>: <message> (see '<command> --help')` and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
  /** The command to name (and point at for --help) when it is more precise than the process's: "ztroot id sign". */
  command: string | undefined;
  constructor(message: string, command?: string) {
    super(message);
    this.command = command;
  }
}

type ParseArgsOption = NonNullable<ParseArgsConfig['options']>[string];

/** One option: parseArgs' own fields, plus its help line and the name of its value. */
export type OptionSpec = ParseArgsOption & {
  /** One line (or a few, joined with \n) for --help. */
  help: string;
  /** The value's placeholder in --help, e.g. "host:port" (string options). */
  arg?: string;
};

export interface CommandSpec {
  /** As typed: "ztroot relay", "mkplanet update". Prefixes every message. */
  command: string;
  /** The usage line after "usage: ", e.g. "ztroot relay [options]". */
  usage: string;
  /** Paragraphs between the usage line and the options. */
  about?: string;
  options: Record<string, OptionSpec>;
  /** Positional arguments allowed: [min, max] (default none). */
  positionals?: [number, number];
  /** Text after the options (examples, exit codes). */
  epilogue?: string;
}

export type ArgValue = string | boolean | string[] | undefined;

export interface ParsedCommand {
  values: Record<string, ArgValue>;
  positionals: string[];
}

/** What to do with a command line: run, or just print help / the version (exit 0). */
export type CommandLine = ({ kind: 'run' } & ParsedCommand) | { kind: 'print'; text: string };

const META_OPTIONS: Record<string, OptionSpec> = {
  help: { type: 'boolean', short: 'h', help: 'show this help' },
  version: { type: 'boolean', help: 'print the version' },
};

/** "ztroot 0.1.0" — what every `--version` prints. */
export function versionLine(): string {
  return `ztroot ${VERSION}`;
}

/**
 * Parses `argv` against `spec` (strict: unknown options and missing values are usage errors).
 * @throws {UsageError} naming the option or argument at fault.
 */
export function parseCommand(spec: CommandSpec, argv: string[]): CommandLine {
  const options = { ...spec.options, ...META_OPTIONS };
  let parsed: { values: Record<string, ArgValue>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: stripHelp(options), strict: true, allowPositionals: true }) as typeof parsed;
  } catch (e) {
    const u = asUsageError(e);
    if (u === null) throw e;
    u.command = spec.command;
    throw u;
  }
  if (parsed.values.help === true) return { kind: 'print', text: helpText(spec) };
  if (parsed.values.version === true) return { kind: 'print', text: versionLine() };
  const [min, max] = spec.positionals ?? [0, 0];
  const n = parsed.positionals.length;
  if (n > max) {
    const extra = parsed.positionals[max]!;
    throw new UsageError(extra.startsWith('-') && extra !== '-' ? `unknown option ${extra}` : `unexpected argument ${JSON.stringify(extra)}`, spec.command);
  }
  if (n < min) throw new UsageError(`expected ${min === max ? min : `at least ${min}`} argument${min === 1 ? '' : 's'}, got ${n}`, spec.command);
  return { kind: 'run', values: parsed.values, positionals: parsed.positionals };
}

/** parseArgs validates its option table: hand it only the fields it knows. */
function stripHelp(options: Record<string, OptionSpec>): NonNullable<ParseArgsConfig['options']> {
  const out: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, { help: _help, arg: _arg, ...o }] of Object.entries(options)) out[name] = o as ParseArgsOption;
  return out;
}

/** Help text: usage, about, one entry per option (aligned), epilogue. */
export function helpText(spec: CommandSpec): string {
  const rows = Object.entries({ ...spec.options, ...META_OPTIONS }).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` <${o.arg ?? 'value'}>` : ''}`;
    return [flag, o.multiple ? `${o.help} (repeatable)` : o.help] as const;
  });
  const width = Math.min(30, Math.max(...rows.map(([f]) => f.length)) + 2);
  const lines = [`usage: ${spec.usage}`, ''];
  if (spec.about) lines.push(spec.about, '');
  lines.push('options:');
  for (const [flag, help] of rows) {
    const [first, ...more] = help.split('\n');
    if (flag.length + 2 > width) lines.push(`  ${flag}`, `  ${''.padEnd(width)}${first}`);
    else lines.push(`  ${flag.padEnd(width)}${first}`);
    for (const m of more) lines.push(`  ${''.padEnd(width)}${m}`);
  }
  if (spec.epilogue) lines.push('', spec.epilogue);
  return lines.join('\n');
}

/**
 * parseArgs' errors (codes ERR_PARSE_ARGS_*) as one short line, or null for any other error. Also used for
 * parseArgs calls outside {@link parseCommand} (root/config.ts parses `ztroot start`'s flags itself).
 */
export function asUsageError(e: unknown): UsageError | null {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) return null;
  const msg = (e as Error).message;
  // Node 20's texts: "Unknown option '--bogus'. To specify…", "Option '-l, --listen <value>' argument missing",
  // "Option '--json' does not take an argument", "Option '--x' argument is ambiguous…", "Unexpected argument 'x'…".
  const opt = /'(?:-\w, )?(--?[^' <]+)/.exec(msg)?.[1] ?? '';
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new UsageError(`unknown option ${opt}`);
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return new UsageError(`unexpected argument ${JSON.stringify(/'([^']*)'/.exec(msg)?.[1] ?? '')}`);
    default:
      if (/does not take an argument/.test(msg)) return new UsageError(`option ${opt} takes no value`);
      if (/ambiguous/.test(msg)) return new UsageError(`option ${opt} needs a value (for a value starting with "-", write ${opt}=-…)`);
      if (/argument missing/.test(msg)) return new UsageError(`option ${opt} needs a value`);
      return new UsageError(msg.split('\n')[0]!);
  }
}

/** Typed reads of parsed values (parseArgs has already checked the types against the table). */
export function str(v: Record<string, ArgValue>, name: string): string | undefined {
  const x = v[name];
  return typeof x === 'string' ? x : undefined;
}
export function strs(v: Record<string, ArgValue>, name: string): string[] {
  const x = v[name];
  return Array.isArray(x) ? x : typeof x === 'string' ? [x] : [];
}
export function flag(v: Record<string, ArgValue>, name: string): boolean {
  return v[name] === true;
}
