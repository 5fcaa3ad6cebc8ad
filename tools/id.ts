/**
 * `ztroot id` — make, validate and use identities; subcommands, arguments and messages follow
 * `zerotier-idtool` (`one.cpp` in ZeroTierOne) so scripts written for it keep working:
 *
 *   generate [<identity.secret>] [<identity.public>]   validate <identity>   getpublic <identity.secret>
 *   sign <identity.secret> <file>                       verify <identity> <file> <signature hex>
 *
 * An `<identity>` argument is a file holding an identity string (surrounding whitespace trimmed) or,
 * when no such file exists and it contains ':', the identity string itself.
 * Exit codes: 0 ok, 1 failed check or bad input, 2 usage error.
 */
import { closeSync, fchmodSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { formatAddress } from '../vl1/address.js';
import { fromHex, toHex } from '../vl1/bytes.js';
import { C25519_SIGNATURE_LENGTH } from '../vl1/constants.js';
import { isZtError } from '../vl1/errors.js';
import { Identity } from '../vl1/identity.js';
import { flag, parseCommand, UsageError, versionLine, type CommandSpec } from './args.js';

/** Mode of identity.secret: owner read/write only (DESIGN.md: secrets are written 0600). */
const SECRET_FILE_MODE = 0o600;
const PUBLIC_FILE_MODE = 0o644;

const SPECS: Record<string, CommandSpec> = {
  generate: {
    command: 'ztroot id generate',
    usage: 'ztroot id generate [--force] [<identity.secret>] [<identity.public>]',
    about: `Generate a new identity (~0.5 s: a memory-hard hash search).
  no file       print the secret identity string to stdout
  files         write the secret string to <identity.secret> (mode 0600) and, if given, the public
                string to <identity.public>; print the new address`,
    options: { force: { type: 'boolean', help: 'overwrite existing files (otherwise an existing file is an error)' } },
    positionals: [0, 2],
  },
  validate: {
    command: 'ztroot id validate',
    usage: 'ztroot id validate <identity string or file>',
    about: "Check that the identity's address derives from its public key (Identity::locallyValidate).\nExit 0 if valid, 1 if not.",
    options: {},
    positionals: [1, 1],
  },
  getpublic: {
    command: 'ztroot id getpublic',
    usage: 'ztroot id getpublic <identity.secret string or file>',
    about: 'Print the public identity string (without the private key).',
    options: {},
    positionals: [1, 1],
  },
  sign: {
    command: 'ztroot id sign',
    usage: 'ztroot id sign <identity.secret string or file> <file>',
    about: "Print the 96-byte C25519 signature of <file>'s bytes as hex.",
    options: {},
    positionals: [2, 2],
  },
  verify: {
    command: 'ztroot id verify',
    usage: 'ztroot id verify <identity string or file> <file> <signature hex>',
    about: "Check a signature made by 'ztroot id sign' or 'zerotier-idtool sign'. Exit 0 if valid, 1 if not.",
    options: {},
    positionals: [3, 3],
  },
};

function mainUsage(): string {
  return [
    'usage: ztroot id <command> [args]   (zerotier-idtool compatible)',
    '',
    'commands:',
    '  generate [<identity.secret>] [<identity.public>]   make a new identity',
    '  validate <identity>                                 check an identity',
    '  getpublic <identity.secret>                         print the public part',
    '  sign <identity.secret> <file>                       sign a file',
    '  verify <identity> <file> <signature>                verify a signature',
    '',
    "An <identity> is a file or the identity string itself. Run 'ztroot id <command> --help' for details;",
    "'ztroot id --version' for the version. Exit codes: 0 ok, 1 failed check or bad input, 2 usage.",
  ].join('\n');
}

/** A failed check or bad input (exit 1): the message names the file or value. */
class CliFailure extends Error {
  constructor(
    readonly exitCode: 1,
    message: string,
  ) {
    super(message);
  }
}

function errnoText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ? `${err.code}: ${err.message}` : String(e);
}

/** Identity from a file (trimmed text) or, when no such file exists and it contains ':', from the argument itself. */
function loadIdentity(arg: string): { id: Identity; label: string; fromFile: boolean } {
  let text: string | null = null;
  let isFile = false;
  try {
    isFile = statSync(arg).isFile();
  } catch {
    isFile = false;
  }
  if (isFile) {
    try {
      text = readFileSync(arg, 'utf8').trim();
    } catch (e) {
      throw new CliFailure(1, `${arg}: cannot read: ${errnoText(e)}`);
    }
  } else if (arg.includes(':')) {
    text = arg.trim();
  } else {
    throw new CliFailure(1, `${arg}: no such file, and not an identity string`);
  }
  // Never echo an identity string given on the command line: it may hold a private key.
  const label = isFile ? arg : 'identity string';
  try {
    return { id: Identity.fromString(text), label, fromFile: isFile };
  } catch (e) {
    if (isZtError(e)) throw new CliFailure(1, `${label}: not an identity: ${e.message} (${e.code})`);
    throw e;
  }
}

