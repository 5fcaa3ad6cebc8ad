// Builds the AES-GMAC-SIV addon (native/aes/aes.c → build/Release/aes.node): see native/build-addon.mjs and README.md.
// Optional because packet suite 3 runs without it on node:crypto (vl1/aes-gmac-siv.ts), at a higher CPU cost per
// packet; /api/status and the leaf's start-up line say which one runs (`aes`).
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAddon } from '../build-addon.mjs';

buildAddon({
  here: dirname(fileURLToPath(import.meta.url)),
  name: 'aes',
  title: 'the AES-GMAC-SIV addon',
  sources: ['aes.c'],
  withoutIt: 'Roots and leaves run without it (suite 3 on node:crypto, more CPU per packet).',
  compiler: 'gcc',
  addonApi: false,
  unsupported: null,
});
