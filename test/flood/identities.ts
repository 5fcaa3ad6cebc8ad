/**
 * Valid identities for the full-scale flood (issue 11's: 290 of them). Each takes ~0.5 s of CPU to make, so
 * they are made once, by worker threads, and kept in a file (default `<tmpdir>/ztroot-flood-identities.json`,
 * or `ZTROOT_FLOOD_IDENTITIES`): a JSON array of secret identity strings.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Identity } from '../../vl1/identity.js';

export const FLOOD_IDENTITIES_FILE = process.env.ZTROOT_FLOOD_IDENTITIES ?? join(tmpdir(), 'ztroot-flood-identities.json');

/** The file, holding at least `n` valid identities (made now if missing; progress on stderr). */
export async function ensureValidIdentities(n: number, file = FLOOD_IDENTITIES_FILE): Promise<string> {
  const have: string[] = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as string[]) : [];
  if (have.length >= n) return file;
  const missing = n - have.length;
  const threads = Math.max(1, Math.min(availableParallelism(), missing));
  process.stderr.write(`making ${missing} identities for the flood (${threads} threads, ~0.5 s of CPU each) into ${file}\n`);
  const parts = await Promise.all(
    Array.from({ length: threads }, (_, i) => {
      const count = Math.floor(missing / threads) + (i < missing % threads ? 1 : 0);
      return new Promise<string[]>((resolve, reject) => {
        const w = new Worker(new URL(import.meta.url), { workerData: { count } });
        w.once('message', (m: string[]) => resolve(m));
        w.once('error', reject);
      });
    }),
  );
  const all = [...have, ...parts.flat()];
  writeFileSync(`${file}.tmp`, JSON.stringify(all), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  return file;
}

if (!isMainThread && parentPort !== null) {
  const { count } = workerData as { count: number };
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(Identity.generate().toString(true));
  parentPort.postMessage(out);
}
