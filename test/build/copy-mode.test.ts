import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyChmod, createdDirMode, parseChmod } from '../../src/build/copy-mode.js';
import { InstructionError } from '../../src/errors.js';

const sym = (s: string, mode: number, dir = false) => applyChmod(parseChmod(s), mode, dir);

describe('--chmod', () => {
  it('takes octal values up to 7777 and replaces the mode', () => {
    assert.equal(applyChmod(parseChmod('755'), 0o600, false), 0o755);
    assert.equal(applyChmod(parseChmod('0644'), 0o777, true), 0o644);
    assert.equal(applyChmod(parseChmod('4755'), 0o644, false), 0o4755);
    assert.equal(applyChmod(parseChmod(0o700), 0o644, false), 0o700);
  });

  it('refuses out-of-range and non-octal numbers', () => {
    for (const bad of ['8', '0o755', '17777', '75x', '', 'u', 'u+q', 'q+x', 'u+x,']) {
      assert.throws(() => parseChmod(bad), InstructionError, bad);
    }
  });

  it('applies symbolic notation like chmod(1) with a zero umask', () => {
    assert.equal(sym('+x', 0o644), 0o755);
    assert.equal(sym('u+x', 0o644), 0o744);
    assert.equal(sym('go-w', 0o666), 0o644);
    assert.equal(sym('a=r', 0o777), 0o444);
    assert.equal(sym('u=rw,go=r', 0o777), 0o644);
    assert.equal(sym('g=u', 0o740), 0o770);
    assert.equal(sym('o=g', 0o754), 0o755);
    assert.equal(sym('u+s', 0o755), 0o4755);
    assert.equal(sym('g+s', 0o755), 0o2755);
    assert.equal(sym('+t', 0o777, true), 0o1777);
    assert.equal(sym('o+t', 0o777, true), 0o777); // sticky needs a who other than o alone
    assert.equal(sym('u+x-w', 0o644), 0o544);
    assert.equal(sym('=', 0o755), 0o000);
  });

  it('gives X only to directories and already-executable files, and only with +', () => {
    assert.equal(sym('+X', 0o644), 0o644);
    assert.equal(sym('+X', 0o744), 0o755);
    assert.equal(sym('+X', 0o600, true), 0o711);
    assert.equal(sym('a+rX', 0o600, true), 0o755);
    // BuildKit's mode library ignores X after '=' (BSD quirk): directories get no x here.
    assert.equal(sym('u=rwX,go=rX', 0o700, true), 0o644);
  });

  it('creates missing parent directories 0755, or with an octal --chmod', () => {
    assert.equal(createdDirMode(undefined), 0o755);
    assert.equal(createdDirMode(parseChmod('700')), 0o700);
    assert.equal(createdDirMode(parseChmod('4750')), 0o750);
    assert.equal(createdDirMode(parseChmod('+x')), 0o755);
  });
});
