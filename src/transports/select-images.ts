/**
 * Which images, under which names, `save` writes for its arguments, by `docker save`'s rules:
 * `name:tag` gives that image and that name; a bare repository (`busybox`) every tag of it; an
 * image ID, ID prefix or `name@digest` the image without a name.
 */
import { InvalidReferenceError, NotFoundError } from '../errors.js';
import type { ImageStore, StoredImage } from '../image/image-store.js';
import { normalizeReference, parseReference, repositoryName } from '../image/reference.js';

/** An image to save and the full names to record for it (possibly none). */
export interface SelectedImage {
  stored: StoredImage;
  names: string[];
}

/** Resolves `save` arguments to images, one entry per image ID, names merged in argument order. */
export async function selectImages(images: ImageStore, args: readonly string[]): Promise<SelectedImage[]> {
  if (args.length === 0) throw new NotFoundError('no image to save', { hint: 'name at least one image' });
  const byId = new Map<string, SelectedImage>();
  const add = (stored: StoredImage, name?: string) => {
    let sel = byId.get(stored.id);
    if (!sel) byId.set(stored.id, (sel = { stored, names: [] }));
    if (name !== undefined && !sel.names.includes(name)) sel.names.push(name);
  };
  const refs = await images.store.listRefs();
  for (const arg of args) {
    let ref;
    try {
      ref = parseReference(arg, { defaultTag: false });
    } catch (e) {
      if (!(e instanceof InvalidReferenceError)) throw e;
      add(await images.resolve(arg)); // an image ID (or prefix) is not a name
      continue;
    }
    if (ref.digest !== undefined) {
      add(await images.resolve(arg));
    } else if (ref.tag !== undefined) {
      add(await images.resolve(arg), normalizeReference(arg));
    } else {
      const repo = repositoryName(ref);
      const tagged = refs.filter((r) => {
        const p = parseReference(r.name);
        return p.tag !== undefined && p.digest === undefined && repositoryName(p) === repo;
      });
      if (tagged.length === 0) {
        add(await images.resolve(arg)); // maybe an ID prefix that also looks like a name
        continue;
      }
      for (const r of tagged) add(await images.resolve(r.name), r.name);
    }
  }
  return [...byId.values()];
}
