/**
 * The layer model describes the tree applyLayer ('overlay') writes: on every valid layer of the
 * catalogue (and the flatten fixtures' kinds of entries), the same paths, kinds, opaque
 * directories and hardlink groups.
 */
import assert from 'node:assert/strict';
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { applyLayer } from '../../src/fs/apply-layer.js';
import { LayerModel } from '../../src/fs/layer-model.js';
import { isOverlayWhiteout } from '../../src/fs/special-files.js';
import { readTarEntries } from '../../src/fs/tar-entries.js';
import { OVERLAY_OPAQUE_XATTR, readXattrsSync } from '../../src/fs/xattr.js';
import { D, F, H, L, N, OPQ, WH, tarOf } from './flatten-layers.js';
import { makeSandbox, streamOf, validLayers } from './hostile-tars.js';

const isRoot = process.geteuid?.() === 0;

function onDisk(root: string): { kinds: string[]; groups: string[] } {
  const kinds: string[] = [];
  const inodes = new Map<number, string[]>();
  const walk = (rel: string) => {
    const st = lstatSync(rel === '' ? root : join(root, rel));
    const kind = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : isOverlayWhiteout(st) ? 'whiteout' : 'other';
    const opaque = kind === 'dir' && readXattrsSync(rel === '' ? root : join(root, rel))[OVERLAY_OPAQUE_XATTR]?.toString() === 'y';
    kinds.push(`${rel} ${kind}${opaque ? ' opaque' : ''}`);
    if (kind === 'other' || kind === 'symlink') inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), rel]);
    if (kind === 'dir') for (const n of readdirSync(rel === '' ? root : join(root, rel))) walk(rel === '' ? n : `${rel}/${n}`);
  };
  walk('');
  return { kinds: kinds.sort(), groups: [...inodes.values()].filter((g) => g.length > 1).map((g) => g.sort().join(' ')).sort() };
}

async function modelled(buf: Buffer): Promise<{ kinds: string[]; groups: string[] }> {
  const model = new LayerModel({ label: 'm' });
  let i = 0;
  for await (const e of readTarEntries(streamOf(buf), { label: 'm', maxEntrySize: 2 ** 40 })) model.apply(e, i++);
  const kinds: string[] = [];
  const inodes = new Map<number, string[]>();
  for (const [rel, r] of model.paths()) {
    kinds.push(`${rel} ${r.kind}${r.opaque ? ' opaque' : ''}`);
    if (r.kind === 'other' || r.kind === 'symlink') inodes.set(r.inode, [...(inodes.get(r.inode) ?? []), rel]);
  }
  return { kinds: kinds.sort(), groups: [...inodes.values()].filter((g) => g.length > 1).map((g) => g.sort().join(' ')).sort() };
}

describe('LayerModel mirrors applyLayer (overlay)', { skip: !isRoot && 'needs root (whiteouts, devices)' }, () => {
  const extra = async () => [
    { title: 'flatten-style layer', tar: await tarOf([
      D('./'), D('a/'), WH('a/gone'), OPQ('a'), F('a/f', 'f'), H('a/g', 'a/f'), F('a/f', 'new'), L('s', 'a'), H('t', 's'),
      N('n', 'char', 0, 0), D('n/'), N('c', 'char', 1, 3), F('.wh.c', ''), D('x/'), F('x/y', 'y'), WH('x'), F('x/z', 'z'),
    ]) },
  ];
  it('on every valid layer', async () => {
    for (const { title, tar } of [...validLayers(), ...(await extra())]) {
      const sb = makeSandbox();
      try {
        await applyLayer(Readable.from([tar]), sb.target, { mode: 'overlay' });
        assert.deepEqual(await modelled(tar), onDisk(sb.target), title);
      } finally {
        sb.cleanup();
      }
    }
  });
});
