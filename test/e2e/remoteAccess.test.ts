import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, stopAll as stopControlPlanes } from '../helpers/controlPlane';
import { freePort, makeNode, stopAllNodes, type StatusJson } from '../helpers/node';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

/**
 * Remote access from intranet with a real certificate and real TLS clients:
 * one that trusts the node's exported certificate gets health, one that does
 * not is refused, and the HA rule locks the setting once a second node joins.
 */
interface RemoteAccessJson {
  settings: { mode: string; port?: number; thumbprint?: string };
  listening: boolean;
  url: string | null;
  changeAllowed: boolean;
  warning: string | null;
}

const FQDN = 'node1.openir.test';

function get(url: string, options: https.RequestOptions = {}): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: target.port,
        path: target.pathname,
        method: 'GET',
        servername: FQDN,
        timeout: 5000,
        ...options,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('remote access from intranet', () => {
  let cp: Awaited<ReturnType<typeof startControlPlane>>;
  let key = '';
  let port = 0;
  let thumbprint = '';
  let exported = '';
  const node = makeNode(
    // This node is reached by its FQDN (the tests resolve it to 127.0.0.1 themselves), not the loopback address.
    { OPENIR_REMOTE_ACCESS_BIND: '127.0.0.1', OPENIR_FQDN: FQDN, OPENIR_ADVERTISE_HOST: '' },
    'node1',
  );

  /** `openir remote-access enable --port <port> …` on node1. */
  const enableRemoteAccess = (...args: string[]) =>
    node.cli(['remote-access', 'enable', '--port', String(port), ...args, '--json']);

  beforeAll(async () => {
    cp = await startControlPlane({ heartbeatIntervalMs: 300, heartbeatTimeoutMs: 1500 });
    key = (await cp.createIr('ra-ir')).key1;
    await node.startHost();
    expect((await node.cli(['register', '--key-stdin', '--json'], key)).code).toBe(0);
    port = await freePort();
  });

  afterAll(async () => {
    await stopAllNodes();
    await stopControlPlanes();
    cleanupTempDirs();
  });

  it('starts disabled', async () => {
    const show = await node.cli(['remote-access', 'show', '--json']);
    expect(show.code).toBe(0);
    expect(show.json).toMatchObject({
      settings: { mode: 'disabled' },
      listening: false,
      url: null,
      changeAllowed: true,
    });
  });

  it('refuses a certificate that does not name this machine, with the problem and its fix', async () => {
    const other = await node.cli(['cert', 'create-self-signed', '--dns', 'elsewhere.openir.test', '--json']);
    expect(other.code).toBe(0);
    const tp = (other.json as { thumbprint: string }).thumbprint;
    const enable = await enableRemoteAccess('--cert', tp);
    expect(enable.code).toBe(1);
    const error = (enable.json as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('CERTIFICATE_NOT_USABLE');
    expect(error.message).toContain('FQDN_NOT_IN_SAN');
    expect(((await node.cli(['remote-access', 'show', '--json'])).json as RemoteAccessJson).listening).toBe(
      false,
    );
  });

  it('enables TLS with a self-signed certificate for this node', async () => {
    const created = await node.cli(['cert', 'create-self-signed', '--dns', FQDN, '--json']);
    expect(created.code).toBe(0);
    thumbprint = (created.json as { thumbprint: string }).thumbprint;
    const enable = await enableRemoteAccess('--cert', thumbprint);
    expect(enable.stderr).toBe('');
    expect(enable.code).toBe(0);
    expect(enable.json).toMatchObject({
      settings: { mode: 'tls', port, thumbprint },
      listening: true,
      url: `https://${FQDN}:${port}`,
    });
    const out = path.join(tempDir(), 'node1.pem');
    expect((await node.cli(['cert', 'export', thumbprint, '--out', out, '--pem', '--json'])).code).toBe(0);
    exported = fs.readFileSync(out, 'utf8');
    expect(exported).toContain('BEGIN CERTIFICATE');
    expect(exported).not.toContain('PRIVATE KEY');
  });

  it('a TLS client that trusts the exported certificate gets health; one that does not is refused', async () => {
    const ok = await get(`https://${FQDN}:${port}/openir/v1/health`, { ca: exported });
    expect(ok.status).toBe(200);
    // Only that it answers: no node name, IR or version for anyone on the intranet.
    expect(JSON.parse(ok.body)).toEqual({ status: 'ok' });
    await expect(get(`https://${FQDN}:${port}/openir/v1/health`)).rejects.toThrow(
      /self[- ]signed|unable to verify/i,
    );
  });

  it('encrypts a data store credential for an intranet client', async () => {
    const body = JSON.stringify({ value: 'Server=db;Password=hunter2-db' });
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port,
          path: '/openir/v1/credentials/encrypt',
          method: 'POST',
          servername: FQDN,
          ca: exported,
          headers: { 'content-type': 'application/json' },
        },
        (r) => {
          let text = '';
          r.on('data', (d: Buffer) => (text += d.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    expect(res.status).toBe(200);
    const encrypted = (JSON.parse(res.body) as { encrypted: string }).encrypted;
    expect(encrypted).toMatch(/^openir:v1:/);
    expect(encrypted).not.toContain('hunter2-db');
  });

  it('the control plane learns the node’s remote-access endpoint', async () => {
    const deadline = Date.now() + 5000;
    let url: string | null = null;
    while (Date.now() < deadline && url === null) {
      const nodes = (await cp.admin(['ir', 'nodes', 'ra-ir'])).json as {
        nodes: { name: string; remoteAccessUrl: string | null }[];
      };
      url = nodes.nodes.find((n) => n.name === 'node1')?.remoteAccessUrl ?? null;
    }
    expect(url).toBe(`https://${FQDN}:${port}`);
  });

  it('without TLS it works but is flagged as not recommended', async () => {
    const plain = await enableRemoteAccess('--no-tls');
    expect(plain.code).toBe(0);
    expect((plain.json as RemoteAccessJson).warning).toMatch(/not recommended/);
    const res = await fetch(`http://127.0.0.1:${port}/openir/v1/health`);
    expect(res.status).toBe(200);
  });

  it('disabling stops the listener', async () => {
    expect((await node.cli(['remote-access', 'disable', '--json'])).code).toBe(0);
    const refused = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
  });

  it('a second node joins only while the first has it, and then it is locked', async () => {
    const second = makeNode({ OPENIR_REMOTE_ACCESS_BIND: '127.0.0.1' }, 'node2');
    await second.startHost();
    const refused = await second.cli(['register', '--key-stdin', '--json'], key);
    expect((refused.json as { error: { code: string } }).error.code).toBe('REMOTE_ACCESS_REQUIRED');
    expect((await enableRemoteAccess('--no-tls')).code).toBe(0);
    // The joiner needs it too, and sets it before joining (afterwards it is locked).
    const refusedJoiner = await second.cli(['register', '--key-stdin', '--json'], key);
    expect((refusedJoiner.json as { error: { message: string } }).error.message).toMatch(
      /this node must join with remote access/,
    );
    await second.enableRemoteAccess();
    expect((await second.cli(['register', '--key-stdin', '--json'], key)).code).toBe(0);
    await node.waitForStatus((s: StatusJson) => s.irNodes.length === 2, 10_000);
    const attempt = await node.cli(['remote-access', 'disable', '--json']);
    expect(attempt.code).toBe(1);
    expect((attempt.json as { error: { code: string } }).error.code).toBe('REMOTE_ACCESS_LOCKED');
    expect(attempt.stderr).toMatch(/single node/);
  });
});
