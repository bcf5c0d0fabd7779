#!/usr/bin/env node
/** The `strata` command from the tsc output (what the tests run); see program.ts. */
import { main } from './program.js';

process.exitCode = await main(process.argv);
