/** `--secret` values as docker buildx spells them, and reading them. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseSecretSpec, readSecret } from '../../src/build/secrets.js';
import { BuildError, UsageError } from '../../src/errors.js';
import { makeTemp, rmTemp } from './helpers.js';

test('parseSecretSpec: files, variables, and id alone reading the variable of that name', () => {
  assert.deepEqual(parseSecretSpec('id=npmrc,src=/home/u/.npmrc'), { id: 'npmrc', file: '/home/u/.npmrc' });
  assert.deepEqual(parseSecretSpec('id=npmrc,source=rel/path'), { id: 'npmrc', file: 'rel/path' });
  assert.deepEqual(parseSecretSpec('id=tok,env=GITHUB_TOKEN'), { id: 'tok', env: 'GITHUB_TOKEN' });
  assert.deepEqual(parseSecretSpec('id=GITHUB_TOKEN'), { id: 'GITHUB_TOKEN', env: 'GITHUB_TOKEN' });
  assert.deepEqual(parseSecretSpec('type=env,id=A'), { id: 'A', env: 'A' });
  assert.deepEqual(parseSecretSpec('type=file,id=key'), { id: 'key', file: 'key' });
  assert.deepEqual(parseSecretSpec('id=k,"src=/a,b"'), { id: 'k', file: '/a,b' });
  for (const bad of ['src=/x', 'id=a,oops=1', 'id=a,type=socket', 'id', 'id=a,"src=/x']) {
    assert.throws(() => parseSecretSpec(bad), UsageError, bad);
  }
});

test('readSecret: the file or variable now; a missing one is SECRET_MISSING', () => {
  const dir = makeTemp('secret-read-');
  try {
    writeFileSync(join(dir, 's'), 'value');
    assert.equal(readSecret({ id: 's', file: join(dir, 's') }).toString(), 'value');
    process.env.STRATA_SECRET_TEST = 'from env';
    assert.equal(readSecret({ id: 'e', env: 'STRATA_SECRET_TEST' }).toString(), 'from env');
    delete process.env.STRATA_SECRET_TEST;
    assert.throws(() => readSecret({ id: 'e', env: 'STRATA_SECRET_TEST' }), (e) => e instanceof BuildError && e.code === 'SECRET_MISSING' && /STRATA_SECRET_TEST is not set/.test(e.message));
    assert.throws(() => readSecret({ id: 'f', file: join(dir, 'missing') }), (e) => e instanceof BuildError && e.code === 'SECRET_MISSING');
  } finally {
    rmTemp(dir);
  }
});
