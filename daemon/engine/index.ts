// The engine API the daemon and the CLI call. Every mutating entry point takes the lock,
// settles any unfinished transition, journals its intent, and honours ctx.dryRun.

export type {Context, EngineNative, Logger} from './context';
export {DEFAULT_STATE_DIR, DEFAULT_LOCK_PATH, quietLog} from './context';
export {online, planOnline, type OnlineOptions, type OnlineResult} from './online';
export {offline, planOffline, type OfflineOptions, type OfflineResult} from './offline';
export {recover, type RecoverResult} from './recover';
export {describePlan, type Plan, type Step} from './plan';
export {Journal, type JournalEntry} from './journal';
export type {ZoneRequest} from './device';
export {reassign, provision, planLayout, type LayoutOptions, type LayoutResult} from './provision';
export {layoutRegion, describeLayout, type Layout} from './layout';
