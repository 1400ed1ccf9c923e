export { readFileInRoot, type ReadInRootOptions, type RootFile } from './read-in-root.js';
