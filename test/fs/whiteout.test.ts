/**
 * Whiteout names: classification of basenames and construction of whiteout paths.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  OPAQUE_MARKER, WHITEOUT_PREFIX, classifyBasename, isWhiteoutName, opaqueMarkerPath, whiteoutName, whiteoutPath,
} from '../../src/fs/whiteout.js';

describe('whiteout names', () => {
  it('defines the OCI names', () => {
    assert.equal(WHITEOUT_PREFIX, '.wh.');
    assert.equal(OPAQUE_MARKER, '.wh..wh..opq');
  });

  it('classifies basenames', () => {
    assert.deepEqual(classifyBasename('passwd'), { kind: 'plain' });
    assert.deepEqual(classifyBasename('a.wh.b'), { kind: 'plain' });
    assert.deepEqual(classifyBasename('.wh.passwd'), { kind: 'whiteout', target: 'passwd' });
    assert.deepEqual(classifyBasename('.wh..bashrc'), { kind: 'whiteout', target: '.bashrc' });
    assert.deepEqual(classifyBasename('.wh....'), { kind: 'whiteout', target: '...' });
    assert.deepEqual(classifyBasename('.wh..wh..opq'), { kind: 'opaque' });
    assert.deepEqual(classifyBasename('.wh..wh.plnk'), { kind: 'meta' });
    for (const bad of ['.wh.', '.wh..', '.wh...']) assert.equal(classifyBasename(bad).kind, 'invalid', bad);
    assert.ok(isWhiteoutName('.wh.x') && isWhiteoutName(OPAQUE_MARKER) && !isWhiteoutName('x.wh.'));
  });

  it('builds whiteout and opaque paths', () => {
    assert.equal(whiteoutName('x'), '.wh.x');
    assert.equal(whiteoutPath('etc/passwd'), 'etc/.wh.passwd');
    assert.equal(whiteoutPath('top'), '.wh.top');
    assert.equal(opaqueMarkerPath('var/cache'), 'var/cache/.wh..wh..opq');
    assert.equal(opaqueMarkerPath(''), '.wh..wh..opq');
    for (const bad of ['', '.', '..', 'a/b']) assert.throws(() => whiteoutName(bad), RangeError);
    // Round trip: what we build is what we classify.
    const built = whiteoutPath('a/b/c').split('/').pop()!;
    assert.deepEqual(classifyBasename(built), { kind: 'whiteout', target: 'c' });
  });
});
