import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { parseIdx, readIdx, type IdxArray } from '../../src/data/idx.js';
import { idxBytes, tempDir } from './fixtures.js';

const right = (r: E.Either<Error, IdxArray>): IdxArray => {
  if (E.isLeft(r)) throw r.left;
  return r.right;
};
const message = (r: E.Either<Error, unknown>): string => {
  if (E.isRight(r)) throw new Error('expected a decode error');
  return r.left.message;
};

describe('IDX parser', () => {
  it('reads a uint8 rank-3 array: dims from the header, data after 4 + 4·rank bytes', () => {
    const arr = right(parseIdx(idxBytes(0x08, [2, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 255]), 'a.idx'));
    expect(arr.type).toBe('uint8');
    expect(arr.dims).toEqual([2, 2, 3]);
    expect(arr.dataOffset).toBe(16);
    expect(Array.from(arr.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 255]);
  });

  it('decodes big-endian int16, int32, float32 and float64 elements (bytes worked by hand)', () => {
    expect(Array.from(right(parseIdx(idxBytes(0x0b, [2], [0xff, 0xfe, 0x01, 0x00]), 's')).data)).toEqual([-2, 256]);
    expect(Array.from(right(parseIdx(idxBytes(0x0c, [2], [0xff, 0xff, 0xff, 0xfe, 0x00, 0x01, 0x00, 0x00]), 'i')).data)).toEqual([-2, 65536]);
    // 1.5 = 0x3FC00000, −0.25 = 0xBE800000 in float32
    expect(Array.from(right(parseIdx(idxBytes(0x0d, [2], [0x3f, 0xc0, 0, 0, 0xbe, 0x80, 0, 0]), 'f')).data)).toEqual([1.5, -0.25]);
    // 2.5 = 0x4004000000000000 in float64
    expect(Array.from(right(parseIdx(idxBytes(0x0e, [1], [0x40, 0x04, 0, 0, 0, 0, 0, 0]), 'd')).data)).toEqual([2.5]);
    expect(Array.from(right(parseIdx(idxBytes(0x09, [2], [0xff, 0x7f]), 'b')).data)).toEqual([-1, 127]);
  });

  it('rejects a bad magic number, naming the file and the byte', () => {
    const bad = idxBytes(0x08, [3], [1, 2, 3]);
    bad[0] = 0x1f;
    expect(message(parseIdx(bad, 'images.idx'))).toMatch(/^images\.idx: byte 0: bad IDX magic number: expected 00 00 <type> <rank>, got 0x1F 0x00 0x08 0x01/);
    bad[0] = 0;
    bad[1] = 8;
    expect(message(parseIdx(bad, 'images.idx'))).toContain('images.idx: byte 1: bad IDX magic');
    expect(message(parseIdx(idxBytes(0x07, [3], [1, 2, 3]), 'x.idx'))).toContain('x.idx: byte 2: unknown IDX element type 0x07');
    expect(message(parseIdx(idxBytes(0x08, [], []), 'x.idx'))).toContain('x.idx: byte 3: rank 0');
    expect(message(parseIdx(Buffer.from([0, 0]), 'x.idx'))).toContain('x.idx: byte 2: file ends inside the 4-byte IDX magic');
  });

  it('rejects a file truncated inside the header or the data, at the byte where it stops', () => {
    const whole = idxBytes(0x08, [2, 3], [1, 2, 3, 4, 5, 6]);
    // header is bytes 0..11; cut at 10 → inside the second dimension
    expect(message(parseIdx(whole.subarray(0, 10), 'h.idx'))).toContain('h.idx: byte 10: file ends inside the header: 2 dimensions need bytes 4..11');
    // 12 header bytes + 5 of 6 data bytes = 17 bytes
    expect(message(parseIdx(whole.subarray(0, 17), 'd.idx'))).toContain(
      'd.idx: byte 17: file is truncated: dimensions [2, 3] need 6 data bytes (to byte 18), the data stops after 5 of 6 elements',
    );
    const int32 = idxBytes(0x0c, [2], [0, 0, 0, 1, 0, 0]);
    expect(message(parseIdx(int32, 'i.idx'))).toContain(
      'i.idx: byte 14: file is truncated: dimensions [2] need 8 data bytes (to byte 16), the data stops after 1 of 2 elements',
    );
  });

  it('rejects bytes after the data and header fields that differ from what the caller expects', () => {
    expect(message(parseIdx(idxBytes(0x08, [2], [1, 2, 3, 4]), 't.idx'))).toContain('t.idx: byte 10: 2 unexpected bytes after the last element of [2]');
    const images = idxBytes(0x08, [1, 27, 28], new Uint8Array(27 * 28));
    expect(message(parseIdx(images, 'm.idx', { dims: [undefined, 28, 28] }))).toContain('m.idx: byte 8: expected dimension 1 to be 28, got 27');
    expect(message(parseIdx(images, 'm.idx', { rank: 1 }))).toContain('m.idx: byte 3: expected rank 1, got 3');
    expect(message(parseIdx(idxBytes(0x0d, [1], [0, 0, 0, 0]), 'm.idx', { type: 'uint8' }))).toContain(
      'm.idx: byte 2: expected element type uint8, got 0x0D (float32)',
    );
  });

  it('reads gzipped files (by the .gz name or by the gzip magic) the same as plain ones', () => {
    const dir = tempDir('idx');
    const plain = idxBytes(0x08, [4], [9, 8, 7, 6]);
    writeFileSync(join(dir, 'a-idx1-ubyte'), plain);
    writeFileSync(join(dir, 'a-idx1-ubyte.gz'), gzipSync(plain));
    writeFileSync(join(dir, 'b-idx1-ubyte'), gzipSync(plain)); // gzipped without the suffix
    for (const f of ['a-idx1-ubyte', 'a-idx1-ubyte.gz', 'b-idx1-ubyte']) expect(Array.from(right(readIdx(join(dir, f))).data)).toEqual([9, 8, 7, 6]);
  });

  it('names the file for a truncated gzip stream, and marks offsets of bad IDX inside gzip as gunzipped', () => {
    const dir = tempDir('idx');
    const gz = gzipSync(idxBytes(0x08, [4], [9, 8, 7, 6]));
    const cut = join(dir, 'cut.gz');
    writeFileSync(cut, gz.subarray(0, gz.length - 12));
    expect(message(readIdx(cut))).toMatch(new RegExp(`^${cut}: gzip data is corrupt or truncated \\(${gz.length - 12} compressed bytes`));
    const inner = join(dir, 'short.gz');
    writeFileSync(inner, gzipSync(idxBytes(0x08, [4], [9, 8, 7])));
    expect(message(readIdx(inner))).toBe(
      `${inner} (offsets in the gunzipped data): byte 11: file is truncated: dimensions [4] need 4 data bytes (to byte 12), the data stops after 3 of 4 elements`,
    );
    expect(message(readIdx(join(dir, 'none')))).toContain(`${join(dir, 'none')}: cannot read the file`);
  });

  it('stops decompressing a gzip bomb at the size its IDX header announces: an error naming the byte, memory flat', () => {
    const dir = tempDir('idx');
    // Concatenated gzip members decompress as one stream: 64 of 16 MiB of zeros are 1 GiB from 1 MB.
    const zeros = gzipSync(Buffer.alloc(16 * 1024 * 1024), { level: 9 });
    const bomb = join(dir, 'bomb-idx1-ubyte.gz');
    writeFileSync(
      bomb,
      Buffer.concat([
        gzipSync(
          idxBytes(
            0x08,
            [16],
            Array.from({ length: 16 }, (_, i) => i),
          ),
        ),
        ...Array<Buffer>(64).fill(zeros),
      ]),
    );
    const before = process.memoryUsage().rss;
    expect(message(readIdx(bomb))).toBe(
      `${bomb} (offsets in the gunzipped data): byte 24: the gzip data goes on past the 24 bytes the IDX header announces; decompression stopped there`,
    );
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
    // A header announcing more than the limit is refused before any data is inflated.
    const huge = join(dir, 'huge.gz');
    writeFileSync(huge, gzipSync(idxBytes(0x08, [65536, 65536], [])));
    expect(message(readIdx(huge))).toBe(
      `${huge} (offsets in the gunzipped data): byte 4: the header announces ${12 + 65536 * 65536} bytes, more than the limit of ${2 ** 31}`,
    );
  });
});
