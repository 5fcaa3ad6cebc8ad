/**
 * A TCP stream whose every byte can be checked at the far end: the leaf tests run it across a ZeroTier network to
 * prove frames arrive intact and in order at volume (a lost, duplicated or corrupted segment changes the hash or
 * stalls the stream), not just that pings get through.
 *
 *   node dist/test/tcp-blast.js serve <ip> <port>          prints {"listening":port}, then {"bytes","sha256","ms"}
 *   node dist/test/tcp-blast.js send <ip> <port> <bytes>   prints {"bytes","sha256","ms"}
 *
 * The sender's bytes come from SHA-256 in counter mode: cheap, reproducible, and nothing a link could compress.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';

const CHUNK = 64 * 1024;

function block(i: number): Buffer {
  const out = Buffer.alloc(CHUNK);
  for (let off = 0, k = 0; off < CHUNK; off += 32, k++) createHash('sha256').update(`${i}:${k}`).digest().copy(out, off);
  return out;
}

async function serve(host: string, port: number): Promise<void> {
  const server = net.createServer((sock) => {
    const h = createHash('sha256');
    let bytes = 0;
    const t0 = Date.now();
    sock.on('data', (d) => {
      h.update(d);
      bytes += d.length;
    });
    sock.on('end', () => {
      process.stdout.write(`${JSON.stringify({ bytes, sha256: h.digest('hex'), ms: Date.now() - t0 })}\n`);
      sock.end();
      server.close();
    });
    sock.on('error', (e) => {
      process.stdout.write(`${JSON.stringify({ error: e.message, bytes })}\n`);
      process.exit(1);
    });
  });
  server.listen(port, host, () => process.stdout.write(`${JSON.stringify({ listening: (server.address() as net.AddressInfo).port })}\n`));
}

async function send(host: string, port: number, total: number): Promise<void> {
  const sock = net.connect({ host, port });
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  const h = createHash('sha256');
  const t0 = Date.now();
  let sent = 0;
  for (let i = 0; sent < total; i++) {
    const b = block(i).subarray(0, Math.min(CHUNK, total - sent));
    h.update(b);
    sent += b.length;
    if (!sock.write(b)) await new Promise((r) => sock.once('drain', r));
  }
  sock.end();
  await new Promise<void>((resolve, reject) => {
    sock.once('close', () => resolve());
    sock.once('error', reject);
    sock.resume();
  });
  process.stdout.write(`${JSON.stringify({ bytes: sent, sha256: h.digest('hex'), ms: Date.now() - t0 })}\n`);
}

const [mode, host, port, bytes] = process.argv.slice(2);
if (mode === 'serve' && host && port) await serve(host, Number(port));
else if (mode === 'send' && host && port && bytes) await send(host, Number(port), Number(bytes));
else {
  process.stderr.write('usage: tcp-blast serve <ip> <port> | send <ip> <port> <bytes>\n');
  process.exit(2);
}
