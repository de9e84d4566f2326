import type { OpenIrApi } from '../../../shared/api';
import type { JobSettingsView } from '../../../shared/credentials';
import type { Outcome } from '../../state/outcome';
import { hostResource, nested, NOT_LOADED, type Loaded } from '../../state/resource';
import type { Slice } from '../../state/slice';

export interface JobSettingsSlice {
  /** The allow-list of local folders and the concurrent jobs limit, pushed by `jobSettingsChanged`. */
  jobSettings: Loaded<JobSettingsView>;
  refreshJobSettings(): Promise<void>;
  receiveJobSettings(view: JobSettingsView): void;
  /** null goes back to the default from cores and memory. */
  setConcurrentJobsLimit(limit: number | null): Promise<Outcome<JobSettingsView>>;
  allowFolder(path: string): Promise<Outcome<JobSettingsView>>;
  disallowFolder(path: string): Promise<Outcome<JobSettingsView>>;
}

export const createJobSettingsSlice =
  (
    api: Pick<OpenIrApi, 'getJobSettings' | 'setConcurrentJobsLimit' | 'allowFolder' | 'disallowFolder'>,
  ): Slice<JobSettingsSlice> =>
  (set) => {
    const settings = hostResource(() => api.getJobSettings({}), nested(set, 'jobSettings'));
    return {
      jobSettings: NOT_LOADED,
      refreshJobSettings: settings.refresh,
      receiveJobSettings: settings.receive,
      setConcurrentJobsLimit: (limit) => settings.apply(() => api.setConcurrentJobsLimit({ limit })),
      allowFolder: (path) => settings.apply(() => api.allowFolder({ path })),
      disallowFolder: (path) => settings.apply(() => api.disallowFolder({ path })),
    };
  };
