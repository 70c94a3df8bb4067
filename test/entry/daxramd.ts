// `daxramd` with test injections (see inject.ts): node dist/test/entry/daxramd.js ARGS…
import {main} from '../../daemon/daxramd/main';
import {injectionFromEnv} from './inject';

void main(process.argv.slice(2), injectionFromEnv());
