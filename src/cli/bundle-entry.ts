/**
 * The `strata` command in the bundle (scripts/bundle.mjs): CommonJS, so that its loader can hand
 * V8 a code cache, and CommonJS has no top-level await.
 */
import { main } from './program.js';

void main(process.argv).then((code) => {
  process.exitCode = code;
});
