#!/usr/bin/env node
// `mkplanet` = `ztroot mkplanet`.
import { main } from "./mkplanet.js";
main(process.argv.slice(2)).then((c) => { process.exitCode = c; }, (e: unknown) => { console.error(e); process.exitCode = 70; });
