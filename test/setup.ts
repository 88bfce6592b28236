import { selectBackend } from '../src/tensor/backend.js';

// Tests run on the default backend of these machines unless LGL2O_BACKEND says otherwise.
await selectBackend(process.env['LGL2O_BACKEND'] ?? 'wasm');
