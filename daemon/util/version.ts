// The program's version, from package.json (inlined into the bundles at build time).
import pkg from '../../package.json';

export const VERSION: string = pkg.version;
