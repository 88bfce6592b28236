/**
 * The floor plan as rules (docs/architecture.md): imports point down only.
 * `npm run lint:deps` checks them; test/layering.test.ts proves each rule fails on a planted violation.
 *
 * Top level, lowest first: src/ (the pure core) < streams/ (reactive) < jobs/ (runs on disk) < cli/, index.ts.
 * Inside src/, folders by floor, lowest first; a folder imports only from lower floors (and itself).
 */
const SRC_FLOORS = [
  ['codec', 'engine', 'figures', 'optionalPackage', 'paths'],
  ['tensor'],
  ['data'],
  ['optim', 'optimizee'],
  ['l2o'],
  ['guard'],
  ['tasks', 'verify', 'fit'],
  ['config'],
  ['runs', 'meta', 'experiments'],
];

/** `src/NAME/` for a folder, `src/NAME.ts` for a file on its own. */
const srcPath = (name) => `^src/${name}(/|\\.ts$)`;

const floorRules = SRC_FLOORS.flatMap((floor, level) =>
  floor.map((name) => {
    const sameOrAbove = SRC_FLOORS.slice(level)
      .flat()
      .filter((other) => other !== name);
    return {
      name: `src-floor-${name}`,
      comment: `src/${name} sits on floor ${level} of src/: it may import only from ${SRC_FLOORS.slice(0, level).flat().join(', ') || 'nothing in src/'}`,
      severity: 'error',
      from: { path: srcPath(name) },
      to: { path: `^src/(${sameOrAbove.join('|')})(/|\\.ts$)` },
    };
  }),
);

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...floorRules,
    {
      name: 'src-is-the-core',
      comment: 'src/ imports nothing of streams/, jobs/, cli/ or the public entry',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(streams/|jobs/|cli/|index\\.ts$)' },
    },
    {
      name: 'streams-below-jobs',
      comment: 'streams/ (reactive operators, sources, sinks) imports only src/ and itself',
      severity: 'error',
      from: { path: '^streams/' },
      to: { path: '^(jobs/|cli/|index\\.ts$)' },
    },
    {
      name: 'jobs-below-entries',
      comment: 'jobs/ imports src/, streams/ and itself, never an entry point',
      severity: 'error',
      from: { path: '^jobs/' },
      to: { path: '^(cli/|index\\.ts$)' },
    },
    {
      name: 'cli-not-via-index',
      comment: 'the CLI imports the layers directly, not the public entry',
      severity: 'error',
      from: { path: '^cli/' },
      to: { path: '^index\\.ts$' },
    },
    {
      name: 'no-rxjs-in-core',
      comment: 'src/ is pure: observables start in streams/',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '(^|/)node_modules/rxjs/|^rxjs$' },
    },
    {
      name: 'no-cycles',
      comment: 'no import cycle, type-only imports included',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