function readMessageFile(path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new CliFailure(1, `${path}: cannot read: ${errnoText(e)}`);
  }
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Creates `path` (which must not exist) with `mode` from the first syscall on: O_CREAT|O_EXCL, then fchmod against a loose umask. */
function createExclusive(path: string, data: string, mode: number): void {
  const fd = openSync(path, 'wx', mode);
  try {
    fchmodSync(fd, mode);
    writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes `data` to `path` with `mode`. Without `force` the file must not exist (checked atomically by
 * O_EXCL). With `force` it goes to a fresh temp file in the same directory, created with `mode`, and
 * is renamed over `path` — so a secret is never visible with the old file's looser mode, even briefly.
 */
function writeFileWithMode(path: string, data: string, mode: number, force: boolean): void {
  try {
    if (!force) {
      createExclusive(path, data, mode);
      return;
    }
    const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${toHex(randomBytes(6))}.tmp`);
    try {
      createExclusive(tmp, data, mode);
      renameSync(tmp, path);
    } catch (e) {
      try {
        unlinkSync(tmp);
      } catch {
        /* it was never created, or already renamed */
      }
      throw e;
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new CliFailure(1, `${path}: already exists (use --force to overwrite)`);
    throw new CliFailure(1, `${path}: cannot write: ${errnoText(e)}`);
  }
}

function cmdGenerate(args: string[], force: boolean): number {
  const [secretPath, publicPath] = args;
  if (secretPath !== undefined && secretPath === publicPath) throw new UsageError('the secret and public files must differ', SPECS.generate!.command);
  if (!force) {
    for (const p of args) if (exists(p)) throw new CliFailure(1, `${p}: already exists (use --force to overwrite)`);
  }
  const id = Identity.generate();
  if (secretPath === undefined) {
    console.log(id.toString(true));
    return 0;
  }
  // No trailing newline: the same bytes zerotier-one keeps in its home directory.
  writeFileWithMode(secretPath, id.toString(true), SECRET_FILE_MODE, force);
  console.error(`${secretPath} written (mode 0600)`);
  if (publicPath !== undefined) {
    writeFileWithMode(publicPath, id.toString(false), PUBLIC_FILE_MODE, force);
    console.error(`${publicPath} written`);
  }
  console.log(formatAddress(id.address));
  return 0;
}

function cmdValidate(args: string[]): number {
  const { id, label, fromFile } = loadIdentity(args[0]!);
  const shown = fromFile ? label : id.toString(false);
  if (!id.locallyValidate()) {
    console.error(`${shown} FAILED validation: address ${formatAddress(id.address)} is not derived from its public key (memory-hard hash check)`);
    return 1;
  }
  console.log(`${shown} is a valid identity`);
  return 0;
}

function cmdGetPublic(args: string[]): number {
  console.log(loadIdentity(args[0]!).id.toString(false));
  return 0;
}

function cmdSign(args: string[]): number {
  const { id, label } = loadIdentity(args[0]!);
  if (!id.hasPrivate()) throw new CliFailure(1, `${label}: has no private key (use the identity.secret file)`);
  console.log(toHex(id.sign(readMessageFile(args[1]!))));
  return 0;
}

function cmdVerify(args: string[]): number {
  const [idArg, file, sigHex] = args as [string, string, string];
  const { id } = loadIdentity(idArg);
  const message = readMessageFile(file);
  let sig: Uint8Array;
  try {
    sig = fromHex(sigHex.trim(), 'signature');
  } catch (e) {
    throw new CliFailure(1, `${file} signature check FAILED: ${(e as Error).message}`);
  }
  if (sig.length !== C25519_SIGNATURE_LENGTH) {
    console.error(`${file} signature check FAILED: signature is ${sig.length} bytes, expected ${C25519_SIGNATURE_LENGTH}`);
    return 1;
  }
  if (!id.verify(message, sig)) {
    console.error(`${file} signature check FAILED`);
    return 1;
  }
  console.log(`${file} signature valid`);
  return 0;
}

const COMMANDS: Record<string, (args: string[], force: boolean) => number> = {
  generate: cmdGenerate,
  validate: cmdValidate,
  getpublic: cmdGetPublic,
  sign: cmdSign,
  verify: cmdVerify,
};

/** Entry point for `ztroot id <argv...>`; returns the exit code (usage errors are thrown: exit 2). */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) {
    console.error(mainUsage());
    return 2;
  }
  if (cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(mainUsage());
    return 0;
  }
  if (cmd === '--version') {
    console.log(versionLine());
    return 0;
  }
  const run = COMMANDS[cmd];
  const spec = SPECS[cmd];
  if (!run || !spec) throw new UsageError(cmd.startsWith('-') ? `unknown option ${cmd}` : `unknown command ${JSON.stringify(cmd)} (commands: ${Object.keys(COMMANDS).join(', ')})`);
  const line = parseCommand(spec, rest);
  if (line.kind === 'print') {
    console.log(line.text);
    return 0;
  }
  try {
    return run(line.positionals, flag(line.values, 'force'));
  } catch (e) {
    if (e instanceof CliFailure) {
      console.error(e.message);
      return e.exitCode;
    }
    if (isZtError(e)) {
      console.error(`ztroot id ${cmd}: ${e.message} (${e.code})`);
      return 1;
    }
    throw e;
  }
}
