import ts from 'typescript';

const FS_MODULES = new Set(['fs', 'node:fs', 'fs/promises', 'node:fs/promises']);
/** What the core may take from node:fs: reading only. Anything else (write, mkdir, rm, rename...) is a write. */
const READ_APIS = new Set([
  'existsSync',
  'readFileSync',
  'readFile',
  'readSync',
  'read',
  'openSync',
  'open',
  'closeSync',
  'close',
  'statSync',
  'stat',
  'fstatSync',
  'lstatSync',
  'readdirSync',
  'readdir',
  'createReadStream',
  'accessSync',
  'access',
  'constants',
  'realpathSync',
]);
const OPENERS = new Set(['openSync', 'open']);

/**
 * The file writes in one source file of the core, as `file:line: why` lines: names imported
 * from node:fs other than the read functions, a namespace or default import of node:fs
 * (whose uses cannot be told apart), and an `open` whose flags are not the literal 'r'.
 */
export function fileWrites(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true);
  const problems: string[] = [];
  const at = (node: ts.Node) => `${fileName}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
  const openers = new Set<string>();
  for (const stmt of source.statements) {
    if (!ts.isImportDeclaration(stmt) || !ts.isStringLiteral(stmt.moduleSpecifier) || !FS_MODULES.has(stmt.moduleSpecifier.text)) continue;
    const clause = stmt.importClause;
    if (clause?.name) problems.push(`${at(stmt)}: default import of ${stmt.moduleSpecifier.text}; import the read functions by name`);
    const bindings = clause?.namedBindings;
    if (bindings && ts.isNamespaceImport(bindings))
      problems.push(`${at(stmt)}: namespace import of ${stmt.moduleSpecifier.text}; import the read functions by name`);
    if (bindings && ts.isNamedImports(bindings)) {
      for (const el of bindings.elements) {
        const name = (el.propertyName ?? el.name).text;
        if (!READ_APIS.has(name)) problems.push(`${at(el)}: ${name} from ${stmt.moduleSpecifier.text} writes files`);
        else if (OPENERS.has(name)) openers.add(el.name.text);
      }
    }
  }
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && openers.has(node.expression.text)) {
      const flags = node.arguments[1];
      if (!flags || !ts.isStringLiteral(flags) || flags.text !== 'r') problems.push(`${at(node)}: ${node.expression.text} without the literal flag 'r'`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return problems;
}
