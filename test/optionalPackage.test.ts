import { describe, expect, it } from 'vitest';
import { importOptional, MissingPackageError } from '../src/optionalPackage.js';

describe('importOptional', () => {
  it('turns a missing package into a message naming it and the npm install to run', async () => {
    const name = 'lgl2o-test-no-such-package';
    const failure = importOptional(name, 'drawing figures', () => import(name));
    await expect(failure).rejects.toBeInstanceOf(MissingPackageError);
    await expect(failure).rejects.toThrow(`drawing figures needs the npm package ${name}, an optional peer dependency of lgl2o: run \`npm install ${name}\``);
  });

  it('returns the module when present and passes other failures on unchanged', async () => {
    const path = await importOptional('node:path', 'paths', () => import('node:path'));
    expect(path.join('a', 'b')).toBe('a/b');
    // A package that is there but fails to load, or lacks one of its own dependencies: not "install X".
    const other = 'lgl2o-test-inner-dependency';
    await expect(importOptional('vega', 'figures', () => import(other))).rejects.toThrow(/lgl2o-test-inner-dependency/);
    await expect(importOptional('vega', 'figures', () => import(other))).rejects.not.toBeInstanceOf(MissingPackageError);
    await expect(importOptional('vega', 'figures', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  });
});
