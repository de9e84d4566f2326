import type { OpenIrApi } from '../../../shared/api';
import type { JobsView } from '../../../shared/jobs';
import { hostResource, nested, NOT_LOADED, type Loaded } from '../../state/resource';
import type { Slice } from '../../state/slice';

export interface JobsSlice {
  /** Running/limit and the recent jobs, newest first: loaded on connect, then pushed by `jobsChanged`. */
  jobs: Loaded<JobsView>;
  refreshJobs(): Promise<void>;
  receiveJobs(jobs: JobsView): void;
}

export const createJobsSlice =
  (api: Pick<OpenIrApi, 'getJobs'>): Slice<JobsSlice> =>
  (set) => {
    const jobs = hostResource(() => api.getJobs({}), nested(set, 'jobs'));
    return { jobs: NOT_LOADED, refreshJobs: jobs.refresh, receiveJobs: jobs.receive };
  };
