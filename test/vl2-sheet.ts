/**
 * Test vectors quoted in the VL2 fact sheet (`../shared/protocol/vl2.md`, beside shared/vectors), read at test time —
 * never copied into the repository. Each helper finds its vector by the sentence that introduces it, so a reworded
 * sheet fails loudly here rather than silently testing nothing.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fromHex } from '../vl1/bytes.js';
import { VECTORS_DIR } from './vectors.js';

export const VL2_SHEET_PATH = resolve(VECTORS_DIR, '..', 'protocol', 'vl2.md');
const text = readFileSync(VL2_SHEET_PATH, 'utf8');

function after(marker: string): string {
  const i = text.indexOf(marker);
  if (i < 0) throw new Error(`vl2.md: "${marker}" not found`);
  return text.slice(i + marker.length);
}

/** The first ``` block after `marker`, its lines. */
export function codeBlockAfter(marker: string): string[] {
  const t = after(marker);
  const m = /```[^\n]*\n([\s\S]*?)```/.exec(t);
  if (!m) throw new Error(`vl2.md: no code block after "${marker}"`);
  return m[1]!.replace(/\n$/, '').split('\n');
}

/** The first `inline` text after `marker` (may span lines; returned with white space collapsed). */
export function inlineAfter(marker: string): string {
  const m = /`([^`]*)`/.exec(after(marker));
  if (!m) throw new Error(`vl2.md: no inline code after "${marker}"`);
  return m[1]!.replace(/\s+/g, ' ').trim();
}

/** Hex with spaces, newlines and '|' separators removed, as bytes. */
export function hexBytes(s: string): Uint8Array {
  return fromHex(s.replace(/[\s|]/g, ''), 'vl2.md hex');
}

/** A regex capture from the whole sheet. */
export function capture(re: RegExp): string {
  const m = re.exec(text);
  if (!m || m[1] === undefined) throw new Error(`vl2.md: ${re} not found`);
  return m[1];
}

/** Appendix A.1–A.3. */
export const appendixA = {
  controllerSecret: (): string => capture(/controller\.secret:\s+([0-9a-f]{10}:0:[0-9a-f]{128}:[0-9a-f]{128})/),
  memberPublic: (): string => capture(/member\.public:\s+([0-9a-f]{10}:0:[0-9a-f]{128})/),
  networkId: (): bigint => BigInt(`0x${capture(/network ID:\s+([0-9a-f]{16})/)}`),
  comHex: (): Uint8Array => hexBytes(codeBlockAfter('COM_HEX (272 bytes):').join('')),
  chunkHex: (): Uint8Array => hexBytes(codeBlockAfter('CHUNK_HEX (1022 bytes;').join('')),
  /** A.2: "(0, 0x18bcfe56800, 0x1b7740), (1, …" → [id, value, maxDelta] ("max" = 2^64 − 1). */
  comQualifiers: (): Array<[bigint, bigint, bigint]> => {
    const para = capture(/Parsed qualifiers: ([\s\S]*?); signer/);
    return [...para.matchAll(/\((\d+), (0x[0-9a-f]+), (0x[0-9a-f]+|\d+|max)\)/g)].map((m) => [
      BigInt(m[1]!),
      BigInt(m[2]!),
      m[3] === 'max' ? 0xffffffffffffffffn : BigInt(m[3]!),
    ]);
  },
};

/** The A.4 table: input cell → output cell (backticks kept). */
export function smallVectors(): Map<string, string> {
  const lines = after('A.4 Small vectors:').split('\n');
  const out = new Map<string, string>();
  let i = lines.findIndex((l) => l.startsWith('|'));
  for (; i >= 0 && i < lines.length && lines[i]!.startsWith('|'); i++) {
    const l = lines[i]!;
    if (l.startsWith('| input') || l.startsWith('|---')) continue;
    const cells = l.slice(2, -2).split(' | ');
    out.set(cells[0]!, cells.slice(1).join(' | '));
  }
  return out;
}

/**
 * §3.2's ad-hoc dictionary display as wire bytes: `<hh>` is a raw byte, every other character is itself (escapes
 * like `\0` are shown as written on the wire). The DNS line is described in words; it is returned separately.
 */
export function adhocDictionaryDisplay(): { lines: Array<{ key: string; wire: Uint8Array }>; dnsLine: string } {
  const block = codeBlockAfter('Test vector, ad-hoc config');
  const lines: Array<{ key: string; wire: Uint8Array }> = [];
  let dnsLine = '';
  for (const l of block) {
    if (l.startsWith('DNS=')) {
      dnsLine = l;
      lines.push({ key: 'DNS', wire: new Uint8Array(0) });
      continue;
    }
    const bytes: number[] = [];
    for (let i = 0; i < l.length; i++) {
      const m = /^<([0-9a-f]{2})>/.exec(l.slice(i));
      if (m) {
        bytes.push(parseInt(m[1]!, 16));
        i += 3;
      } else bytes.push(l.charCodeAt(i));
    }
    lines.push({ key: l.slice(0, l.indexOf('=')), wire: new Uint8Array(bytes) });
  }
  return { lines, dnsLine };
}
