// Every CLI verb, in the order `daxram --help` shows them. Each verb lives in its own module.
import type {CommandModule} from 'yargs';

export const commands: CommandModule<any, any>[] = [];
