import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import jpeg from 'jpeg-js';
import { DecodeError } from '../codec/decode.js';
import { Rng } from '../tensor/rng.js';
import type { Dataset, Splits } from './dataset.js';
import { findFile, MissingDataError, readBytes } from './files.js';

const SIDE = 64;
const PIXELS = SIDE * SIDE * 3;
export const TINY_IMAGENET_SHAPE = [SIDE, SIDE, 3] as const;

const HOW_TO_GET =
  'Tiny-ImageNet is not available offline. Download tiny-imagenet-200.zip (the Stanford CS231n Tiny ImageNet, also on the ' +
  'Kaggle "tiny-imagenet" competition page), unpack it, and pass the directory tiny-imagenet-200 (or its parent) as the data directory. ' +
  'It must hold wnids.txt, train/<wnid>/images/*.JPEG, val/images/*.JPEG and val/val_annotations.txt.';

export interface TinyImagenetOptions {
  /** Directory tiny-imagenet-200 or its parent; default ./data. */
  readonly dataDir?: string;
  /** Seed of the class subset. */
  readonly seed: number;
  /** How many of the classes in wnids.txt to use (the paper: 50 of 200). */
  readonly classes?: number;
}

/** `count` class ids drawn without replacement by `seed`, in their wnids.txt order (label = position). */
export function chooseClasses(wnids: readonly string[], count: number, seed: number): string[] {
  const picked = Array.from(Rng.seeded(seed).permutation(wnids.length).subarray(0, count)).sort((a, b) => a - b);
  return picked.map((i) => wnids[i]!);
}

const isJpeg = (name: string) => /\.jpe?g$/i.test(name);
const byNumber = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

function readLines(file: string): E.Either<DecodeError, string[]> {
  return pipe(
    readBytes(file, 16 * 1024 * 1024, 'a Tiny-ImageNet list'),
    E.map((bytes) => bytes.toString('utf8').split(/\r?\n/)),
  );
}

function parseWnids(file: string, wanted: number): E.Either<DecodeError, string[]> {
  return pipe(
    readLines(file),
    E.chain((lines) => {
      const seen = new Map<string, number>();
      for (const [i, line] of lines.entries()) {
        const id = line.trim();
        if (id === '') continue;
        const before = seen.get(id);
        if (before !== undefined) return E.left(new DecodeError(file, [`line ${i + 1}: class ${id} repeats line ${before}`]));
        seen.set(id, i + 1);
      }
      if (seen.size < wanted) return E.left(new DecodeError(file, [`lists ${seen.size} classes, fewer than the ${wanted} asked for`]));
      return E.right([...seen.keys()]);
    }),
  );
}

/** Decodes 64×64 JPEGs (greyscale ones expand to RGB) into HWC floats / 255. */
function decodeImages(files: readonly string[], labels: ArrayLike<number>, name: string, classes: number): E.Either<DecodeError, Dataset> {
  const x = new Float32Array(files.length * PIXELS);
  for (const [i, file] of files.entries()) {
    const bytes = readBytes(file, 16 * 1024 * 1024, 'a 64×64 JPEG');
    if (E.isLeft(bytes)) return bytes;
    let image: { width: number; height: number; data: Uint8Array };
    try {
      image = jpeg.decode(bytes.right, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 64 });
    } catch (err) {
      return E.left(new DecodeError(file, [`not a decodable JPEG (${err instanceof Error ? err.message : String(err)})`]));
    }
    if (image.width !== SIDE || image.height !== SIDE)
      return E.left(new DecodeError(file, [`expected a ${SIDE}×${SIDE} image, got ${image.width}×${image.height}`]));
    for (let p = 0; p < PIXELS; p++) x[i * PIXELS + p] = image.data[p]! / 255;
  }
  return E.right({ name, x, y: Int32Array.from(labels), shape: TINY_IMAGENET_SHAPE, count: files.length, classes });
}

function listImages(dir: string): E.Either<DecodeError, string[]> {
  return E.tryCatch(
    () =>
      readdirSync(dir)
        .filter(isJpeg)
        .sort(byNumber)
        .map((f) => join(dir, f)),
    (err) => new DecodeError(dir, [`cannot list the class's images (${err instanceof Error ? err.message : String(err)})`]),
  );
}

