// Builds the memory-hard hash addon (native/hash/hash.c → build/Release/hash.node): see native/build-addon.mjs.
// Optional because the pure-JS hash (vl1/identity-hash.ts) does the same work, only ~3× slower: a root without
// a C compiler validates fewer new identities per second, and says so in /api/status (identityHash).
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAddon } from '../build-addon.mjs';

buildAddon({
  here: dirname(fileURLToPath(import.meta.url)),
  name: 'hash',
  title: 'the memory-hard hash addon',
  sources: ['hash.c'],
  withoutIt: 'Roots run without it (pure-JS hash, fewer new identities validated per second).',
  compiler: 'gcc',
  addonApi: false,
  unsupported: null,
});
