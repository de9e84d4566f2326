import { describe, expect, it } from 'vitest';
import { ControlPlaneMessageSchema } from '../../src/shared/controlPlaneApi';

describe('jobAssigned carries a table sink mode', () => {
  const base = {
    type: 'jobAssigned',
    jobId: 'j-1',
    attempt: 1,
    source: { credential: 'files', path: 'in/a.csv' },
    sink: { type: 'credential', credential: 'pg', path: 'table:public.sales' },
    format: 'csv',
  };

  it('parses a message from an older control plane, without mode', () => {
    const parsed = ControlPlaneMessageSchema.parse(base);
    expect(parsed).not.toHaveProperty('mode');
  });

  it('parses append and truncate, and refuses anything else', () => {
    expect(ControlPlaneMessageSchema.parse({ ...base, mode: 'truncate' })).toMatchObject({
      mode: 'truncate',
    });
    expect(ControlPlaneMessageSchema.parse({ ...base, mode: 'append' })).toMatchObject({ mode: 'append' });
    expect(ControlPlaneMessageSchema.safeParse({ ...base, mode: 'replace' }).success).toBe(false);
  });
});
