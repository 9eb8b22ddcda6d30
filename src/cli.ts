#!/usr/bin/env node
/**
 * The entry (`node dist/cli.js`, the `tokenrelay` bin, `npm start`). Node and V8 settings come
 * first: on Node 22+ this may restart the process with a young-generation size, which is
 * cheapest before anything else is loaded. Then the command line (main.ts).
 */
import { fileURLToPath } from 'node:url';
import { applyNodeSettings } from './ops/node-settings.js';

applyNodeSettings(fileURLToPath(import.meta.url));
await import('./main.js');
