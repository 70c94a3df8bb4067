// `daxram` with test injections (see inject.ts): node dist/test/entry/daxram.js ARGS…
import {main} from '../../daemon/cli/main';
import {injectionFromEnv} from './inject';

void main(process.argv.slice(2), injectionFromEnv());
