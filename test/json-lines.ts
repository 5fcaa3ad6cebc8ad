/**
 * Watches a child process that prints one JSON object per line (pino logs, test client events):
 * collects the lines, and `waitFor` resolves with the first one matching, or fails with everything the
 * child said so far — so a failing test shows why.
 */
import type { ChildProcess } from 'node:child_process';

export type JsonLine = Record<string, unknown>;

export interface JsonLineWatch {
  readonly lines: JsonLine[];
  stderr(): string;
  waitFor(pred: (l: JsonLine) => boolean, ms: number, what: string): Promise<JsonLine>;
}

export function watchJsonLines(child: ChildProcess, name: string): JsonLineWatch {
  const lines: JsonLine[] = [];
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    let nl: number;
    while ((nl = out.indexOf('\n')) >= 0) {
      const l = out.slice(0, nl);
      out = out.slice(nl + 1);
      try {
        lines.push(JSON.parse(l) as JsonLine);
      } catch {
        lines.push({ text: l });
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return {
    lines,
    stderr: () => err,
    async waitFor(pred, ms, what) {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        const hit = lines.find(pred);
        if (hit) return hit;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`${name}: timed out waiting for ${what}\nstdout:\n${lines.map((l) => JSON.stringify(l)).join('\n')}\nstderr:\n${err}`);
    },
  };
}
