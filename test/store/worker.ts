/**
 * Child-process side of the store tests. Each command opens the store at argv[3] and does one
 * thing, printing progress lines the parent waits for before it kills or inspects.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { Store } from '../../src/store/index.js';

const [cmd, root, ...rest] = process.argv.slice(2);
const forever = () => new Promise<never>(() => setInterval(() => undefined, 1 << 30));
const say = (line: string) => process.stdout.write(line + '\n');

async function main(): Promise<void> {
  const store = await Store.open(root!);
  switch (cmd) {
    case 'tag': {
      // Adds `count` names `<prefix>-<i>`, each its own transaction.
      const [prefix, count] = rest;
      const blob = await store.ingest(Buffer.from('shared manifest'));
      for (let i = 0; i < Number(count); i++) {
        await store.setRef(`example.com/${prefix}:t${i}`, { digest: blob.digest, mediaType: 'application/json', size: blob.size });
      }
      say('done');
      return;
    }
    case 'ingest-endless': {
      // One ingest of a stream that never ends; reports bytes produced.
      let produced = 0;
      const source = new Readable({
        read() {
          const chunk = randomBytes(256 * 1024);
          produced += chunk.length;
          if (produced % (4 * 1024 * 1024) === 0) say(`produced ${produced}`);
          setImmediate(() => this.push(chunk));
        },
      });
      await store.ingest(source);
      return;
    }
    case 'ingest-loop': {
      // Writes blobs then names them, forever: a kill lands mid-ingest or mid-ref-update.
      for (let i = 0; ; i++) {
        const data = randomBytes(1024 * 1024 + i);
        const parts = [data.subarray(0, 300_000), data.subarray(300_000)];
        const blob = await store.ingest(Readable.from(parts), { size: data.length });
        await store.setRef(`example.com/${rest[0]}:${i}`, { digest: blob.digest, mediaType: 'application/octet-stream', size: blob.size });
        say(`set ${i}`);
      }
    }
    case 'hold-refs': {
      // Stops inside a refs transaction, holding the refs lock.
      const blob = await store.ingest(Buffer.from('held'));
      await store.updateRefs(async (tx) => {
        tx.set('example.com/held:1', { digest: blob.digest, mediaType: 'application/json', size: blob.size });
        say('holding');
        await forever();
      });
      return;
    }
    case 'hold-lock': {
      const [name, mode] = rest;
      await store.locks.acquire(name!, mode === 'shared' ? 'shared' : 'exclusive');
      say('locked');
      await forever();
      return;
    }
    case 'lease': {
      await store.acquireLease();
      say('leased');
      await forever();
      return;
    }
    default:
      throw new Error(`unknown worker command ${cmd}`);
  }
}

main().catch((e) => {
  process.stderr.write(String(e?.stack ?? e) + '\n');
  process.exitCode = 1;
});