/** Training images of the chosen classes; the last 10% of each class (by file number) go to validation. */
function trainAndValidation(root: string, chosen: readonly string[]) {
  const train: { files: string[]; labels: number[] } = { files: [], labels: [] };
  const validation: { files: string[]; labels: number[] } = { files: [], labels: [] };
  for (const [label, wnid] of chosen.entries()) {
    const files = listImages(join(root, 'train', wnid, 'images'));
    if (E.isLeft(files)) return files;
    if (files.right.length === 0) return E.left(new DecodeError(join(root, 'train', wnid, 'images'), ['no .JPEG images for this class']));
    const held = Math.floor(files.right.length / 10);
    const cut = files.right.length - held;
    for (const [i, f] of files.right.entries()) {
      const part = i < cut ? train : validation;
      part.files.push(f);
      part.labels.push(label);
    }
  }
  return E.right({ train, validation });
}

/** Tiny-ImageNet's labelled val set (val_annotations.txt: file, wnid, box), restricted to the chosen classes. */
function valAnnotations(root: string, wnids: readonly string[], chosen: readonly string[]) {
  const file = join(root, 'val', 'val_annotations.txt');
  const known = new Set(wnids);
  const label = new Map(chosen.map((w, i) => [w, i]));
  return pipe(
    readLines(file),
    E.chain((lines) => {
      const files: string[] = [];
      const labels: number[] = [];
      for (const [i, line] of lines.entries()) {
        if (line.trim() === '') continue;
        const [image, wnid] = line.split('\t');
        if (image === undefined || wnid === undefined || image === '')
          return E.left(new DecodeError(file, [`line ${i + 1}: expected "<file>\\t<wnid>\\t…", got ${JSON.stringify(line.slice(0, 60))}`]));
        if (!known.has(wnid)) return E.left(new DecodeError(file, [`line ${i + 1}: class ${wnid} is not in wnids.txt`]));
        const l = label.get(wnid);
        if (l === undefined) continue;
        const path = join(root, 'val', 'images', image);
        if (!existsSync(path)) return E.left(new DecodeError(file, [`line ${i + 1}: image ${path} does not exist`]));
        files.push(path);
        labels.push(l);
      }
      return E.right({ files, labels });
    }),
  );
}

/**
 * Tiny-ImageNet restricted to `classes` (default 50) classes drawn by `seed` from wnids.txt,
 * as the paper does. Splits: `train` is 90% of each class's training images, `validation`
 * the other 10%, `test` the labelled val/ images of the chosen classes (the official test
 * set has no labels). Images are 64×64×3, HWC, pixels / 255.
 */
export function loadTinyImagenet({ dataDir = 'data', seed, classes = 50 }: TinyImagenetOptions): E.Either<DecodeError | MissingDataError, Splits> {
  const base = resolve(dataDir);
  const dirs = [base, join(base, 'tiny-imagenet-200')];
  const name = `tinyimagenet${classes}`;
  return pipe(
    findFile(dirs, ['wnids.txt']),
    E.mapLeft((tried) => new MissingDataError(name, tried, HOW_TO_GET)),
    E.chainW((wnidsFile) => {
      const root = join(wnidsFile, '..');
      return pipe(
        parseWnids(wnidsFile, classes),
        E.chain((wnids) => {
          const chosen = chooseClasses(wnids, classes, seed);
          return pipe(
            E.Do,
            E.apS('parts', trainAndValidation(root, chosen)),
            E.apS('val', valAnnotations(root, wnids, chosen)),
            E.bind('train', ({ parts }) => decodeImages(parts.train.files, parts.train.labels, `${name}/train`, classes)),
            E.bind('validation', ({ parts }) => decodeImages(parts.validation.files, parts.validation.labels, `${name}/validation`, classes)),
            E.bind('test', ({ val }) => decodeImages(val.files, val.labels, `${name}/test`, classes)),
            E.map(({ train, validation, test }): Splits => (validation.count > 0 ? { train, validation, test } : { train, test })),
          );
        }),
      );
    }),
  );
}
