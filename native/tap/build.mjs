// Builds the TAP addon (native/tap/tap.cc → build/Release/tap.node): see native/build-addon.mjs.
// Optional because only the leaf's TAP devices need the addon: a root installs and runs without a C++ toolchain,
// and the leaf then says exactly what is missing (leaf/tap.ts tapUnavailableReason).
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAddon } from '../build-addon.mjs';

buildAddon({
  here: dirname(fileURLToPath(import.meta.url)),
  name: 'tap',
  title: 'the TAP addon',
  sources: ['tap.cc'],
  withoutIt: 'Roots do not need it; a leaf needs it for its TAP devices.',
  compiler: 'g++',
  addonApi: true,
  unsupported: process.platform === 'linux' ? null : `TAP devices are Linux-only (this is ${process.platform})`,
});
