import { describe, expect, it } from 'vitest';
import { IrNodeInfoSchema, isPeerUrl } from '../../src/shared/controlPlaneApi';

describe('remote-access URLs peers call', () => {
  it.each(['https://node1.corp:8060', 'http://10.0.0.5:8060', 'https://[fe80::1]:8443'])(
    'accepts %s',
    (url) => {
      expect(isPeerUrl(url)).toBe(true);
    },
  );

  it.each([
    'https://node1.corp:8060/',
    'https://node1.corp:8060/peer/sync',
    'https://node1.corp',
    'https://a:b@node1.corp:8060',
    'https://node1.corp:8060#x',
    'ftp://node1.corp:21',
    'not a url',
  ])('refuses %s', (url) => {
    expect(isPeerUrl(url)).toBe(false);
  });

  it('a summary naming a bad peer URL keeps the node, with no URL to call', () => {
    const node = IrNodeInfoSchema.parse({
      nodeId: 'n',
      name: 'x',
      fqdn: 'x',
      version: '1',
      status: 'Online',
      registeredAt: '2026-01-01T00:00:00.000Z',
      lastSeenAt: null,
      runningJobs: 0,
      jobLimit: 1,
      remoteAccessUrl: 'http://169.254.169.254/latest/meta-data',
    });
    expect(node.remoteAccessUrl).toBeNull();
  });
});
