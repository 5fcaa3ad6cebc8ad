#!/usr/bin/env node
// `mkplanet` = `ztroot mkplanet`.
import { main } from './mkplanet.js';
import { runMain } from './run-main.js';

await runMain('mkplanet', main, process.argv.slice(2));
