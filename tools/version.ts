/**
 * ztroot's version, read once from package.json (the one place it is written) — shown by `--version`, the
 * HTTP API and the fleet heartbeat.
 */
import { readFileSync } from 'node:fs';

function readVersion(): string {
  try {
    // dist/tools/version.js → the package root, in a checkout and in an installed package alike.
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export const VERSION = readVersion();
