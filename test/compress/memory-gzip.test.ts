import { describe, it } from 'node:test';
import { boundedRoundTrip } from './memory.js';

describe('bounded memory', () => {
  it('gzip: 256 MiB round trip keeps RSS growth under 150 MiB', { timeout: 300_000 }, async (t) => {
    t.diagnostic(await boundedRoundTrip('gzip', 1));
  });
});
