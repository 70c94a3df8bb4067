// The engine's intent hook (engine/intent.ts) on this host: each decision kept as the operator
// records of config/operator.ts, in the desired-state store under the context's state directory.
// The CLI and daxramd get the same hook, so whichever of them finishes an interrupted transition
// confirms the operator's decision the same way.

import type {Sysfs} from '../sysfs';
import type {IntentHook} from '../engine';
import {StateStore} from '../config/state';
import {forgetCxlDeclaration, forgetCxlRegion, recordCxlRegion, recordCxlSplit, recordDevices, recordHmemSplit, recordRegionReserved} from '../config/operator';

export function operatorIntents(sysfs: Sysfs, stateDir: string): IntentHook {
  const store = () => new StateStore(stateDir);
  return {
    record(d, s) {
      const opts = {zone: d.zone, online: d.online};
      switch (s.kind) {
        case 'device':
          recordDevices(sysfs, store(), [{device: s.device, mode: s.mode, ...(s.mode === 'ram' ? opts : {})}], d.action);
          return undefined;
        case 'nvdimm-region':
          recordRegionReserved(store(), s.region, d.action);
          return undefined;
        case 'dax-split':
          // The split is declared for the next boot: a soft-reserved range comes back as one
          // device after a reboot, and a CXL region not at all.
          if (/^hmem\.\d+$/.test(s.owner)) recordHmemSplit(store(), s.owner, s.start, s.size, s.ram, opts);
          else if (/^dax_region\d+$/.test(s.owner)) return recordCxlSplit(sysfs, store(), s.owner, s.ram, opts);
          return undefined;
        case 'cxl-region':
          return recordCxlRegion(sysfs, store(), s.memdevs, s.size, d.online === false ? 'devdax' : 'ram', opts);
        case 'cxl-release':
          forgetCxlRegion(sysfs, store(), s.region, s.devices);
          return undefined;
      }
    },
    confirm(d, s, made) {
      // A device's record and a release are whole at record time; a layout names its devices now.
      if (s.kind === 'device' || s.kind === 'cxl-release') return;
      const devices = made.devices.filter((x) => x.dax !== undefined);
      recordDevices(sysfs, store(), devices.map((x) => (x.role === 'ram' ? {device: x.dax!, mode: 'ram', zone: d.zone, online: d.online} : {device: x.dax!, mode: 'devdax'})), d.action);
    },
    abandon(_d, s) {
      if (s.kind === 'cxl-region') forgetCxlDeclaration(sysfs, store(), s.memdevs);
    },
  };
}
