import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';

export const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), `lgl2o-${prefix}-`));

/** IDX bytes written by hand: 00 00 type rank, big-endian dims, then the payload as given. */
export function idxBytes(type: number, dims: readonly number[], payload: Uint8Array | readonly number[]): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = type;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(payload)]);
}

/** The byte at channel c, pixel p (row-major in its 32×32 plane) of record i of a generated CIFAR file. */
export const cifarByte = (file: number, i: number, c: number, p: number) => (file * 53 + i * 7 + c * 31 + p * 3) % 256;
export const cifarLabel = (file: number, i: number) => (file + i) % 10;

/** A CIFAR-10 binary batch: per record a label byte then the R, G, B planes. */
export function cifarBatch(file: number, records: number): Buffer {
  const out = Buffer.alloc(records * 3073);
  for (let i = 0; i < records; i++) {
    out[i * 3073] = cifarLabel(file, i);
    for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) out[i * 3073 + 1 + c * 1024 + p] = cifarByte(file, i, c, p);
  }
  return out;
}

export function writeCifar(dir: string, records: number): void {
  for (let f = 1; f <= 5; f++) writeFileSync(join(dir, `data_batch_${f}.bin`), cifarBatch(f, records));
  writeFileSync(join(dir, 'test_batch.bin'), cifarBatch(0, records));
}

export const wnidOf = (k: number) => `n${String(k).padStart(8, '0')}`;
/** Class k's flat colour: red encodes k, so a decoded image tells which class it shows. */
export const classColour = (k: number): [number, number, number] => [k * 4, 255 - k * 4, 100];

export function flatJpeg(side: number, [r, g, b]: readonly number[]): Buffer {
  const data = Buffer.alloc(side * side * 4);
  for (let p = 0; p < side * side; p++) data.set([r!, g!, b!, 255], 4 * p);
  return jpeg.encode({ width: side, height: side, data }, 100).data;
}

/**
 * Tiny-ImageNet's layout: wnids.txt, train/<wnid>/images/<wnid>_<i>.JPEG, val/images/val_<j>.JPEG
 * and val/val_annotations.txt (file, wnid, box; tab-separated).
 */
export function writeTinyImagenet(root: string, classes: number, trainPerClass: number, valPerClass: number): void {
  mkdirSync(join(root, 'val', 'images'), { recursive: true });
  writeFileSync(join(root, 'wnids.txt'), Array.from({ length: classes }, (_, k) => wnidOf(k)).join('\n') + '\n');
  const annotations: string[] = [];
  let v = 0;
  for (let k = 0; k < classes; k++) {
    const image = flatJpeg(64, classColour(k));
    const dir = join(root, 'train', wnidOf(k), 'images');
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < trainPerClass; i++) writeFileSync(join(dir, `${wnidOf(k)}_${i}.JPEG`), image);
    for (let j = 0; j < valPerClass; j++, v++) {
      writeFileSync(join(root, 'val', 'images', `val_${v}.JPEG`), image);
      annotations.push(`val_${v}.JPEG\t${wnidOf(k)}\t0\t0\t63\t63`);
    }
  }
  writeFileSync(join(root, 'val', 'val_annotations.txt'), annotations.join('\n') + '\n');
}
